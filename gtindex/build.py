"""Sources → a new index generation (documents, lines, passages, FTS5, vectors, query model).

Work already done is reused from the live generation: a file whose sha256 is unchanged
(and was parsed by the same parser version) is not parsed again, and a passage or
sentence whose text is unchanged is not embedded again (embeddings are cached under the
sha256 of the embedded text). One bad file is reported and skipped; it never costs the
rest of the build, and a build that fails leaves the live index as it was.
"""
from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import store
from .documents import Document, ParseError
from .errors import GtindexError
from .passages import Passage, Span, make_passages, make_spans

# (stage, done, total): stages are "parse" (files) and "embed" (texts).
ProgressFn = Callable[[str, int, int], None]


@dataclass
class BuildReport:
    documents: int = 0
    pages: int = 0
    passages: int = 0
    spans: int = 0
    embedded: int = 0  # texts embedded by this build
    reused: int = 0  # texts whose embedding came from the cache
    reparsed: int = 0  # files parsed by this build (the rest reused their parsed lines)
    seconds: float = 0.0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    generation: str = ""
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (name, indexed as)


def parser_version() -> str:
    from . import ingest

    return str(getattr(ingest, "PARSER_VERSION", "1"))


def build_index(
    sources: list[Path],
    index_dir: Path,
    progress: bool | ProgressFn = False,
    workers: int | None = None,
) -> BuildReport:
    """Parse, split, embed and write a new generation of the index at `index_dir`."""
    index_dir = Path(index_dir)
    with store.writer_lock(index_dir), _progress_reporter(progress) as report_progress:
        return _build(list(map(Path, sources)), index_dir, report_progress, workers)


def _build(sources: list[Path], index_dir: Path, progress: ProgressFn, workers: int | None) -> BuildReport:
    from .ingest import discover

    report = BuildReport()
    started = time.perf_counter()

    with _stage(report.stage_seconds, "discover"):
        paths = discover(sources)
        if not paths:
            shown = ", ".join(str(s) for s in sources)
            raise GtindexError(f"no PDF or HTML files found in {shown}; point `gtindex build` at a folder of guidances")
        hashes = {path: store.file_sha256(path) for path in paths}

    previous = _open_previous(index_dir)
    with closing(previous) if previous else nullcontext():
        with _stage(report.stage_seconds, "parse"):
            documents = _load_documents(paths, hashes, previous, progress, workers, report)
        if not documents:
            raise GtindexError(
                "every source file failed to parse; the index was left unchanged: "
                + "; ".join(f"{name}: {reason}" for name, reason in report.skipped)
            )
        with _stage(report.stage_seconds, "split"):
            passages = [p for doc in documents for p in make_passages(doc)]
            spans = [s for doc in documents for s in make_spans(doc)]
        with _stage(report.stage_seconds, "embed"):
            vectors = _embeddings(passages, spans, previous, progress, report)
        staged = store.new_generation_dir(index_dir)
        try:
            with _stage(report.stage_seconds, "write"):
                _write_generation(staged, documents, hashes_by_doc(documents, paths, hashes), passages, spans, vectors)
            with _stage(report.stage_seconds, "model"):
                _install_query_model(staged, index_dir)
            with _stage(report.stage_seconds, "publish"):
                manifest = _manifest(report, documents, passages, spans)
                store.write_manifest(staged, manifest)
                final = store.publish_generation(index_dir, staged)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise

    report.documents = len(documents)
    report.pages = sum(doc.pages for doc in documents)
    report.passages = len(passages)
    report.spans = len(spans)
    report.generation = final.name
    report.seconds = time.perf_counter() - started
    return report


# --------------------------------------------------------------------------- parse or reuse


def _open_previous(index_dir: Path) -> sqlite3.Connection | None:
    """The live generation's database, if there is a readable one to reuse work from."""
    try:
        path = store.current_generation(index_dir)
        if path is None or not (path / store.SQLITE_FILE).is_file():
            return None
        return store.connect_readonly(path / store.SQLITE_FILE)
    except GtindexError:
        return None  # a damaged index is simply rebuilt from scratch


