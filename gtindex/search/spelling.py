"""The hint a search that found nothing gives: each word of the query that stands nowhere in
the index, with the index's words spelled most like it ("immunogenicty" -> "immunogenicity").

Only on that path: reading the vocabulary costs about 0.4 s on the shared corpus, nothing
on a search that finds something. difflib's ratio does the comparing.
"""
from __future__ import annotations

import difflib
import re
import sqlite3

from .. import lexical
from .config import MIN_WORD, SUGGEST_CUTOFF, SUGGESTIONS

_WORD = re.compile(r"[^\W\d_]+")


def suggestions(conn: sqlite3.Connection, query: str) -> dict[str, list[str]]:
    """Each word of the query (letters only, not a stopword) that no document holds → up to
    SUGGESTIONS words of the index spelled like it, best first (possibly none)."""
    vocabulary = _vocabulary(conn)
    unknown = [word for word in dict.fromkeys(w.lower() for w in _WORD.findall(query))
               if len(word) >= MIN_WORD and word not in lexical.STOPWORDS and word not in vocabulary]
    return {word: difflib.get_close_matches(word, vocabulary, n=SUGGESTIONS, cutoff=SUGGEST_CUTOFF)
            for word in unknown}


def _vocabulary(conn: sqlite3.Connection) -> set[str]:
    """The words of every sentence, section path and title: where lexical.occurs looks."""
    words: set[str] = set()
    texts = ("SELECT text FROM spans UNION ALL SELECT DISTINCT section FROM passages"
             " UNION ALL SELECT title FROM documents")
    for (text,) in conn.execute(texts):
        words.update(word.lower() for word in _WORD.findall(text) if len(word) >= MIN_WORD)
    return words
