"""Query → ranked, narrowed, deduplicated hits.

A hit cites a sentence (a `span`: 1-4 lines), not a whole passage. Five signals score each
candidate sentence:

- span_dense:      cosine of the query and the sentence (vectors computed at build time);
- passage_dense:   cosine of the query and the best passage holding the sentence (the
                   section path and the surrounding lines say what the sentence is about),
                   divided by the query's best passage cosine;
- span_lexical:    FTS5 bm25 of the sentence, scaled by the query's best sentence score;
- passage_lexical: FTS5 bm25 of the best passage holding it, scaled likewise;
- reference_lexical: share of the query's references ("314.101(d)(5)") the sentence states
                   or its section heading holds.

Both bm25 signals are scaled down when the best bm25 passages hold few of the query's words
(TRUST_FLOOR, TRUST_FULL). The query is first expanded with the corpus's acronyms.

The score is a weighted sum (WEIGHTS, measured on the dev gold set: it beats reciprocal
rank fusion of the same rankings). The cited lines are the best sentence, joined by a
neighbouring sentence that scores nearly as well or matches the query's words nearly as
well, up to four lines. Candidates are the best sentences by each sentence retriever, the
sentences stating a reference, and every sentence of the best passages by each passage
retriever. Sentences overlapping one already cited are dropped (one place, one hit).

Nothing here imports torch: the query path is onnxruntime + faiss + sqlite.
"""
from __future__ import annotations

import re
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import acronyms, lexical
from .citations import Hit, cited_line_from_row
from .documents import KIND_FOOTNOTE, LINE_KIND_COMPUTED, LINE_KIND_PARAGRAPH
from .errors import GtindexError, IndexError_
from .index import catalogue, generations, schema
from .index.layout import Layout

MODES = ("hybrid", "dense", "lexical")
STATUSES = ("draft", "final")

# Weights of the signals (see the module docstring); "dense" and "lexical" modes use
# only the signals whose names end so.
WEIGHTS = {"span_dense": 1.0, "passage_dense": 0.6, "span_lexical": 0.3, "passage_lexical": 0.2,
           "reference_lexical": 0.5}
# Candidates: dev.jsonl scores the same from 50 sentences and 10 passages per retriever
# upwards (30 sentences lose hit@5 0.76 -> 0.73); these leave a margin. Every candidate costs
# time in narrowing (200 and 60 gave ~1,500 candidate sentences a query, 100 and 30 ~700).
SPAN_CANDIDATES = 100  # sentences taken from each sentence retriever
PASSAGE_POOL = 30  # passages whose every sentence becomes a candidate, per passage retriever
PASSAGE_CANDIDATES = 200  # passages scored by bm25 (the lexical signal of a candidate's passage)
# bm25 is trusted in full when one of the TRUST_PASSAGES best bm25 passages holds at least
# TRUST_FULL of the query's words, not at all below TRUST_FLOOR (a paraphrased question
# shares only incidental words with any passage), linearly between. Dev set: hit@5 0.73 ->
# 0.76, MRR@10 0.605 -> 0.62; paraphrases hit@5 0.27 -> 0.45.
TRUST_PASSAGES = 5
TRUST_FLOOR, TRUST_FULL = 0.3, 0.5
EXTEND_MARGIN = 0.25  # a neighbouring sentence scoring within this of the best joins the citation
EXTEND_LEXICAL_SHARE = 0.8  # ... or whose bm25 is at least this share of the best sentence's
MAX_CITED_LINES = 4
ACRONYM_MAX_SHARE = 0.2  # acronyms used in more than this share of documents are not expanded
POST_FILTER_SHARE = 0.5  # a filter keeping at least this share of vectors is applied after the search
POST_FILTER_EXTRA = 32  # rows searched beyond the expected need, so filtering rarely falls short
ROW_CACHE_SIZE = 32  # document filters whose vector rows an open index remembers
# A superseded draft's sentence is its final's when at least RESTATED_SHARE of its runs of
# RESTATED_SHINGLE words occur in the final (a design choice, not fitted: four words rarely
# repeat by chance, and "most" survives a sentence split by a page break or a text box).
RESTATED_SHINGLE, RESTATED_SHARE = 4, 0.5
COSINE_SLACK = 1e-3  # float32 rounding of unit vectors' inner products


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: int
    doc: str
    title: str
    status: str
    date: str
    year: int | None
    center: str
    line_kind: str
    source_type: str
    pages: int
    designation: str = ""