def _load_documents(
    paths: list[Path],
    hashes: dict[Path, str],
    previous: sqlite3.Connection | None,
    progress: ProgressFn,
    workers: int | None,
    report: BuildReport,
) -> list[Document]:
    """One Document per distinct content; names of identical files are grouped.

    Returns documents sorted by name so that a rebuild over the same files writes the
    same rows in the same order.
    """
    from .ingest import parse_many

    names_by_hash: dict[str, list[str]] = {}
    for path in sorted(paths, key=lambda p: p.name):
        names_by_hash.setdefault(hashes[path], []).append(path.name)
    first_path = {}
    for path in paths:
        first_path.setdefault(hashes[path], path)

    reusable = _reusable_documents(previous, set(names_by_hash))
    by_hash: dict[str, Document] = {}
    for sha, doc_id in reusable.items():
        by_hash[sha] = store.load_document(previous, doc_id)
    to_parse = [path for sha, path in first_path.items() if sha not in by_hash]
    total = len(first_path)
    done = len(by_hash)
    progress("parse", done, total)
    for path, result in parse_many(to_parse, workers=workers):
        done += 1
        progress("parse", done, total)
        if isinstance(result, ParseError):
            report.skipped.append((Path(path).name, result.reason))
            continue
        by_hash[hashes[Path(path)]] = result
    report.reparsed = len(to_parse)

    documents = []
    for sha, document in by_hash.items():
        names = names_by_hash[sha]
        document.doc = names[0]
        document.sha256 = sha
        report.duplicates += [(name, names[0]) for name in names[1:]]
        documents.append(document)
    report.skipped.sort()
    return sorted(documents, key=lambda d: d.doc)


def _reusable_documents(previous: sqlite3.Connection | None, wanted: set[str]) -> dict[str, int]:
    if previous is None:
        return {}
    version = parser_version()
    rows = previous.execute("SELECT sha256, doc_id, parser_version FROM documents").fetchall()
    return {sha: doc_id for sha, doc_id, parsed_by in rows if sha in wanted and parsed_by == version}


def hashes_by_doc(documents: list[Document], paths: list[Path], hashes: dict[Path, str]) -> dict[str, list[str]]:
    """Document name → every file name with the same content."""
    names: dict[str, list[str]] = {doc.sha256: [] for doc in documents}
    for path in sorted(paths, key=lambda p: p.name):
        if hashes[path] in names:
            names[hashes[path]].append(path.name)
    return {doc.doc: names[doc.sha256] for doc in documents}


# --------------------------------------------------------------------------- embed


def _embeddings(
    passages: list[Passage],
    spans: list[Span],
    previous: sqlite3.Connection | None,
    progress: ProgressFn,
    report: BuildReport,
) -> dict[str, np.ndarray]:
    """content_hash → vector for every passage and span, embedding only what is new."""
    texts = {p.content_hash: p.embed_text for p in passages}
    texts.update({s.content_hash: s.text for s in spans})
    vectors = store.cached_vectors(previous, texts) if previous is not None else {}
    missing = [key for key in texts if key not in vectors]
    report.reused = len(texts) - len(missing)
    report.embedded = len(missing)
    if missing:
        from .embedding import load_build_encoder

        encoder = load_build_encoder()
        done = 0
        progress("embed", 0, len(missing))

        def advance(n: int) -> None:
            nonlocal done
            done += n
            progress("embed", done, len(missing))

        new = encoder.encode([texts[key] for key in missing], progress=advance)
        vectors.update(zip(missing, new))
    return vectors


# --------------------------------------------------------------------------- write


