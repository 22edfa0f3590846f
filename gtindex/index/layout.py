"""The layout: which document and lines each sentence and passage covers, and which
passages hold each sentence, as int32 arrays stored in the index's `layout` table."""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields

import numpy as np

from ..errors import IndexError_


@dataclass(frozen=True)
class Layout:
    """Which document and lines each sentence and passage covers, and which passages hold
    each sentence, as int32 arrays indexed by id (element 0 unused; ids run from 1).

    Search maps ~700 candidate sentences a query to their places and passages, and turns
    a document filter into the rows it keeps: from these arrays that is well under a
    millisecond; as SQL lookups, ~10 ms a query and ~100 ms for a fresh process's first
    filter. Stored as blobs (table `layout`, one row per field, little-endian int32), so
    loading costs one read, not a row scan.
    """

    doc: np.ndarray  # span_id -> doc_id
    seq_start: np.ndarray  # span_id -> first line (lines.seq)
    seq_end: np.ndarray  # span_id -> last line
    holder_offsets: np.ndarray  # span_id -> slice of holder_passages
    holder_passages: np.ndarray
    held_offsets: np.ndarray  # passage_id -> slice of held_spans
    held_spans: np.ndarray
    passage_doc: np.ndarray  # passage_id -> doc_id

    @classmethod
    def of(cls, spans: list[tuple[int, int, int]], pairs: list[tuple[int, int]], passage_docs: list[int]) -> "Layout":
        """spans: (doc_id, seq_start, seq_end) of span ids 1..n; pairs: (span_id, passage_id);
        passage_docs: doc_id of passage ids 1..m."""
        places = np.zeros((len(spans) + 1, 3), dtype=np.int64)
        if spans:
            places[1:] = spans
        pairs_array = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        by_span = pairs_array[np.lexsort((pairs_array[:, 1], pairs_array[:, 0]))]
        by_passage = pairs_array[np.lexsort((pairs_array[:, 0], pairs_array[:, 1]))]
        return cls(
            places[:, 0].astype("<i4"), places[:, 1].astype("<i4"), places[:, 2].astype("<i4"),
            _offsets(by_span[:, 0], len(spans) + 1), by_span[:, 1].astype("<i4"),
            _offsets(by_passage[:, 1], len(passage_docs) + 1), by_passage[:, 0].astype("<i4"),
            np.asarray([0, *passage_docs], dtype="<i4"),
        )

    @property
    def span_count(self) -> int:
        return len(self.doc) - 1

    @property
    def passage_count(self) -> int:
        return len(self.passage_doc) - 1

    def holders(self, span_id: int) -> np.ndarray:
        return self.holder_passages[self.holder_offsets[span_id]:self.holder_offsets[span_id + 1]]

    def held(self, passage_ids: Iterable[int]) -> np.ndarray:
        """Every sentence these passages hold."""
        parts = [self.held_spans[self.held_offsets[p]:self.held_offsets[p + 1]] for p in passage_ids]
        return np.concatenate(parts) if parts else np.zeros(0, dtype="<i4")

    def in_documents(self, table: str, doc_ids: list[int]) -> np.ndarray:
        """Boolean array by span_id ("spans") or passage_id ("passages"): in these documents?"""
        allowed = np.isin(self.doc if table == "spans" else self.passage_doc, doc_ids)
        allowed[0] = False
        return allowed

    def write(self, conn: sqlite3.Connection) -> None:
        conn.executemany("INSERT INTO layout(name, data) VALUES (?, ?)",
                         [(name, getattr(self, name).astype("<i4").tobytes()) for name in LAYOUT_FIELDS])

    @classmethod
    def read(cls, conn: sqlite3.Connection) -> "Layout":
        stored = dict(conn.execute("SELECT name, data FROM layout"))
        missing = [name for name in LAYOUT_FIELDS if name not in stored]
        if missing:
            raise IndexError_(f"the index has no layout ({', '.join(missing)}); rebuild with `gtindex build --rebuild`")
        return cls(**{name: np.frombuffer(stored[name], dtype="<i4") for name in LAYOUT_FIELDS})


LAYOUT_FIELDS = tuple(field.name for field in dataclass_fields(Layout))


def _offsets(ids: np.ndarray, size: int) -> np.ndarray:
    """CSR offsets: entries of id i are [offsets[i], offsets[i + 1]) of an array sorted by id."""
    return np.concatenate([[0], np.cumsum(np.bincount(ids, minlength=size))]).astype("<i4")