@dataclass(frozen=True)
class _Span:
    span_id: int
    doc_id: int
    seq_start: int
    seq_end: int
    passages: tuple[int, ...]  # passages holding the sentence


@dataclass
class _Signals:
    """Candidate sentences and what each retriever said about them (or their passages)."""

    spans: dict[int, _Span] = field(default_factory=dict)
    span_dense: dict[int, float] = field(default_factory=dict)
    passage_dense: dict[int, float] = field(default_factory=dict)
    span_lexical: dict[int, float] = field(default_factory=dict)
    passage_lexical: dict[int, float] = field(default_factory=dict)
    reference_lexical: dict[int, float] = field(default_factory=dict)  # share of the query's references cited
    lexical_trust: float = 1.0  # bm25's weight factor, from how many query words the best passages hold
    titled: dict[int, tuple] = field(default_factory=dict)  # doc_id -> the query's references its title states

    def ranked(self, weights: dict[str, float]) -> list[tuple[_Span, float]]:
        # The passage signals and bm25 are divided by the query's best score for them, so 1.0
        # means "the best match" (bm25 has no fixed scale; passage cosines shift with the
        # query). The sentence cosine stays absolute: it tells a sentence that answers from
        # one that only shares the passage (scaling it too measured worse on dev.jsonl).
        def scaled(scores: dict[int, float], weight: float) -> dict[int, float]:
            top = max(scores.values(), default=0.0) or 1.0
            return {key: weight * value / top for key, value in scores.items()} if weight else {}

        trust = self.lexical_trust
        span_dense = {key: weights.get("span_dense", 0.0) * value for key, value in self.span_dense.items()}
        span_lexical = scaled(self.span_lexical, trust * weights.get("span_lexical", 0.0))
        passage_dense = scaled(self.passage_dense, weights.get("passage_dense", 0.0))
        passage_lexical = scaled(self.passage_lexical, trust * weights.get("passage_lexical", 0.0))
        reference = {key: weights.get("reference_lexical", 0.0) * value for key, value in self.reference_lexical.items()}
        scored = []
        for span_id, span in self.spans.items():
            score = span_dense.get(span_id, 0.0) + span_lexical.get(span_id, 0.0) + reference.get(span_id, 0.0)
            if passage_dense:
                score += max([passage_dense.get(p, 0.0) for p in span.passages], default=0.0)
            if passage_lexical:
                score += max([passage_lexical.get(p, 0.0) for p in span.passages], default=0.0)
            scored.append((span, score))
        # A reference the user typed ("21 CFR 107.240") means the places stating it: those
        # rank first, by how many of the query's references they state, then by score.
        # A weight would let "21 CFR" in a footnote listing other sections outscore them.
        cited = self.reference_lexical
        scored.sort(key=lambda item: (-cited.get(item[0].span_id, 0.0), -item[1], item[0].span_id))
        return scored


