"""Fusion: the candidate sentences in the order hits are cited, from their signals."""
from __future__ import annotations

from .candidates import Signals, Span


def ranked(signals: Signals, weights: dict[str, float]) -> list[tuple[Span, float]]:
    """(sentence, score), best first: the sentences citing more of the query's references,
    then the weighted sum of the signals (config.WEIGHTS)."""
    # The passage signals and bm25 are divided by the query's best score for them, so 1.0
    # means "the best match" (bm25 has no fixed scale; passage cosines shift with the
    # query). The sentence cosine stays absolute: it tells a sentence that answers from
    # one that only shares the passage (scaling it too measured worse on dev.jsonl).
    trust = signals.lexical_trust
    span_dense = {key: weights.get("span_dense", 0.0) * value for key, value in signals.span_dense.items()}
    span_lexical = _scaled(signals.span_lexical, trust * weights.get("span_lexical", 0.0))
    passage_dense = _scaled(signals.passage_dense, weights.get("passage_dense", 0.0))
    passage_lexical = _scaled(signals.passage_lexical, trust * weights.get("passage_lexical", 0.0))
    reference = {key: weights.get("reference_lexical", 0.0) * value
                 for key, value in signals.reference_lexical.items()}
    scored = []
    for span_id, span in signals.spans.items():
        score = span_dense.get(span_id, 0.0) + span_lexical.get(span_id, 0.0) + reference.get(span_id, 0.0)
        if passage_dense:
            score += max([passage_dense.get(p, 0.0) for p in span.passages], default=0.0)
        if passage_lexical:
            score += max([passage_lexical.get(p, 0.0) for p in span.passages], default=0.0)
        scored.append((span, score))
    # A reference the user typed ("21 CFR 107.240") means the places stating it: those
    # rank first, by how many of the query's references they state, then by score.
    # A weight would let "21 CFR" in a footnote listing other sections outscore them.
    cited = signals.reference_lexical
    placed = signals.reference_placed
    scored.sort(key=lambda item: (-cited.get(item[0].span_id, 0.0), -placed.get(item[0].span_id, 0.0), -item[1],
                                  item[0].span_id))
    return scored


def _scaled(scores: dict[int, float], weight: float) -> dict[int, float]:
    top = max(scores.values(), default=0.0) or 1.0
    return {key: weight * value / top for key, value in scores.items()} if weight else {}
