"""What retrieval hands to fusion and narrowing: candidate sentences and their signals."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..lexical import LexicalQuery


@dataclass(frozen=True)
class Span:
    """A candidate sentence: its document, lines (lines.seq) and the passages holding it."""

    span_id: int
    doc_id: int
    seq_start: int
    seq_end: int
    passages: tuple[int, ...]  # passages holding the sentence


@dataclass
class Signals:
    """Candidate sentences and what each retriever said about them (or their passages)."""

    spans: dict[int, Span] = field(default_factory=dict)
    query: LexicalQuery | None = None  # the query as bm25 read it (None in dense mode)
    span_dense: dict[int, float] = field(default_factory=dict)
    passage_dense: dict[int, float] = field(default_factory=dict)
    span_lexical: dict[int, float] = field(default_factory=dict)
    passage_lexical: dict[int, float] = field(default_factory=dict)
    reference_lexical: dict[int, float] = field(default_factory=dict)  # share of the query's references cited
    reference_placed: dict[int, float] = field(default_factory=dict)  # share of them its heading or title holds
    lexical_trust: float = 1.0  # bm25's weight factor, from how many query words the best passages hold
    titled: dict[int, tuple] = field(default_factory=dict)  # doc_id -> the query's references its title states
    by_provision: set[int] = field(default_factory=set)  # citing them only through a provision holding them