class Index:
    """A read-only view of the live generation of an index directory."""

    def __init__(self, path: Path, generation: generations.Generation, conn: sqlite3.Connection, dense=None,
                 fast_start: bool = False):
        self.path = path
        self.generation = generation
        self.conn = conn
        self._dense = dense
        self._span_vectors = None
        self._layout: Layout | None = None
        self._row_cache: dict[tuple, np.ndarray] = {}  # (table, doc ids) -> allowed ids (see _allowed_ids)
        self._encoder = None
        self._fast_start = fast_start
        self._superseded_by = _superseded_by(conn)  # doc_id → name of the version that replaced it
        self._final_shingles: dict[str, set] = {}  # a final's word runs, for _restated_in_final
        designations = _designations(conn)
        self._documents = {
            row["doc_id"]: DocumentInfo(
                doc_id=row["doc_id"], doc=row["doc"], title=row["title"], status=row["status"],
                date=row["date"], year=row["year"], center=row["center"], line_kind=row["line_kind"],
                source_type=row["source_type"], pages=row["pages"],
                designation=designations.get(row["doc_id"], ""),
            )
            for row in conn.execute("SELECT * FROM documents")
        }
        self._acronyms = _acronyms(conn, len_documents=len(self._documents))

    @classmethod
    def open(cls, path: Path | str, fast_start: bool = False) -> "Index":
        """The live generation. fast_start: this process answers one query and exits
        (`gtindex search`), so load the query model the cheapest way (see OnnxEncoder)."""
        from .embedding import DIM, MODEL_NAME

        path = Path(path)
        generation = generations.open_generation(path, MODEL_NAME, DIM)
        conn = schema.connect_readonly(generation.sqlite_path)
        return cls(path, generation, conn, fast_start=fast_start)

    @property
    def dense(self):
        """Passage vectors, loaded on first use: `gtindex show` never pays for importing faiss."""
        if self._dense is None:
            self._dense = _load_vectors(self.generation.vectors_path)
        return self._dense

    @property
    def span_vectors(self):
        """Sentence vectors, loaded on first use."""
        if self._span_vectors is None:
            self._span_vectors = _load_vectors(self.generation.spans_path)
        return self._span_vectors

    @property
    def layout(self) -> Layout:
        """Sentences' places and passages, loaded on first use."""
        if self._layout is None:
            self._layout = Layout.read(self.conn)
        return self._layout

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ documents

    @property
    def documents(self) -> list[DocumentInfo]:
        return sorted(self._documents.values(), key=lambda d: d.doc)

    def find_document(self, name: str) -> DocumentInfo:
        """A document by file name (any of its names) or file name without extension."""
        _require_utf8(name, "document name")
        return self._documents[catalogue.find(self.conn, name, self.path).doc_id]

    def lines(
        self, name: str, numbers: tuple[int, int] | None = None, page: int | None = None
    ) -> tuple[DocumentInfo, list[sqlite3.Row]]:
        """Lines of a document for `gtindex show`, addressed as its citations address them.

        `numbers` are printed line numbers (PDFs with a margin numbering), paragraph numbers
        (web pages) or, with `page`, positions on that physical page (PDFs without). A
        range or page that does not exist is an error that says which ones do.
        """
        info = self.find_document(name)
        where, params = ["doc_id = ?"], [info.doc_id]
        if page is not None:
            if not 1 <= page <= info.pages:
                raise GtindexError(f"{info.doc} has no PDF page {page}; its pages run 1–{info.pages}")
            where.append("page = ?")
            params.append(page)
        column = "line_on_page" if info.line_kind == LINE_KIND_COMPUTED else "line"
        if numbers is not None:
            if column == "line_on_page" and page is None:
                raise GtindexError(
                    f"{info.doc} has no printed line numbers; give --page P (with --lines A-B for lines on that page)"
                )
            where.append(f"{column} BETWEEN ? AND ?")
            params += list(numbers)
        elif page is None:
            raise GtindexError("say which lines to show: --lines A-B, --page P, or both")
        rows = self.conn.execute(f"SELECT * FROM lines WHERE {' AND '.join(where)} ORDER BY seq", params).fetchall()
        if not rows and numbers is None:
            raise GtindexError(f"{info.doc} has no text on PDF page {page}")
        if not rows:
            what = "paragraphs" if info.line_kind == LINE_KIND_PARAGRAPH else "lines"
            place = f" on PDF page {page}" if page is not None else ""
            span = self._range(info, column, page)
            exists = f"{what}{place} run {span[0]}–{span[1]}" if span else f"it has no numbered {what}{place}"
            raise GtindexError(f"{info.doc} has no {what} {numbers[0]}–{numbers[1]}{place}; {exists}")
        return info, rows

    def _range(self, info: DocumentInfo, column: str, page: int | None) -> tuple[int, int] | None:
        sql = f"SELECT min({column}), max({column}) FROM lines WHERE doc_id = ?"
        params: list = [info.doc_id]
        if page is not None:
            sql += " AND page = ?"
            params.append(page)
        low, high = self.conn.execute(sql, params).fetchone()
        return (low, high) if low is not None else None

    def _filtered_doc_ids(self, doc: str | None, status: str | None, since: int | None) -> list[int] | None:
        """Document ids allowed by the filters, or None when nothing is filtered."""
        if doc is None and status is None and since is None:
            return None
        if status is not None and status not in STATUSES:
            raise GtindexError(f"--status must be one of {', '.join(STATUSES)}, not {status!r}")
        wanted = [self.find_document(doc)] if doc is not None else list(self._documents.values())
        return [
            info.doc_id
            for info in wanted
            if (status is None or info.status == status)
            and (since is None or (info.year is not None and info.year >= since))
        ]

    # ------------------------------------------------------------------ search

    def encoder(self):
        if self._encoder is None:
            from .embedding import load_query_encoder

            self._encoder = load_query_encoder(self.generation.model_dir, fast_start=self._fast_start)
        return self._encoder

    def search(
        self,
        query: str,
        k: int = 5,
        doc: str | None = None,
        status: str | None = None,
        since: int | None = None,
        mode: str = "hybrid",
        include_superseded: bool = False,
    ) -> list[Hit]:
        """Hits for the query, best first. Vectors and the query model are read on first use,
        so a build may publish two newer generations and delete this one in between: the
        search then starts over on the live generation (old or new index, never a failure)."""
        arguments = (query, k, doc, status, since, mode, include_superseded)
        try:
            return self._search(*arguments)
        except GtindexError:
            if not self._replaced():
                raise
            self._switch_to_live()
            return self._search(*arguments)

    def _replaced(self) -> bool:
        try:
            live = generations.current_generation(self.path)
        except GtindexError:
            return False
        return live is not None and live.resolve() != self.generation.path.resolve()

    def _switch_to_live(self) -> None:
        fresh = Index.open(self.path, fast_start=self._fast_start)
        self.close()
        self.__dict__.update(fresh.__dict__)  # every cache belonged to the replaced generation

    def _search(self, query: str, k: int, doc: str | None, status: str | None, since: int | None,
                mode: str, include_superseded: bool) -> list[Hit]:
        if mode not in MODES:
            raise GtindexError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
        # Control characters alone (NUL, ESC) are no query either; lone surrogates (bytes that
        # were not UTF-8) are left for the check below, which names that problem.
        if not "".join(c for c in query if c.isprintable() or "\ud800" <= c <= "\udfff").strip():
            raise GtindexError("empty query; type the words or question to search for")
        _require_utf8(query, "query")
        if k < 1:
            raise GtindexError(f"-k must be at least 1, not {k}")
        doc_ids = self._filtered_doc_ids(doc, status, since)
        # A superseded draft is searched too, but a sentence of it that its final restates
        # is the final's to cite; one the final lacks is a hit marked [superseded by ...].
        restated = self._restated_in_final if doc is None and not include_superseded else None
        if doc_ids == []:
            return []
        query = acronyms.expand(query, self._acronyms)
        weights = {
            "hybrid": WEIGHTS,
            "dense": {name: w for name, w in WEIGHTS.items() if name.endswith("dense")},
            "lexical": {name: w for name, w in WEIGHTS.items() if name.endswith("lexical")},
        }[mode]
        signals = self._signals(query, doc_ids, weights)
        return self._hits(signals.ranked(weights), k, signals.span_lexical, restated)

    def _query_vector(self, query: str) -> np.ndarray:
        vector = self.encoder().encode([query])[0]
        if not np.isfinite(vector).all():
            raise IndexError_(
                f"the query model in {self.generation.model_dir} is damaged (it gave a non-finite vector); "
                "check the index with `gtindex doctor`, rebuild with `gtindex build --rebuild`"
            )
        return vector

    def _restated_in_final(self, span: "_Span") -> bool:
        """Does the version that superseded this sentence's document hold the same words?
        Most of the sentence's word runs (RESTATED_SHINGLE words) must occur in the final:
        a page break or a text box can split the final's copy of a sentence, while a
        reworded sentence shares few runs."""
        final = self._superseded_by.get(span.doc_id)
        if not final:
            return False
        if final not in self._final_shingles:
            final_id = next(info.doc_id for info in self._documents.values() if info.doc == final)
            rows = self.conn.execute("SELECT text FROM lines WHERE doc_id = ? ORDER BY seq", (final_id,))
            self._final_shingles[final] = _shingles([word for (text,) in rows for word in lexical.tokenize(text)])
        (text,) = self.conn.execute("SELECT text FROM spans WHERE span_id = ?", (span.span_id,)).fetchone()
        own = _shingles(lexical.tokenize(text))
        return bool(own) and len(own & self._final_shingles[final]) >= RESTATED_SHARE * len(own)

    # ------------------------------------------------------------------ retrieval

    def _signals(self, query_text: str, doc_ids: list[int] | None, weights: dict[str, float]) -> "_Signals":
        """Every candidate sentence with its similarity signals (see the module docstring).

        Candidates are the sentences the sentence retrievers rank highest plus every
        sentence of the passages the passage retrievers rank highest: a question is often
        phrased like the passage around its answer rather than like the answer itself.
        """
        signals = _Signals()
        use_dense = "span_dense" in weights
        use_lexical = "span_lexical" in weights
        # The query is encoded while FTS5 ranks: onnxruntime and SQLite both release the GIL.
        encoding = _InBackground(self._query_vector, query_text) if use_dense else None
        references: dict[tuple[str, ...], lexical.Citing] = {}
        if use_lexical:
            query = lexical.build_query(query_text)
            signals.span_lexical = dict(lexical.search_spans(self.conn, query, SPAN_CANDIDATES, doc_ids,
                                                             self._allowed_ids("spans", doc_ids)))
            signals.passage_lexical = dict(lexical.search(self.conn, query, PASSAGE_CANDIDATES, doc_ids,
                                                          self._allowed_ids("passages", doc_ids)))
            references = {phrase: lexical.citing(self.conn, phrase, SPAN_CANDIDATES, doc_ids)
                          for phrase in query.references}
            titled = {doc_id: query.cited_by(info.title) for doc_id, info in self._documents.items()}
            signals.titled = {doc_id: refs for doc_id, refs in titled.items() if refs}
            if use_dense:  # without dense signals there is nothing better to trust
                covered = lexical.coverage(self.conn, query, list(signals.passage_lexical)[:TRUST_PASSAGES])
                signals.lexical_trust = min(1.0, max(0.0, (covered - TRUST_FLOOR) / (TRUST_FULL - TRUST_FLOOR)))
        top_passages = set(list(signals.passage_lexical)[:PASSAGE_POOL])
        top_spans = set(signals.span_lexical).union(*(found.spans for found in references.values()))
        if encoding is not None:
            query_vector = encoding.result()
            # The two FAISS searches run on both cores (FAISS releases the GIL): ~1.5 ms a query.
            passages = _InBackground(self._dense_top, "passages", query_vector, doc_ids, PASSAGE_POOL)
            top_spans |= set(self._dense_top("spans", query_vector, doc_ids, SPAN_CANDIDATES))
            top_passages |= set(passages.result())
        spans = self._spans(top_spans, top_passages)
        signals.spans = spans
        if references:
            signals.reference_lexical = _reference_shares(spans, references, signals.titled)
        if use_dense and spans:
            rows = schema.vector_rows(spans)
            scores = self.span_vectors.search_subset(query_vector, rows)
            self._check_similarities(scores, self.generation.spans_path)
            signals.span_dense = dict(zip(spans, map(float, scores)))
            passage_ids = sorted({pid for span in spans.values() for pid in span.passages})
            rows = schema.vector_rows(passage_ids)
            scores = self.dense.search_subset(query_vector, rows)
            self._check_similarities(scores, self.generation.vectors_path)
            signals.passage_dense = dict(zip(passage_ids, map(float, scores)))
        return signals

    def _check_similarities(self, scores: np.ndarray, path: Path) -> None:
        """Unit vectors have cosines in [-1, 1]; anything else comes from a damaged vectors file
        (a cheap guard on every query; `gtindex doctor` compares the file with its sha256)."""
        scores = np.asarray(scores, dtype=np.float64)
        if scores.size and not (np.isfinite(scores).all() and np.abs(scores).max() <= 1 + COSINE_SLACK):
            raise IndexError_(
                f"{path} is damaged (a similarity of {scores[np.argmax(np.abs(scores))]:.3g}); "
                "check the index with `gtindex doctor`, rebuild with `gtindex build --rebuild`"
            )

    def _dense_top(self, table: str, query_vector: np.ndarray, doc_ids: list[int] | None, k: int) -> list[int]:
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
        """The k nearest rows inside the filter. A filter that keeps most rows (every default
        search: only superseded versions are left out) is cheaper applied after an unfiltered
        search for a few more rows than FAISS filtering while it searches (8 vs 15 ms)."""
        allowed = self._allowed_rows(table, doc_ids)
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

    def _allowed_ids(self, table: str, doc_ids: list[int] | None) -> np.ndarray | None:
        """The filter as a boolean array by passage_id or span_id (= vector_row + 1), kept per
        filter: every search without --include-superseded filters the same way."""
        if doc_ids is None:
            return None
        key = (table, tuple(doc_ids))
        if key not in self._row_cache:
            if len(self._row_cache) >= ROW_CACHE_SIZE:
                self._row_cache.clear()
            self._row_cache[key] = self.layout.in_documents(table, doc_ids)
        return self._row_cache[key]

    def _allowed_mask(self, table: str, doc_ids: list[int]) -> np.ndarray:
        """The filter as a boolean array by vector row."""
        return self._allowed_ids(table, doc_ids)[1:]

    def _allowed_rows(self, table: str, doc_ids: list[int]) -> np.ndarray:
        """Vector rows of `table` in these documents."""
        key = ("rows", table, tuple(doc_ids))
        if key not in self._row_cache:
            self._row_cache[key] = np.flatnonzero(self._allowed_mask(table, doc_ids))
        return self._row_cache[key]

    def _spans(self, span_ids: set[int], passage_ids: set[int]) -> dict[int, "_Span"]:
        """The candidate sentences: these, and every sentence these passages hold, each
        with the passages holding it (from the span layout: no SQL)."""
        layout = self.layout
        wanted = np.union1d(np.fromiter(span_ids, dtype=np.int64, count=len(span_ids)),
                            layout.held(sorted(passage_ids))).astype(np.int64)
        docs, firsts, lasts = (column[wanted].tolist() for column in (layout.doc, layout.seq_start, layout.seq_end))
        starts, ends = layout.holder_offsets[wanted].tolist(), layout.holder_offsets[wanted + 1].tolist()
        return {
            span_id: _Span(span_id, doc_id, first, last, tuple(layout.holder_passages[start:end].tolist()))
            for span_id, doc_id, first, last, start, end in zip(wanted.tolist(), docs, firsts, lasts, starts, ends)
        }

    # ------------------------------------------------------------------ hits

    def _hits(self, ranked: list[tuple["_Span", float]], k: int, span_lexical: dict[int, float],
              restated=None) -> list[Hit]:
        """Best sentences first; a sentence overlapping one already cited is the same place.
        (span_lexical: sentence bm25 scores, see _extend; `restated(span)`: true for a sentence
        of a superseded version that its final holds, which is left to the final.)"""
        by_doc: dict[int, list[tuple[_Span, float]]] = {}
        for span, score in ranked:
            by_doc.setdefault(span.doc_id, []).append((span, score))
        hits: list[Hit] = []
        taken: list[tuple[int, int, int]] = []  # (doc_id, first seq, last seq) already cited
        def already_cited(doc_id: int, start: int, end: int) -> bool:
            return any(d == doc_id and first <= end and start <= last for d, first, last in taken)

        for span, score in ranked:
            if already_cited(span.doc_id, span.seq_start, span.seq_end):
                continue
            same_doc = by_doc[span.doc_id]
            if restated is not None and span.doc_id in self._superseded_by:
                if restated(span):
                    continue
                # the draft's hit cites only what its final lacks: no restated neighbour joins
                same_doc = [(other, value) for other, value in same_doc
                            if abs(other.seq_start - span.seq_start) > MAX_CITED_LINES or not restated(other)]
            first, last = _extend(span, score, same_doc, span_lexical)
            if already_cited(span.doc_id, first, last):  # grown into a place already cited
                first, last = span.seq_start, span.seq_end
            taken.append((span.doc_id, first, last))
            hits.append(self._hit(len(hits) + 1, span, first, last, score))
            if len(hits) == k:
                break
        return hits

    def _hit(self, rank: int, span: "_Span", first: int, last: int, score: float) -> Hit:
        info = self._documents[span.doc_id]
        context = (self.conn.execute("SELECT text FROM passages WHERE passage_id = ?", span.passages[:1]).fetchone()
                   if span.passages else None)
        rows = self.conn.execute(
            "SELECT * FROM lines WHERE doc_id = ? AND seq BETWEEN ? AND ? ORDER BY seq",
            (span.doc_id, first, last),
        ).fetchall()
        # A sentence running onto the next page has that page's footnotes between its lines
        # (and a footnote, body text): cite only lines of the kind the sentence starts with.
        in_footnote = rows[0]["kind"] == KIND_FOOTNOTE
        rows = [row for row in rows if (row["kind"] == KIND_FOOTNOTE) == in_footnote]
        return Hit(
            rank=rank, doc=info.doc, title=info.title, status=info.status, date=info.date,
            center=info.center, section=rows[0]["section"], line_kind=info.line_kind,
            lines=[cited_line_from_row(row) for row in rows], context=context[0] if context else "",
            score=score, designation=info.designation, superseded_by=self._superseded_by.get(span.doc_id, ""),
        )


