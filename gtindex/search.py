"""Query → ranked, narrowed, deduplicated hits.

1. Retrieve passages two ways: dense (the query embedded by the generation's ONNX model,
   FAISS inner product) and lexical (FTS5 bm25 over section path + text).
2. Fuse the two rankings by reciprocal rank fusion.
3. Narrow each top passage to the sentence that best answers the query: the sentence
   vectors were computed at build time, so this costs one SQL lookup, not a model run.
4. Drop hits that cite an overlapping place of the same document.

Nothing here imports torch: the query path is onnxruntime + faiss + sqlite.
"""
from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import lexical, store
from .citations import Hit, cited_line_from_row
from .documents import LINE_KIND_COMPUTED, LINE_KIND_PARAGRAPH
from .errors import GtindexError

MODES = ("hybrid", "dense", "lexical")
STATUSES = ("draft", "final")

RRF_K = 60  # reciprocal rank fusion constant (Cormack et al.); damps the head of each list
CANDIDATES = 100  # passages taken from each retriever before fusion
NARROW_POOL = 30  # fused passages narrowed to a citation before the final cut
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
class _Candidate:
    passage_id: int
    doc_id: int
    seq_start: int
    seq_end: int
    section: str
    text: str
    score: float


class Index:
    """A read-only view of the live generation of an index directory."""

    def __init__(self, path: Path, generation: store.Generation, conn: sqlite3.Connection, dense=None,
                 fast_start: bool = False):
        self.path = path
        self.generation = generation
        self.conn = conn
        self._dense = dense
        self._encoder = None
        self._fast_start = fast_start
        self._superseded_by = _superseded_by(conn)  # doc_id → name of the version that replaced it
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

    @classmethod
    def open(cls, path: Path | str, fast_start: bool = False) -> "Index":
        """The live generation. fast_start: this process answers one query and exits
        (`gtindex search`), so load the query model the cheapest way (see OnnxEncoder)."""
        from .embedding import DIM, MODEL_NAME

        path = Path(path)
        generation = store.open_generation(path, MODEL_NAME, DIM)
        conn = store.connect_readonly(generation.sqlite_path)
        return cls(path, generation, conn, fast_start=fast_start)

    @property
    def dense(self):
        """The FAISS index, loaded on first use: `gtindex show` never pays for importing faiss."""
        if self._dense is None:
            from .dense import DenseIndex

            try:
                self._dense = DenseIndex.load(self.generation.vectors_path, mmap=True)
            except GtindexError:
                raise
            except Exception as exc:  # faiss raises RuntimeError on a damaged file
                raise store.IndexError_(
                    f"{self.generation.vectors_path} cannot be read ({exc}); rebuild with `gtindex build`"
                ) from None
        return self._dense

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
        row = self.conn.execute(
            "SELECT doc_id FROM doc_names WHERE name = ? OR name = ? || '.pdf' OR name = ? || '.html'",
            (name, name, name),
        ).fetchone()
        if row is None:
            raise GtindexError(
                f"no document named {name!r} in {self.path}; `gtindex list --index {self.path}` shows the names"
            )
        return self._documents[row["doc_id"]]

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
        if mode not in MODES:
            raise GtindexError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
        if not query.strip():
            raise GtindexError("empty query; type the words or question to search for")
        _require_utf8(query, "query")
        if k < 1:
            raise GtindexError(f"-k must be at least 1, not {k}")
        doc_ids = self._filtered_doc_ids(doc, status, since)
        if doc is None and not include_superseded:
            doc_ids = self._without_superseded(doc_ids)
        if doc_ids == []:
            return []
        query_vector = self.encoder().encode([query])[0]
        if not np.isfinite(query_vector).all():
            raise store.IndexError_(
                f"the query model in {self.generation.model_dir} is damaged (it gave a non-finite vector); "
                "check the index with `gtindex doctor`, rebuild with `gtindex build --rebuild`"
            )
        rankings = []
        if mode in ("hybrid", "dense"):
            rankings.append(self._dense_ranking(query_vector, doc_ids))
        lexical_query = lexical.build_query(query)
        if mode in ("hybrid", "lexical"):
            rankings.append([pid for pid, _ in lexical.search(self.conn, lexical_query, CANDIDATES, doc_ids)])
        fused = _reciprocal_rank_fusion(rankings)
        candidates = self._candidates(fused[:NARROW_POOL])
        return self._hits(candidates, query_vector, lexical_query, k)

    def _without_superseded(self, doc_ids: list[int] | None) -> list[int] | None:
        """Superseded versions are searched only when asked for (--include-superseded, or --doc)."""
        if not self._superseded_by:
            return doc_ids
        allowed = doc_ids if doc_ids is not None else sorted(self._documents)
        return [doc_id for doc_id in allowed if doc_id not in self._superseded_by]

    def _dense_ranking(self, query_vector: np.ndarray, doc_ids: list[int] | None) -> list[int]:
        if doc_ids is None:
            found = self.dense.search(query_vector, CANDIDATES)
            rows = [int(r) for r in found.rows if r >= 0]
            self._check_similarities(found.scores[found.rows >= 0])
        else:
            marks = ",".join("?" * len(doc_ids))
            rows = [r[0] for r in self.conn.execute(
                f"SELECT vector_row FROM passages WHERE doc_id IN ({marks})", doc_ids)]
            if not rows:
                return []
            scores = self.dense.search_subset(query_vector, np.asarray(rows, dtype=np.int64))
            self._check_similarities(scores)
            order = np.argsort(-np.asarray(scores), kind="stable")[:CANDIDATES]
            rows = [rows[i] for i in order]
        by_row = self._passages_by_row(rows)
        return [by_row[row] for row in rows if row in by_row]

    def _check_similarities(self, scores: np.ndarray) -> None:
        """Unit vectors have cosines in [-1, 1]; anything else comes from a damaged vectors file
        (a cheap guard on every query; `gtindex doctor` compares the file with its sha256)."""
        scores = np.asarray(scores, dtype=np.float64)
        if scores.size and not (np.isfinite(scores).all() and np.abs(scores).max() <= 1 + COSINE_SLACK):
            raise store.IndexError_(
                f"{self.generation.vectors_path} is damaged (a similarity of {scores[np.argmax(np.abs(scores))]:.3g}); "
                "check the index with `gtindex doctor`, rebuild with `gtindex build --rebuild`"
            )

    def _passages_by_row(self, rows: list[int]) -> dict[int, int]:
        if not rows:
            return {}
        marks = ",".join("?" * len(rows))
        return {
            r["vector_row"]: r["passage_id"]
            for r in self.conn.execute(f"SELECT vector_row, passage_id FROM passages WHERE vector_row IN ({marks})", rows)
        }

    def _candidates(self, top: list[tuple[int, float]]) -> list[_Candidate]:
        if not top:
            return []
        ids = [pid for pid, _ in top]
        marks = ",".join("?" * len(ids))
        rows = {
            r["passage_id"]: r
            for r in self.conn.execute(f"SELECT * FROM passages WHERE passage_id IN ({marks})", ids)
        }
        return [
            _Candidate(pid, rows[pid]["doc_id"], rows[pid]["seq_start"], rows[pid]["seq_end"],
                       rows[pid]["section"], rows[pid]["text"], score)
            for pid, score in top
        ]

    # ------------------------------------------------------------------ narrowing

    def _hits(self, candidates: list[_Candidate], query_vector: np.ndarray, query: lexical.LexicalQuery, k: int) -> list[Hit]:
        hits: list[Hit] = []
        taken: list[tuple[int, int, int]] = []  # (doc_id, seq_start, seq_end) of passages already cited
        for candidate in candidates:
            if any(d == candidate.doc_id and s <= candidate.seq_end and candidate.seq_start <= e for d, s, e in taken):
                continue  # an overlapping window of a place already cited
            first, last = self._narrow(candidate, query_vector, query)
            taken.append((candidate.doc_id, candidate.seq_start, candidate.seq_end))
            hit = self._hit(len(hits) + 1, candidate, first, last)
            hit.superseded_by = self._superseded_by.get(candidate.doc_id, "")
            hits.append(hit)
            if len(hits) == k:
                break
        return hits

    def _narrow(self, candidate: _Candidate, query_vector: np.ndarray, query: lexical.LexicalQuery) -> tuple[int, int]:
        """The seq range of the passage's sentence that best answers the query."""
        spans = self.conn.execute(
            "SELECT spans.seq_start, spans.seq_end, spans.text, embeddings.vector FROM spans"
            " JOIN embeddings ON embeddings.content_hash = spans.content_hash"
            " WHERE spans.doc_id = ? AND spans.seq_start >= ? AND spans.seq_end <= ?"
            " ORDER BY spans.seq_start",
            (candidate.doc_id, candidate.seq_start, candidate.seq_end),
        ).fetchall()
        if not spans:
            return candidate.seq_start, candidate.seq_end
        vectors = np.stack([np.frombuffer(s["vector"], dtype=np.float32) for s in spans])
        dense_scores = vectors @ query_vector
        words = query.words
        best = max(
            range(len(spans)),
            key=lambda i: float(dense_scores[i]) + OVERLAP_WEIGHT * _overlap(words, spans[i]["text"]),
        )
        return spans[best]["seq_start"], spans[best]["seq_end"]

    def _hit(self, rank: int, candidate: _Candidate, first: int, last: int) -> Hit:
        info = self._documents[candidate.doc_id]
        rows = self.conn.execute(
            "SELECT * FROM lines WHERE doc_id = ? AND seq BETWEEN ? AND ? ORDER BY seq",
            (candidate.doc_id, first, last),
        ).fetchall()
        return Hit(
            rank=rank, doc=info.doc, title=info.title, status=info.status, date=info.date,
            center=info.center, section=candidate.section, line_kind=info.line_kind,
            lines=[cited_line_from_row(row) for row in rows], context=candidate.text,
            score=candidate.score, designation=info.designation,
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


def _superseded_by(conn: sqlite3.Connection) -> dict[int, str]:
    """doc_id → name of the newer version, for superseded documents (see versions.py)."""
    rows = conn.execute(
        "SELECT versions.doc_id, documents.doc FROM versions JOIN documents ON documents.doc_id = versions.related"
        " WHERE versions.role = 'superseded'"
    )
    return {doc_id: name for doc_id, name in rows}


OVERLAP_WEIGHT = 0.3


def _overlap(words: set[str], text: str) -> float:
    """Share of the query's words found in the text (prefix match stands in for stemming)."""
    if not words:
        return 0.0
    tokens = set(lexical.tokenize(text))
    found = sum(1 for word in words if any(_same_word(word, token) for token in tokens))
    return found / len(words)


def _same_word(a: str, b: str) -> bool:
    if a == b:
        return True
    stem = max(4, min(len(a), len(b)) - 2)
    return len(a) >= 4 and len(b) >= 4 and a[:stem] == b[:stem]


def _require_utf8(text: str, what: str) -> None:
    """Bytes that are not UTF-8 (a terminal set to another encoding) reach Python as lone
    surrogates, which neither the tokenizer nor SQLite accepts."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise GtindexError(f"the {what} is not valid UTF-8 text; check the terminal's character encoding") from None


def _reciprocal_rank_fusion(rankings: list[list[int]]) -> list[tuple[int, float]]:
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, passage_id in enumerate(ranking):
            scores[passage_id] = scores.get(passage_id, 0.0) + 1.0 / (RRF_K + rank + 1)
    return sorted(scores.items(), key=lambda item: -item[1])

