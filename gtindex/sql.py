"""Bound variables in batches: a statement that names many ids (`IN (?, ?, …)`) is cut so
that each binds at most SQL_VARIABLES, below SQLite's oldest limit of 999 (builds before
3.32 still ship in some Pythons)."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

SQL_VARIABLES = 900  # variables bound per statement: below SQLite's oldest limit of 999

T = TypeVar("T")


def batches(items: Sequence[T], variables_each: int = 1) -> Iterator[Sequence[T]]:
    """`items` in order, cut so that each batch binds at most SQL_VARIABLES variables
    (`variables_each` per item: 2 for a (doc_id, seq) pair)."""
    size = max(1, SQL_VARIABLES // variables_each)
    for start in range(0, len(items), size):
        yield items[start:start + size]