# "Draft Guidance for Industry", "Guidance for Industry and FDA Staff": the kind of document,
# printed on the cover page under the title; citations name it after the title.
_DESIGNATION = re.compile(r"^(?:Draft\s+|Final\s+)?Guidance\s+for\s+[A-Z][\w ,]{2,60}$")
# A designation broken over two lines: "… Industry and Food and" + "Drug Administration Staff",
# "… Industry, User" + "Facilities and FDA Staff", "… Industry and FDA" + "Staff".
_UNFINISHED = re.compile(r"(?:\b(?:and|for|of|the)|,\s*\w*)$")
_STAFF_LINE = re.compile(r"^(?:[A-Z][\w-]*\s+(?:and\s+)?){0,4}Staff$")


def _designations(conn: sqlite3.Connection) -> dict[int, str]:
    """doc_id → the cover's designation line, joined with its continuation line."""
    cover: dict[int, list[str]] = {}
    for row in conn.execute("SELECT doc_id, text FROM lines WHERE page = 1 ORDER BY doc_id, seq"):
        cover.setdefault(row["doc_id"], []).append(" ".join(row["text"].split()))
    found: dict[int, str] = {}
    for doc_id, texts in cover.items():
        for i, text in enumerate(texts):
            if _DESIGNATION.match(text):
                rest = texts[i + 1] if i + 1 < len(texts) else ""
                if rest and (_UNFINISHED.search(text) or _STAFF_LINE.match(rest)):
                    text = f"{text} {rest}"
                found[doc_id] = text
                break
    return found


