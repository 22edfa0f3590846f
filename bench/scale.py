"""Synthetic 10x / 100x corpora, for measuring build time, index size and query latency at scale.

Replicas are made from the real *parsed* documents of a built index, so no PDF is
rendered or parsed again: each replica keeps its original's lines, pages, printed line
numbers and sections (the citation structure), gets its own file name and content hash,
and has its text perturbed — some words replaced by other words of the same document, and
the body lines of each page and section shuffled — so that no passage text, and therefore
no lexical posting list, is an exact copy.

Embedding millions of texts with MiniLM on 2 CPU cores would take hours (the bench
prints the estimate), so replicas get *perturbed copies of the real embeddings*: each
replica passage or sentence takes the vector of the original passage or sentence that
starts at the same place, plus Gaussian noise, renormalised (cosine ~0.93 to the
original; like a paraphrase). The vectors therefore keep the real corpus's distribution,
which is what index build time, size, latency and HNSW recall depend on. Replica
passages are cut by the real `make_passages` with token counts estimated from line
length (`TokenEstimate`), since running the tokenizer over every replica line costs
minutes at 100x; sentence spans (10x) are cut exactly.

Two ways to write a scaled index:

* `write_full_index` (10x): the build's own write stages (SQLite documents, lines,
  passages, FTS5, sentence spans, embedding cache, FAISS, query model, manifest, publish),
  i.e. a real index that `Index.open(...).search` answers from; only parse and embed are
  replaced.
* `write_retrieval_index` (100x): only the two retrieval structures a query scans, the
  passages' FTS5 table with its bm25 postings and the FAISS index (HNSW above dense.FLAT_LIMIT), built
  one replica at a time so memory stays bounded. Lines, sentence spans and the embedding
  cache are not written; their size is extrapolated from the 10x index by the bench.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import statistics
import time
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from gtindex import lexical
from gtindex.documents import KIND_BODY, KIND_HEADING, Document, Line
from gtindex.index import generations, lock, schema
from gtindex.index.manifest import read_manifest
from gtindex.passages import Passage, Span, make_passages, make_spans, read_in
from gtindex.progress import timed_stage

SUBSTITUTE_RATE = 0.15  # share of words (4+ letters) replaced in a replica
NOISE = 0.4  # norm of the noise added to a unit vector: cosine to the original ~ 1/sqrt(1 + NOISE**2)
RECALL_K = 10

_WORD = re.compile(r"[A-Za-z]{4,}")


# --------------------------------------------------------------------------- source corpus


@dataclass
class SourceCorpus:
    """The parsed documents of a built index and the stored embedding of every text."""

    documents: list[Document]
    vectors: dict[str, np.ndarray]  # content hash -> unit vector (passages and spans)


def load_source(index_dir: Path) -> SourceCorpus:
    """Documents and embeddings of the live generation of a built index."""
    generation = generations.current_generation(Path(index_dir))
    if generation is None:
        raise ValueError(f"no index at {index_dir}")
    with closing(schema.connect_readonly(generation / generations.SQLITE_FILE)) as conn:
        doc_ids = [row[0] for row in conn.execute("SELECT doc_id FROM documents ORDER BY doc")]
        documents = [schema.load_document(conn, doc_id) for doc_id in doc_ids]
        vectors = {key: np.frombuffer(blob, dtype=np.float32) for key, blob in conn.execute(
            "SELECT content_hash, vector FROM embeddings")}
    return SourceCorpus(documents, vectors)


# --------------------------------------------------------------------------- replicas


def replica_name(name: str, replica: int) -> str:
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}~r{replica:03d}.{suffix}" if dot else f"{name}~r{replica:03d}"


def perturb_document(document: Document, replica: int, seed: int = 0) -> Document:
    """A same-shaped copy of `document` with other text and its own name and hash."""
    rng = np.random.default_rng([seed, replica, _stable_int(document.doc)])
    vocabulary = sorted({word for line in document.lines for word in _WORD.findall(line.text)})
    # Headings keep their text: the section paths the passages carry are built from them.
    changeable = [seq for seq, line in enumerate(document.lines) if line.kind != KIND_HEADING]
    texts = [line.text for line in document.lines]
    for seq, text in zip(changeable, _substitute([texts[seq] for seq in changeable], vocabulary, rng)):
        texts[seq] = text
    for group in _shuffle_groups(document):
        order = rng.permutation(len(group))
        moved = [texts[group[i]] for i in order]
        for seq, text in zip(group, moved):
            texts[seq] = text
    lines = [Line(line.page, line.page_label, line.line, line.line_on_page, line.kind, line.section, text,
                  line.footnote) for line, text in zip(document.lines, texts)]
    digest = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()
    return replace(document, doc=replica_name(document.doc, replica), sha256=digest, lines=lines,
                   links=list(document.links))


_SPLIT_WORDS = re.compile(r"([A-Za-z]{4,})")


def _substitute(texts: list[str], vocabulary: list[str], rng: np.random.Generator) -> list[str]:
    """Replace SUBSTITUTE_RATE of the words (4+ letters) by random words of the vocabulary."""
    if not vocabulary:
        return texts
    pieces = [_SPLIT_WORDS.split(text) for text in texts]  # words at the odd positions
    words = sum(len(parts) // 2 for parts in pieces)
    replaced = rng.random(words) < SUBSTITUTE_RATE
    picks = rng.integers(len(vocabulary), size=words)
    position = 0
    for parts in pieces:
        for i in range(1, len(parts), 2):
            if replaced[position]:
                parts[i] = vocabulary[picks[position]]
            position += 1
    return ["".join(parts) for parts in pieces]


def _shuffle_groups(document: Document) -> Iterator[list[int]]:
    """Runs of body lines on one page inside one section (whose texts may change places)."""
    group: list[int] = []
    key = None
    for seq, line in enumerate(document.lines):
        line_key = (line.page, line.section) if line.kind == KIND_BODY else None
        if line_key is None or line_key != key:
            if len(group) > 1:
                yield group
            group = []
        key = line_key
        if line_key is not None:
            group.append(seq)
    if len(group) > 1:
        yield group


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


class TokenEstimate:
    """Word pieces of a replica's text estimated from its length, for cutting passages.

    A replica line is its original's words rearranged, so its length predicts its size
    well; the tokenizer itself costs ~65 us a line, minutes at 100x. The ratio is
    calibrated on the original lines.
    """

    def __init__(self, documents: list[Document]):
        from gtindex.embedding import count_tokens

        texts = [line.text for document in documents for line in document.lines] or [""]
        pieces = sum(count_tokens(texts)) - 2 * len(texts)  # [CLS] and [SEP] are added back per text
        self.per_char = pieces / max(1, sum(len(text) for text in texts))

    def __call__(self, texts) -> list[int]:
        return [2 + round(len(text) * self.per_char) for text in texts]


# --------------------------------------------------------------------------- vectors


class VectorSource:
    """Vectors for a replica's passages and spans: the original's, moved by noise."""

    def __init__(self, source: SourceCorpus, seed: int = 0):
        self._vectors = source.vectors
        self._by_doc: dict[str, tuple[list[int], list[str], list[int], list[str]]] = {}
        for document in source.documents:
            passages = make_passages(document)
            spans = sorted(read_in(passages, make_spans(document))[0], key=lambda s: s.seq_start)
            passages = sorted(passages, key=lambda p: p.seq_start)
            self._by_doc[document.doc] = (
                [p.seq_start for p in passages], [p.content_hash for p in passages],
                [s.seq_start for s in spans], [s.context_hash for s in spans],  # the keys of their vectors
            )
        self._fallback = np.stack(list(source.vectors.values())) if source.vectors else np.zeros((1, 384), np.float32)
        self._seed = seed

    def for_texts(self, original_doc: str, items: list[Passage] | list[Span], kind: str, replica: int) -> np.ndarray:
        """(len(items), dim) unit vectors; kind is "passage" or "span"."""
        starts, hashes = self._index(original_doc, kind)
        rng = np.random.default_rng([self._seed, replica, _stable_int(original_doc), kind == "span"])
        base = np.empty((len(items), self._fallback.shape[1]), dtype=np.float32)
        for row, item in enumerate(items):
            position = max(0, bisect_right(starts, item.seq_start) - 1)
            vector = self._vectors.get(hashes[position]) if hashes else None
            base[row] = vector if vector is not None else self._fallback[int(rng.integers(len(self._fallback)))]
        return add_noise(base, rng)

    def _index(self, original_doc: str, kind: str) -> tuple[list[int], list[str]]:
        p_starts, p_hashes, s_starts, s_hashes = self._by_doc.get(original_doc, ([], [], [], []))
        return (p_starts, p_hashes) if kind == "passage" else (s_starts, s_hashes)


def add_noise(vectors: np.ndarray, rng: np.random.Generator, noise: float = NOISE) -> np.ndarray:
    """Unit vectors moved by an isotropic Gaussian step of norm ~noise, renormalised."""
    dim = vectors.shape[1]
    moved = vectors + rng.standard_normal(vectors.shape).astype(np.float32) * (noise / np.sqrt(dim))
    moved /= np.linalg.norm(moved, axis=1, keepdims=True)
    return moved.astype(np.float32)


def replicas(source: SourceCorpus, factor: int, seed: int = 0) -> Iterator[tuple[int, Document, Document]]:
    """(replica number, original, document) for factor x the corpus: the originals
    themselves (replica 0), then factor - 1 perturbed replicas of each."""
    for document in source.documents:
        yield 0, document, document
    for replica in range(1, factor):
        for document in source.documents:
            yield replica, document, perturb_document(document, replica, seed)


# --------------------------------------------------------------------------- writing


@dataclass
class ScaledIndex:
    path: Path
    method: str  # "full" or "retrieval"
    documents: int
    passages: int
    spans: int
    seconds: float
    stage_seconds: dict[str, float] = field(default_factory=dict)
    dense_kind: str = ""

    @property
    def megabytes(self) -> float:
        return directory_mb(self.path)


def directory_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 1e6


def write_full_index(source: SourceCorpus, factor: int, index_dir: Path, seed: int = 0,
                     source_index: Path | None = None) -> ScaledIndex:
    """A complete index over factor x the corpus, written by the build's own write stage.

    The query model is copied from `source_index` (the live generation it was loaded from).
    """
    from gtindex.dense import DenseIndex
    from gtindex.embedding import DIM, MODEL_NAME
    from gtindex.index.staging import StagedGeneration

    stages: dict[str, float] = {}
    started = time.perf_counter()
    vectors_of = VectorSource(source, seed)
    estimate = TokenEstimate(source.documents)
    documents, passages, spans = [], [], []
    vectors = dict(source.vectors)
    with timed_stage(stages, "replicate+split"):
        for replica, original, document in replicas(source, factor, seed):
            doc_passages = make_passages(document, estimate if replica else None)
            doc_spans, _ = read_in(doc_passages, make_spans(document))
            if replica:
                for items, kind in ((doc_passages, "passage"), (doc_spans, "span")):
                    moved = vectors_of.for_texts(original.doc, items, kind, replica)
                    vectors.update(zip((item.content_hash for item in items), moved))
                    if kind == "span":
                        # Its vector's key (where it is read) gets the same moved vector: scale times, not ranks.
                        vectors.update(zip((item.context_hash for item in items), moved))
            documents.append(document)
            passages += doc_passages
            spans += doc_spans
    index_dir = Path(index_dir)
    if index_dir.exists():
        shutil.rmtree(index_dir)
    index_dir.mkdir(parents=True)
    with lock.writer_lock(index_dir), \
            StagedGeneration.open(index_dir, model=MODEL_NAME, dim=DIM, parser_version=_parser_version()) as staged:
        names = {doc.doc: {doc.doc: ""} for doc in documents}
        with timed_stage(stages, "write"):
            staged.write_documents(documents, names, added_at={})
            staged.write_passages(passages, spans)
            staged.write_vectors(vectors)
            staged.commit()
        with timed_stage(stages, "publish"):
            live = generations.current_generation(Path(source_index)) if source_index else None
            if live is not None:
                staged.link_model(live / generations.MODEL_DIR)
            staged.publish(_manifest(live, documents, passages, spans))
    dense = DenseIndex.load(generations.current_generation(index_dir) / generations.VECTORS_FILE)
    return ScaledIndex(index_dir, "full", len(documents), len(passages), len(spans),
                       time.perf_counter() - started, stages, dense.kind)


def _parser_version() -> str:
    from gtindex.build import parser_version

    return parser_version()


def _manifest(source_generation: Path | None, documents: list[Document], passages: list, spans: list) -> dict:
    """The source index's manifest with this index's counts (files and checksums are redone)."""
    from gtindex.embedding import DIM, MODEL_NAME

    manifest = {"model": MODEL_NAME, "dim": DIM}
    if source_generation is not None:
        manifest = read_manifest(source_generation)
    for key in ("files", "sha256", "created_at", "skipped"):
        manifest.pop(key, None)
    manifest["counts"] = {
        "documents": len(documents), "pages": sum(doc.pages for doc in documents),
        "lines": sum(len(doc.lines) for doc in documents), "passages": len(passages), "spans": len(spans),
    }
    return manifest


def write_retrieval_index(source: SourceCorpus, factor: int, index_dir: Path, seed: int = 0) -> ScaledIndex:
    """FTS5 passages table, its bm25 postings and the FAISS index over factor x the corpus
    (no lines, spans, cache).

    Replicas are made and split one at a time; only the vector matrix is held in memory.
    """
    from gtindex.dense import DenseIndex

    index_dir = Path(index_dir)
    if index_dir.exists():
        shutil.rmtree(index_dir)
    index_dir.mkdir(parents=True)
    stages: dict[str, float] = {}
    started = time.perf_counter()
    vectors_of = VectorSource(source, seed)
    estimate = TokenEstimate(source.documents)
    blocks: list[np.ndarray] = []
    passage_count = 0
    with closing(schema.create_database(index_dir / generations.SQLITE_FILE)) as conn:
        for number, (replica, original, document) in enumerate(replicas(source, factor, seed)):
            t0 = time.perf_counter()
            doc_passages = make_passages(document, estimate if replica else None)
            if replica == 0:
                block = np.stack([source.vectors[p.content_hash] for p in doc_passages]) if doc_passages else None
            else:
                block = vectors_of.for_texts(original.doc, doc_passages, "passage", replica)
            stages["replicate+split"] = stages.get("replicate+split", 0.0) + time.perf_counter() - t0
            t0 = time.perf_counter()
            schema.insert_passages(conn, doc_passages, [number + 1] * len(doc_passages), first_row=passage_count)
            stages["write"] = stages.get("write", 0.0) + time.perf_counter() - t0
            passage_count += len(doc_passages)
            if block is not None:
                blocks.append(block)
        t0 = time.perf_counter()
        schema.index_passages(conn)
        schema.finish_lexical(conn, [lexical.PASSAGES])
        conn.commit()
        stages["lexical"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    matrix = np.concatenate(blocks).astype(np.float32)
    del blocks
    dense = DenseIndex.build(matrix)
    dense.save(index_dir / generations.VECTORS_FILE)
    stages["dense"] = time.perf_counter() - t0
    return ScaledIndex(index_dir, "retrieval", len(source.documents) * factor, passage_count, 0,
                       time.perf_counter() - started, stages, dense.kind)


# --------------------------------------------------------------------------- measuring


@dataclass
class Latency:
    median_ms: float
    p95_ms: float
    runs: int

    @classmethod
    def of(cls, seconds: list[float]) -> "Latency":
        ms = sorted(1000 * s for s in seconds)
        return cls(statistics.median(ms), percentile(ms, 95), len(ms))


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, int(np.ceil(pct / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


RETRIEVED = 100  # rows taken from each retrieval structure per query


@dataclass
class RetrievalLatency:
    """Medians per query, in ms: the query embedding, FAISS top-100, bm25 top-100 (stored postings)."""

    total_ms: float
    encode_ms: float
    dense_ms: float
    lexical_ms: float
    runs: int


def retrieval_latency(index_dir: Path, queries: list[str], encoder, repeats: int = 1,
                      ef_search: int | None = None) -> RetrievalLatency:
    """In-process time per query of the two retrieval structures of an index (no narrowing
    to a sentence, no citation lookup): what grows with the corpus."""
    from gtindex.dense import DenseIndex

    dense = DenseIndex.load(Path(index_dir) / generations.VECTORS_FILE)
    parts: dict[str, list[float]] = {"total": [], "encode": [], "dense": [], "lexical": []}
    with closing(schema.connect_readonly(Path(index_dir) / generations.SQLITE_FILE)) as conn:
        for _ in range(repeats):
            for query in queries:
                t0 = time.perf_counter()
                vector = encoder.encode([query])[0]
                t1 = time.perf_counter()
                dense.search(vector, RETRIEVED, ef_search=ef_search)
                t2 = time.perf_counter()
                lexical.search(conn, lexical.build_query(query), RETRIEVED)
                t3 = time.perf_counter()
                for name, seconds in (("total", t3 - t0), ("encode", t1 - t0), ("dense", t2 - t1), ("lexical", t3 - t2)):
                    parts[name].append(1000 * seconds)
    medians = {name: statistics.median(values) for name, values in parts.items()}
    return RetrievalLatency(medians["total"], medians["encode"], medians["dense"], medians["lexical"],
                            len(parts["total"]))


def recall_vs_flat(dense, matrix: np.ndarray | None, query_vectors: np.ndarray, k: int = RECALL_K,
                   ef_search: int | None = None, exact: np.ndarray | None = None) -> float:
    """Mean share of the exact top-k (inner product over every row of `matrix`, the indexed
    vectors; None: the vectors stored in `dense`) that `dense` returns. A flat index is exact
    (1.0). `exact`: the exact top-k rows when already computed (exact_top_k)."""
    if dense.kind == "flat":
        return 1.0
    if exact is None:
        exact = exact_top_k(dense.vectors() if matrix is None else matrix, query_vectors, k)
    shares = []
    for vector, truth in zip(query_vectors, exact):
        found = {int(r) for r in dense.search(vector, k, ef_search=ef_search).rows}
        shares.append(len(set(truth.tolist()) & found) / k)
    return float(np.mean(shares))


def exact_top_k(matrix: np.ndarray, queries: np.ndarray, k: int, chunk: int = 200_000) -> np.ndarray:
    """(len(queries), k) row ids of the highest inner products, by brute force in chunks."""
    queries = np.asarray(queries, dtype=np.float32)
    best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_rows = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, len(matrix), chunk):
        scores = queries @ np.asarray(matrix[start : start + chunk], dtype=np.float32).T
        rows = np.broadcast_to(np.arange(start, start + scores.shape[1]), scores.shape)
        best_scores = np.concatenate([best_scores, scores], axis=1)
        best_rows = np.concatenate([best_rows, rows], axis=1)
        keep = np.argsort(-best_scores, axis=1, kind="stable")[:, :k]
        best_scores = np.take_along_axis(best_scores, keep, axis=1)
        best_rows = np.take_along_axis(best_rows, keep, axis=1)
    return best_rows
