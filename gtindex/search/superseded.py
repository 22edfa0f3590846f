"""Superseded drafts: which documents a newer version replaced, and which of their
sentences that version restates (those are the final's to cite)."""
from __future__ import annotations

import sqlite3

from .. import lexical
from .candidates import Span
from .config import RESTATED_SHARE, RESTATED_SHINGLE


def superseded_by(conn: sqlite3.Connection) -> dict[int, tuple[int, str]]:
    """doc_id → (doc_id, name) of the newer version, for superseded documents (versions.py)."""
    rows = conn.execute(
        "SELECT versions.doc_id, documents.doc_id, documents.doc FROM versions"
        " JOIN documents ON documents.doc_id = versions.related WHERE versions.role = 'superseded'"
    )
    return {doc_id: (final_id, name) for doc_id, final_id, name in rows}


class Restatements:
    """Does the version that superseded a sentence's document hold the same words? Most of
    the sentence's word runs (RESTATED_SHINGLE words) must occur in the final: a page break
    or a text box can split the final's copy of a sentence, while a reworded one shares few."""

    def __init__(self, conn: sqlite3.Connection, finals: dict[int, tuple[int, str]]):
        self._conn = conn
        self._finals = finals
        self._shingles: dict[int, set] = {}  # final doc_id -> its word runs, read on first use

    def __call__(self, span: Span) -> bool:
        final = self._finals.get(span.doc_id)
        if final is None:
            return False
        final_id = final[0]
        if final_id not in self._shingles:
            rows = self._conn.execute("SELECT text FROM lines WHERE doc_id = ? ORDER BY seq", (final_id,))
            self._shingles[final_id] = shingles([word for (text,) in rows for word in lexical.tokenize(text)])
        (text,) = self._conn.execute("SELECT text FROM spans WHERE span_id = ?", (span.span_id,)).fetchone()
        own = shingles(lexical.tokenize(text))
        return bool(own) and len(own & self._shingles[final_id]) >= RESTATED_SHARE * len(own)


def shingles(words: list[str]) -> set[tuple[str, ...]]:
    """The runs of RESTATED_SHINGLE consecutive words (the whole text when shorter)."""
    if len(words) < RESTATED_SHINGLE:
        return {tuple(words)} if words else set()
    return {tuple(words[i:i + RESTATED_SHINGLE]) for i in range(len(words) - RESTATED_SHINGLE + 1)}