def _write_generation(
    staged: Path,
    documents: list[Document],
    names: dict[str, list[str]],
    passages: list[Passage],
    spans: list[Span],
    vectors: dict[str, np.ndarray],
) -> None:
    from .dense import DenseIndex
    from .embedding import DIM, MODEL_NAME

    added_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    version = parser_version()
    with closing(store.create_database(staged / store.SQLITE_FILE)) as conn:
        doc_ids = {
            doc.doc: store.insert_document(conn, doc, names[doc.doc], version, added_at) for doc in documents
        }
        conn.executemany(
            "INSERT INTO passages(passage_id, doc_id, seq_start, seq_end, section, text, footnote,"
            " content_hash, vector_row) VALUES (?,?,?,?,?,?,?,?,?)",
            [
                (row + 1, doc_ids[p.doc], p.seq_start, p.seq_end, p.section, p.text, int(p.footnote),
                 p.content_hash, row)
                for row, p in enumerate(passages)
            ],
        )
        conn.execute("INSERT INTO passages_fts(rowid, section, text) SELECT passage_id, section, text FROM passages")
        conn.executemany(
            "INSERT INTO spans(doc_id, seq_start, seq_end, text, content_hash) VALUES (?,?,?,?,?)",
            [(doc_ids[s.doc], s.seq_start, s.seq_end, s.text, s.content_hash) for s in spans],
        )
        store.insert_embeddings(conn, vectors)
        conn.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [("model", MODEL_NAME), ("dim", str(DIM)), ("parser_version", version)],
        )
        conn.execute("INSERT INTO passages_fts(passages_fts) VALUES ('optimize')")
        conn.commit()
    matrix = np.stack([vectors[p.content_hash] for p in passages]).astype(np.float32)
    DenseIndex.build(matrix).save(staged / store.VECTORS_FILE)


def _install_query_model(staged: Path, index_dir: Path) -> None:
    """Copy the previous generation's ONNX model when it is intact, else export it."""
    from .embedding import MODEL_NAME, ONNX_FILE, export_onnx

    target = staged / store.MODEL_DIR
    previous = store.current_generation(index_dir) if (index_dir / store.CURRENT_FILE).exists() else None
    if previous is not None and _model_reusable(previous, MODEL_NAME, ONNX_FILE):
        shutil.copytree(previous / store.MODEL_DIR, target)
        return
    export_onnx(target)


def _model_reusable(generation: Path, model_name: str, onnx_file: str) -> bool:
    import json

    try:
        manifest = json.loads((generation / store.MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    key = f"{store.MODEL_DIR}/{onnx_file}"
    onnx = generation / key
    return (
        manifest.get("model") == model_name
        and onnx.is_file()
        and manifest.get("sha256", {}).get(key) == store.file_sha256(onnx)
    )


def _manifest(report: BuildReport, documents: list[Document], passages: list[Passage], spans: list[Span]) -> dict:
    from .embedding import DIM, MODEL_NAME, ONNX_FILE

    return {
        "model": MODEL_NAME,
        "dim": DIM,
        "onnx_file": f"{store.MODEL_DIR}/{ONNX_FILE}",
        "parser_version": parser_version(),
        "counts": {
            "documents": len(documents),
            "pages": sum(doc.pages for doc in documents),
            "lines": sum(len(doc.lines) for doc in documents),
            "passages": len(passages),
            "spans": len(spans),
        },
        "skipped": [{"file": name, "reason": reason} for name, reason in report.skipped],
    }


# --------------------------------------------------------------------------- plumbing


@contextmanager
def _stage(seconds: dict[str, float], name: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start


@contextmanager
def _progress_reporter(progress: bool | ProgressFn):
    """Yields a ProgressFn: the caller's, a rich bar, or a no-op."""
    if callable(progress):
        yield progress
    elif progress:
        yield from _rich_bar()
    else:
        yield lambda stage, done, total: None


def _rich_bar():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    labels = {"parse": "files parsed", "embed": "texts embedded"}
    tasks: dict[str, int] = {}
    with Progress(
        TextColumn("{task.description:>16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        transient=False,
    ) as bar:

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(labels.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update