def _extend(
    span: _Span, score: float, same_doc: list[tuple[_Span, float]], span_lexical: dict[int, float]
) -> tuple[int, int]:
    """The cited seq range: the sentence, joined by the sentences right before or after it
    that answer nearly as well (an answer often runs over two sentences), up to
    MAX_CITED_LINES lines. A neighbour also joins when it matches the query's words nearly
    as well as the sentence does (bm25 within EXTEND_LEXICAL_SHARE): the model may prefer
    one of two sentences about "stopping rules", but the one that defines them belongs in
    the citation too."""
    first, last = span.seq_start, span.seq_end
    own_bm25 = span_lexical.get(span.span_id, 0.0)

    def joins(other: _Span, other_score: float) -> bool:
        if other is span:
            return False
        lexically_as_good = own_bm25 > 0 and span_lexical.get(other.span_id, 0.0) >= EXTEND_LEXICAL_SHARE * own_bm25
        return other_score >= score - EXTEND_MARGIN or lexically_as_good

    neighbours = sorted((item for item in same_doc if joins(*item)), key=lambda item: -item[1])
    grown = True
    while grown:
        grown = False
        for other, _ in neighbours:
            touches = other.seq_end in (first - 1, first) or other.seq_start in (last, last + 1)
            new_first, new_last = min(first, other.seq_start), max(last, other.seq_end)
            if touches and (new_first, new_last) != (first, last) and new_last - new_first < MAX_CITED_LINES:
                first, last, grown = new_first, new_last, True
                break
    return first, last


