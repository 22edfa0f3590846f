"""References a user types ("21 CFR 107.240", "506(c)", "Q3C"): which sentences cite them."""
from __future__ import annotations

from .. import lexical
from .candidates import Span


def titled(query: lexical.LexicalQuery, titles: dict[int, str]) -> dict[int, tuple]:
    """doc_id → the query's references that the document's title states ("Q3C(R8)")."""
    found = {doc_id: query.cited_by(title) for doc_id, title in titles.items()}
    return {doc_id: refs for doc_id, refs in found.items() if refs}


def shares(spans: dict[int, Span], references: dict[tuple[str, ...], lexical.Citing],
           titled: dict[int, tuple]) -> dict[int, float]:
    """span_id → share of the query's references ("314.101(d)(5)", "3.3", "Q3C") that the
    sentence states, that head its section or that its document's title states: a user who
    types a section number means that place, which a sentence under the heading "3.3 Class 2
    Solvents" is, though it never says so, and "Q3C" means the guideline titled so."""
    result = {}
    for span_id, span in spans.items():
        cited = sum(
            span_id in found.spans or any(p in found.headed_passages for p in span.passages)
            or phrase in titled.get(span.doc_id, ())
            for phrase, found in references.items()
        )
        if cited:
            result[span_id] = cited / len(references)
    return result
