"""Retrieval: a query → candidate sentences with what each retriever says about them.

Four rankings: MiniLM cosine (FAISS) of every sentence and every passage, and bm25 (FTS5's
scores from the stored postings, lexical.py) of every sentence and every passage; plus the
sentences stating a reference the query types. Candidates are the best sentences of each
sentence ranking, every sentence of the best passages of each passage ranking and the
sentences stating a reference; each then gets its own and its passages' scores.
"""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np

from .. import lexical
from ..documents import KIND_FOOTNOTE
from ..errors import GtindexError, IndexError_
from ..index import generations, schema
from ..index.layout import Layout
from ..sql import batches
from . import references
from .candidates import Signals, Span
from .config import (CITING_LIMIT, COSINE_SLACK, PASSAGE_CANDIDATES, PASSAGE_POOL, POST_FILTER_EXTRA, POST_FILTER_SHARE,
                     ROW_CACHE_SIZE, SPAN_CANDIDATES, TRUST_FLOOR, TRUST_FULL, TRUST_PASSAGES)


class Retriever:
    """The retrieval resources of one generation (vectors, layout, query model), each
    loaded on first use: `gtindex show` never pays for importing faiss."""

    def __init__(self, generation: generations.Generation, conn: sqlite3.Connection, fast_start: bool = False):
        self.generation = generation
        self.conn = conn
        self._fast_start = fast_start
        self._dense = None
        self._span_vectors = None
        self._layout: Layout | None = None
        self._encoder = None
        self.row_cache: dict[tuple, np.ndarray] = {}  # (table, doc ids) -> allowed ids (see allowed_ids)

    @property
    def dense(self):
        """Passage vectors."""
        if self._dense is None:
            self._dense = _load_vectors(self.generation.vectors_path)
        return self._dense

    @property
    def span_vectors(self):
        """Sentence vectors."""
        if self._span_vectors is None:
            self._span_vectors = _load_vectors(self.generation.spans_path)
        return self._span_vectors

    @property
    def layout(self) -> Layout:
        """Sentences' places and passages."""
        if self._layout is None:
            self._layout = Layout.read(self.conn)
        return self._layout

    def encoder(self):
        if self._encoder is None:
            from ..embedding import load_query_encoder

            self._encoder = load_query_encoder(self.generation.model_dir, fast_start=self._fast_start)
        return self._encoder

    def query_vector(self, query: str) -> np.ndarray:
        vector = self.encoder().encode([query])[0]
        if not np.isfinite(vector).all():
            raise IndexError_(
                f"the query model in {self.generation.model_dir} is damaged (it gave a non-finite vector); "
                "check the index with `gtindex doctor`, rebuild with `gtindex build --rebuild`"
            )
        return vector

    # ------------------------------------------------------------------ signals

    def signals(self, query_text: str, doc_ids: list[int] | None, weights: dict[str, float],
                title_tokens: dict[int, list[str]]) -> Signals:
        """Every candidate sentence with its signals (`title_tokens`: doc_id → its title's
        tokens, for references a document's title states). A question is often phrased like the passage around its
        answer rather than like the answer itself, hence every sentence of the best passages."""
        signals = Signals()
        use_dense = "span_dense" in weights
        # The query is encoded while FTS5 ranks: onnxruntime and SQLite both release the GIL.
        encoding = _InBackground(self.query_vector, query_text) if use_dense else None
        cited: dict[tuple[str, ...], lexical.Citing] = {}
        if "span_lexical" in weights:
            signals.query = lexical.build_query(query_text)
            cited = self._lexical(signals.query, doc_ids, signals, use_dense, title_tokens)
        headed = references.headed_passages(cited)
        top_passages = set(list(signals.passage_lexical)[:PASSAGE_POOL]) | self._headed(headed, signals.titled)
        top_spans = set(signals.span_lexical).union(*(found.spans for found in cited.values()))
        if encoding is not None:
            query_vector = encoding.result()
            # The two FAISS searches run on both cores (FAISS releases the GIL): ~1.5 ms a query.
            passages = _InBackground(self.dense_top, "passages", query_vector, doc_ids, PASSAGE_POOL)
            top_spans |= set(self.dense_top("spans", query_vector, doc_ids, SPAN_CANDIDATES))
            top_passages |= set(passages.result())
        signals.spans = self.spans(top_spans, top_passages)
        if cited:
            judged = references.judged(signals.spans, cited, signals.titled, self._footnotes(signals.spans, headed))
            signals.reference_lexical, signals.reference_placed = judged.shares, judged.placed
            signals.by_provision = judged.by_provision
        if use_dense and signals.spans:
            self._dense_signals(query_vector, signals)
        return signals

    def _footnotes(self, spans: dict[int, Span], headed: set[int]) -> frozenset[int]:
        """The candidate sentences under a heading a typed reference holds (`headed`: those
        passages) that are footnotes (their first line's kind): one lookup, only for those few."""
        under = [span for span in spans.values() if headed.intersection(span.passages)]
        first_lines: set[tuple[int, int]] = set()
        for chunk in batches(under, variables_each=2):
            values = ",".join("(?, ?)" for _ in chunk)
            params = [value for span in chunk for value in (span.doc_id, span.seq_start)]
            sql = f"SELECT doc_id, seq FROM lines WHERE kind = ? AND (doc_id, seq) IN (VALUES {values})"
            first_lines.update((doc_id, seq) for doc_id, seq in self.conn.execute(sql, [KIND_FOOTNOTE, *params]))
        return frozenset(span.span_id for span in under if (span.doc_id, span.seq_start) in first_lines)

    def _headed(self, headed: set[int], titled: dict[int, tuple]) -> set[int]:
        """The passages a typed reference heads (`headed`: "3.3 Options for Describing Limits …"
        for "ICH Q3C 3.3"), whose sentences cite it, as candidates: in the documents whose
        titles the query names when it names some; else all, unless more than PASSAGE_POOL (a
        number heading that many sections names no one place). Without them, the section a
        query named was not always a candidate: "ICH Q10 2.1" cited a table of contents line."""
        if titled:
            return {p for p in headed if self.layout.passage_doc[p] in titled}
        return headed if len(headed) <= PASSAGE_POOL else set()

    def _lexical(self, query: lexical.LexicalQuery, doc_ids: list[int] | None, signals: Signals, use_dense: bool,
                 title_tokens: dict[int, list[str]]) -> dict[tuple[str, ...], lexical.Citing]:
        """The bm25 signals and trust, and where each of the query's references is stated."""
        signals.span_lexical = dict(lexical.search_spans(self.conn, query, SPAN_CANDIDATES, doc_ids,
                                                         self.allowed_ids("spans", doc_ids)))
        signals.passage_lexical = dict(lexical.search(self.conn, query, PASSAGE_CANDIDATES, doc_ids,
                                                      self.allowed_ids("passages", doc_ids)))
        cited, signals.titled = references.stated(self.conn, query, title_tokens, CITING_LIMIT, doc_ids)
        if use_dense:  # without dense signals there is nothing better to trust
            covered = lexical.coverage(self.conn, query, list(signals.passage_lexical)[:TRUST_PASSAGES])
            signals.lexical_trust = min(1.0, max(0.0, (covered - TRUST_FLOOR) / (TRUST_FULL - TRUST_FLOOR)))
        return cited

    def _dense_signals(self, query_vector: np.ndarray, signals: Signals) -> None:
        """Cosines of every candidate sentence and of every passage holding one."""
        scores = self.span_vectors.search_subset(query_vector, schema.vector_rows(signals.spans))
        self._check_similarities(scores, self.generation.spans_path)
        signals.span_dense = dict(zip(signals.spans, map(float, scores)))
        passage_ids = sorted({pid for span in signals.spans.values() for pid in span.passages})
        scores = self.dense.search_subset(query_vector, schema.vector_rows(passage_ids))
        self._check_similarities(scores, self.generation.vectors_path)
        signals.passage_dense = dict(zip(passage_ids, map(float, scores)))

    def _check_similarities(self, scores: np.ndarray, path: Path) -> None:
        """Unit vectors have cosines in [-1, 1]; anything else comes from a damaged vectors file
        (a cheap guard on every query; `gtindex doctor` compares the file with its sha256)."""
        scores = np.asarray(scores, dtype=np.float64)
        if scores.size and not (np.isfinite(scores).all() and np.abs(scores).max() <= 1 + COSINE_SLACK):
            raise IndexError_(
                f"{path} is damaged (a similarity of {scores[np.argmax(np.abs(scores))]:.3g}); "
                "check the index with `gtindex doctor`, rebuild with `gtindex build --rebuild`"
            )

    # ------------------------------------------------------------------ dense top-k and filters

    def dense_top(self, table: str, query_vector: np.ndarray, doc_ids: list[int] | None, k: int) -> list[int]:
        """Ids of the k rows of `table` (passages or spans) nearest the query."""
        if table == "passages":
            vectors, path = self.dense, self.generation.vectors_path
        else:
            vectors, path = self.span_vectors, self.generation.spans_path
        if doc_ids is None:
            found = vectors.search(query_vector, k)
            rows = [int(r) for r in found.rows if r >= 0]
            self._check_similarities(found.scores[found.rows >= 0], path)
        else:
            rows = self._filtered_top(vectors, table, query_vector, doc_ids, k)
        return schema.ids_of_rows(rows)

    def _filtered_top(self, vectors, table: str, query_vector: np.ndarray, doc_ids: list[int], k: int) -> list[int]:
        """The k nearest rows inside the filter. A filter that keeps most rows is cheaper
        applied after an unfiltered search for a few more rows than FAISS filtering while it
        searches (8 vs 15 ms)."""
        allowed = self.allowed_rows(table, doc_ids)
        if not len(allowed):
            return []
        if len(allowed) >= POST_FILTER_SHARE * vectors.ntotal:
            wanted = min(vectors.ntotal, int(k * vectors.ntotal / len(allowed)) + POST_FILTER_EXTRA)
            found = vectors.search(query_vector, wanted)
            mask = self._allowed_mask(table, doc_ids)
            rows = [int(r) for r in found.rows if r >= 0 and mask[r]][:k]
            if len(rows) == min(k, len(allowed)):
                return rows
        found = vectors.search(query_vector, k, rows=allowed)
        return [int(r) for r in found.rows if r >= 0]

    def allowed_ids(self, table: str, doc_ids: list[int] | None) -> np.ndarray | None:
        """The filter as a boolean array by passage_id or span_id (= vector_row + 1), kept per
        filter: a user's searches repeat the same filter."""
        if doc_ids is None:
            return None
        key = (table, tuple(doc_ids))
        if key not in self.row_cache:
            if len(self.row_cache) >= ROW_CACHE_SIZE:
                self.row_cache.clear()
            self.row_cache[key] = self.layout.in_documents(table, doc_ids)
        return self.row_cache[key]

    def _allowed_mask(self, table: str, doc_ids: list[int]) -> np.ndarray:
        """The filter as a boolean array by vector row."""
        return self.allowed_ids(table, doc_ids)[1:]

    def allowed_rows(self, table: str, doc_ids: list[int]) -> np.ndarray:
        """Vector rows of `table` in these documents."""
        key = ("rows", table, tuple(doc_ids))
        if key not in self.row_cache:
            self.row_cache[key] = np.flatnonzero(self._allowed_mask(table, doc_ids))
        return self.row_cache[key]

    def spans(self, span_ids: set[int], passage_ids: set[int]) -> dict[int, Span]:
        """The candidate sentences: these, and every sentence these passages hold, each
        with the passages holding it (from the span layout: no SQL)."""
        layout = self.layout
        wanted = np.union1d(np.fromiter(span_ids, dtype=np.int64, count=len(span_ids)),
                            layout.held(sorted(passage_ids))).astype(np.int64)
        docs, firsts, lasts = (column[wanted].tolist() for column in (layout.doc, layout.seq_start, layout.seq_end))
        starts, ends = layout.holder_offsets[wanted].tolist(), layout.holder_offsets[wanted + 1].tolist()
        return {
            span_id: Span(span_id, doc_id, first, last, tuple(layout.holder_passages[start:end].tolist()))
            for span_id, doc_id, first, last, start, end in zip(wanted.tolist(), docs, firsts, lasts, starts, ends)
        }


class _InBackground:
    """fn(*args) in a thread; result() waits and returns its value or raises its error."""

    def __init__(self, fn, *args):
        self._value = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, args), daemon=True)
        self._thread.start()

    def _run(self, fn, args) -> None:
        try:
            self._value = fn(*args)
        except BaseException as exc:  # re-raised in the caller's thread
            self._error = exc

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _load_vectors(path: Path):
    from ..dense import DenseIndex

    try:
        vectors = DenseIndex.load(path, mmap=True)
    except GtindexError:
        raise
    except Exception as exc:  # faiss raises RuntimeError on a damaged file
        raise IndexError_(f"{path} cannot be read ({exc}); rebuild with `gtindex build --rebuild`") from None
    return vectors
