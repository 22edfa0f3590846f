"""Narrowing: from ranked sentences to the places a hit cites (1-4 lines, one hit a place)."""
from __future__ import annotations

from collections.abc import Callable, Container, Iterator

from .candidates import Span
from .config import EXTEND_LEXICAL_SHARE, EXTEND_MARGIN, MAX_CITED_LINES


def places(ranked: list[tuple[Span, float]], k: int, span_lexical: dict[int, float],
           superseded: Container[int] = (), restated: Callable[[Span], bool] | None = None,
           margin: float = EXTEND_MARGIN) -> Iterator[tuple[Span, int, int, float]]:
    """(sentence, first seq, last seq, score) of the first k places, best first: the
    sentence, joined by neighbours that answer nearly as well (see extend). A sentence
    whose every line is cited already is one of those places; one that only shares a line
    with a place (sentences end mid-line) is a place of its own, citing its own lines: the
    earlier citation does not hold it. `restated(span)` is true for a
    sentence of a superseded document (`superseded`: their doc_ids) that its final holds:
    that sentence is the final's to cite, and no such neighbour joins a draft's citation.
    `margin`: extend's join margin (config.EXTEND_MARGIN; the bench's cross-validation
    varies it)."""
    by_doc: dict[int, list[tuple[Span, float]]] = {}
    for span, score in ranked:
        by_doc.setdefault(span.doc_id, []).append((span, score))
    taken: list[tuple[int, int, int]] = []  # (doc_id, first seq, last seq) already cited

    def already_cited(doc_id: int, start: int, end: int) -> bool:
        """Some of these lines are cited already."""
        return any(d == doc_id and first <= end and start <= last for d, first, last in taken)

    def all_cited(doc_id: int, start: int, end: int) -> bool:
        """Every one of these lines is cited already."""
        return all(any(d == doc_id and first <= seq <= last for d, first, last in taken)
                   for seq in range(start, end + 1))

    for span, score in ranked:
        if len(taken) == k:
            return
        if all_cited(span.doc_id, span.seq_start, span.seq_end):
            continue
        same_doc = by_doc[span.doc_id]
        if restated is not None and span.doc_id in superseded:
            if restated(span):
                continue
            same_doc = [(other, value) for other, value in same_doc
                        if abs(other.seq_start - span.seq_start) > MAX_CITED_LINES or not restated(other)]
        first, last = extend(span, score, same_doc, span_lexical, margin)
        if already_cited(span.doc_id, first, last):  # grown into (or sharing a line with) a place cited
            first, last = span.seq_start, span.seq_end
        taken.append((span.doc_id, first, last))
        yield span, first, last, score


def extend(span: Span, score: float, same_doc: list[tuple[Span, float]], span_lexical: dict[int, float],
           margin: float = EXTEND_MARGIN) -> tuple[int, int]:
    """The cited seq range: the sentence, joined by the sentences right before or after it
    that answer nearly as well (within `margin` of its score: an answer often runs over two sentences), up to
    MAX_CITED_LINES lines. A neighbour also joins when it matches the query's words nearly
    as well as the sentence does (bm25 within EXTEND_LEXICAL_SHARE): the model may prefer
    one of two sentences about "stopping rules", but the one that defines them belongs in
    the citation too."""
    first, last = span.seq_start, span.seq_end
    own_bm25 = span_lexical.get(span.span_id, 0.0)

    def joins(other: Span, other_score: float) -> bool:
        if other is span:
            return False
        lexically_as_good = own_bm25 > 0 and span_lexical.get(other.span_id, 0.0) >= EXTEND_LEXICAL_SHARE * own_bm25
        return other_score >= score - margin or lexically_as_good

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