def _shingles(words: list[str]) -> set[tuple[str, ...]]:
    """The runs of RESTATED_SHINGLE consecutive words (the whole text when shorter)."""
    if len(words) < RESTATED_SHINGLE:
        return {tuple(words)} if words else set()
    return {tuple(words[i:i + RESTATED_SHINGLE]) for i in range(len(words) - RESTATED_SHINGLE + 1)}


def _reference_shares(spans: dict[int, _Span], references: dict[tuple[str, ...], "lexical.Citing"],
                      titled: dict[int, tuple]) -> dict[int, float]:
    """span_id → share of the query's references ("314.101(d)(5)", "3.3", "Q3C") that the
    sentence states, that head its section or that its document's title states: a user who
    types a section number means that place, which a sentence under the heading "3.3 Class 2
    Solvents" is, though it never says so, and "Q3C" means the guideline titled so."""
    shares = {}
    for span_id, span in spans.items():
        cited = sum(
            span_id in found.spans or any(p in found.headed_passages for p in span.passages)
            or phrase in titled.get(span.doc_id, ())
            for phrase, found in references.items()
        )
        if cited:
            shares[span_id] = cited / len(references)
    return shares


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
    from .dense import DenseIndex

    try:
        vectors = DenseIndex.load(path, mmap=True)
    except GtindexError:
        raise
    except Exception as exc:  # faiss raises RuntimeError on a damaged file
        raise IndexError_(f"{path} cannot be read ({exc}); rebuild with `gtindex build --rebuild`") from None
    return vectors


def _acronyms(conn: sqlite3.Connection, len_documents: int) -> list[acronyms.Acronym]:
    """The corpus's acronyms worth expanding: one that most documents use (FDA, CFR) is
    common knowledge, and its long form would only dilute the query."""
    rows = conn.execute("SELECT short, long, documents FROM acronyms").fetchall()
    return [
        acronyms.Acronym(short, long, documents)
        for short, long, documents in rows
        if documents <= ACRONYM_MAX_SHARE * len_documents
    ]


def _superseded_by(conn: sqlite3.Connection) -> dict[int, str]:
    """doc_id → name of the newer version, for superseded documents (see versions.py)."""
    rows = conn.execute(
        "SELECT versions.doc_id, documents.doc FROM versions JOIN documents ON documents.doc_id = versions.related"
        " WHERE versions.role = 'superseded'"
    )
    return {doc_id: name for doc_id, name in rows}


def _require_utf8(text: str, what: str) -> None:
    """Bytes that are not UTF-8 (a terminal set to another encoding) reach Python as lone
    surrogates, which neither the tokenizer nor SQLite accepts."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise GtindexError(f"the {what} is not valid UTF-8 text; check the terminal's character encoding") from None
