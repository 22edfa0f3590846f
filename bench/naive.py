"""The naive baseline `make bench` runs beside gtindex: what a LangChain-style pipeline does.

Page text from pdfplumber (web pages: their text), cut into 1,000-character chunks with
200 characters of overlap; MiniLM (the same bundled model) and bm25 (SQLite FTS5, porter)
rank the chunks; reciprocal rank fusion (k=60) merges the two rankings. No sections, no
line numbers, no narrowing: a hit is a chunk, cited by document and page.

It is scored by gtindex's own scorer (evaluate.answers): a chunk has no printed lines, so it
is judged by the quote rule (same document, its page covers the gold page, and its text holds
half of the quote's words), which is more lenient than the line rule gtindex is held to.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from gtindex.citations import CitedLine, Hit
from gtindex.evaluate import GoldQuery, QueryResult, score_query
from gtindex.sources.ingest import discover, sniff
from gtindex.lexical import build_query

CHUNK_CHARS = 1000  # LangChain RecursiveCharacterTextSplitter's usual chunk_size
CHUNK_OVERLAP = 200  # ... and chunk_overlap
RRF_K = 60  # the constant of Cormack et al. (2009), used unchanged by every RRF library
DEPTH = 100  # chunks taken from each ranking


@dataclass(frozen=True)
class Chunk:
    doc: str
    page: int  # physical page, 1-based (web pages: 1)
    text: str


def split(text: str, size: int = CHUNK_CHARS, overlap: int = CHUNK_OVERLAP) -> list[str]:
    """Windows of at most `size` characters, `overlap` shared, cut at whitespace."""
    words, chunks, current = text.split(), [], []
    length = 0
    for word in words:
        if current and length + 1 + len(word) > size:
            chunks.append(" ".join(current))
            kept, kept_length = [], 0
            for old in reversed(current):  # carry the last `overlap` characters over
                if kept_length + len(old) + 1 > overlap:
                    break
                kept.insert(0, old)
                kept_length += len(old) + 1
            current, length = kept, max(0, kept_length - 1)
        current.append(word)
        length += len(word) + (1 if length else 0)
    if current:
        chunks.append(" ".join(current))
    return chunks


def page_texts(path: Path) -> list[str]:
    if sniff(path) == "html":
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(path.read_bytes(), "lxml")
        for tag in soup(["script", "style"]):
            tag.decompose()
        return [soup.get_text(" ")]
    import pdfplumber

    with pdfplumber.open(path) as pdf:
        return [page.extract_text() or "" for page in pdf.pages]


def chunk_corpus(corpus: Path) -> list[Chunk]:
    chunks = []
    for path in discover([corpus]):
        for page, text in enumerate(page_texts(path), 1):
            chunks += [Chunk(path.name, page, piece) for piece in split(text)]
    return chunks


class NaiveIndex:
    def __init__(self, chunks: list[Chunk], encoder):
        self.chunks = chunks
        self.encoder = encoder
        self.vectors = encoder.encode([chunk.text for chunk in chunks])
        self.conn = sqlite3.connect(":memory:")
        self.conn.execute("CREATE VIRTUAL TABLE chunks USING fts5(text, tokenize='porter unicode61')")
        self.conn.executemany("INSERT INTO chunks(rowid, text) VALUES (?, ?)",
                              ((i, chunk.text) for i, chunk in enumerate(chunks)))

    def _bm25(self, query: str) -> list[int]:
        match = build_query(query).to_fts()  # every word quoted and OR-ed: nothing is syntax
        if not match:
            return []
        sql = "SELECT rowid FROM chunks WHERE chunks MATCH ? ORDER BY bm25(chunks) LIMIT ?"
        return [row[0] for row in self.conn.execute(sql, (match, DEPTH))]

    def _dense(self, query: str) -> list[int]:
        scores = self.vectors @ self.encoder.encode([query])[0]
        return np.argsort(-scores)[:DEPTH].tolist()

    def search(self, query: str, k: int = DEPTH) -> list[Hit]:
        fused = rrf(self._dense(query), self._bm25(query))
        return [self._hit(rank, self.chunks[row], score) for rank, (row, score) in enumerate(fused[:k], 1)]

    @staticmethod
    def _hit(rank: int, chunk: Chunk, score: float) -> Hit:
        line = CitedLine(page=chunk.page, page_label=None, line=None, line_on_page=1, text=chunk.text)
        return Hit(rank=rank, doc=chunk.doc, title=chunk.doc, status="", date="", center="", section="",
                   line_kind="computed", lines=[line], context=chunk.text, score=score)


def rrf(*rankings: list[int]) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: (id, sum of 1 / (RRF_K + rank)) best first, ties by id."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, 1):
            fused[key] = fused.get(key, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def evaluate_naive(index: NaiveIndex, queries: list[GoldQuery]) -> list[QueryResult]:
    """Scored by gtindex's scorer by the quote rule (a chunk has no printed lines to
    compare), so exact lines@1 does not apply; every document name is its own file name."""
    names = {chunk.doc: chunk.doc for chunk in index.chunks}
    lenient = [replace(query, gold=tuple(replace(entry, lines=None) for entry in query.gold)) for query in queries]
    return [score_query(query, index.search(query.query), names) for query in lenient]
