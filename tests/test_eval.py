"""Gold-set scoring: the matching rules on constructed hits, and the quality bar on the real index."""
from __future__ import annotations

import json

import pytest

from conftest import DEV_GOLD
from gtindex.citations import CitedLine, Hit
from gtindex.errors import GtindexError
from gtindex.evaluate import GoldEntry, GoldQuery, Scores, answers, evaluate, exact_lines, load_gold, score_query
from gtindex.search import Index

QUOTE = "Early-phase GT clinical trial protocols should generally include study stopping rules"


def _hit(doc="a.pdf", numbers=(348, 350), page=11, text=QUOTE, kind="printed", rank=1):
    lines = [
        CitedLine(page=page, page_label="9", line=n if kind != "computed" else None, line_on_page=i + 1,
                  text=text if i == 0 else "more words")
        for i, n in enumerate(range(numbers[0], numbers[1] + 1))
    ]
    return Hit(rank, doc, "T", "draft", "July 2018", "CBER", "V. X > D. Safety", kind, lines, text, 1.0)


def test_printed_gold_needs_overlapping_lines_and_exact_needs_plus_minus_one():
    gold = GoldEntry("a.pdf", 11, (348, 350), QUOTE)
    names = {"a.pdf": "a.pdf"}
    assert answers(_hit(numbers=(350, 353)), gold, names)
    assert not answers(_hit(numbers=(351, 353)), gold, names)
    assert not answers(_hit(doc="b.pdf"), gold, names)
    assert exact_lines(_hit(numbers=(347, 351)), gold)
    assert not exact_lines(_hit(numbers=(347, 352)), gold)
    assert not exact_lines(_hit(numbers=(346, 350)), gold)


def test_computed_gold_needs_the_page_and_half_the_quote_words():
    gold = GoldEntry("a.pdf", 11, None, QUOTE)
    names = {"a.pdf": "a.pdf"}
    assert answers(_hit(kind="computed"), gold, names)
    assert not answers(_hit(kind="computed", page=12), gold, names)
    assert not answers(_hit(kind="computed", text="stopping rules only"), gold, names)
    web = GoldEntry("a.pdf", None, None, QUOTE)
    assert answers(_hit(kind="paragraph", page=1), web, names)
    assert answers(_hit(doc="canonical.pdf"), gold, {"a.pdf": "canonical.pdf"})  # a second name of one document


def test_scores_rank_mrr_and_exact_lines():
    gold = GoldQuery("q", "stopping rules", "keyword", (GoldEntry("a.pdf", 11, (348, 350), QUOTE),))
    hits = [_hit(doc="b.pdf", rank=1), _hit(numbers=(349, 350), rank=2)]
    result = score_query(gold, hits, {})
    assert result.rank == 2 and result.exact_lines is False
    scores = Scores.of([result, score_query(gold, [_hit()], {})])
    assert scores.hit_at_1 == 0.5 and scores.hit_at_5 == 1.0
    assert scores.mrr_at_10 == pytest.approx((0.5 + 1.0) / 2)
    assert scores.exact_lines_at_1 == 0.5 and scores.line_numbered == 2
    assert scores.hit_at_100 == 1.0


def test_answers_beyond_ten_count_in_hit_at_100_but_not_in_mrr():
    gold = GoldQuery("q", "stopping rules", "keyword", (GoldEntry("a.pdf", 11, (348, 350), QUOTE),))
    hits = [_hit(doc="b.pdf", rank=rank) for rank in range(1, 12)] + [_hit(rank=12)]
    late, missed = score_query(gold, hits, {}), score_query(gold, hits[:11], {})
    assert late.rank == 12 and missed.rank is None
    scores = Scores.of([late, missed])
    assert scores.mrr_at_10 == 0.0 and scores.hit_at_5 == 0.0
    assert scores.hit_at_100 == 0.5


def test_bad_gold_file_is_a_clear_error(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text('{"id": "x", "query": "q", "gold": []}\n{"id": "y"}\n')
    with pytest.raises(GtindexError, match="gold.jsonl:2"):
        load_gold(path)
    assert len(load_gold(DEV_GOLD)) == len([line for line in DEV_GOLD.read_text().splitlines() if line.strip()])


# Regression floor, not the goal. Issue 3 asks for hit@5 >= 0.90, MRR@10 >= 0.75 and exact
# lines@1 >= 0.80; measured on 2026-11-23 on a fresh build the hybrid index reached hit@5
# 0.76, MRR@10 0.62 and exact lines@1 0.67 (dense alone 0.64 / 0.48 / 0.28, lexical alone
# 0.56 / 0.50 / 0.50; see `make bench`). The floor catches a search that breaks; raise it as
# retrieval improves.
FLOOR_HIT_AT_5, FLOOR_MRR_AT_10, FLOOR_EXACT_LINES_AT_1 = 0.62, 0.50, 0.50


@pytest.mark.slow
def test_dev_set_stays_above_the_regression_floor(corpus_index):
    with Index.open(corpus_index) as index:
        report = evaluate(index, DEV_GOLD, mode="hybrid")
    summary = json.dumps(report.to_json()["overall"])
    misses = "\n".join(f"{r.query.id} {r.query.query} -> {r.top[:1]}" for r in report.misses)
    assert report.overall.queries == 55
    assert report.overall.hit_at_5 >= FLOOR_HIT_AT_5, summary + "\n" + misses
    assert report.overall.mrr_at_10 >= FLOOR_MRR_AT_10, summary + "\n" + misses
    assert report.overall.exact_lines_at_1 >= FLOOR_EXACT_LINES_AT_1, summary + "\n" + misses


@pytest.mark.slow
def test_fusion_beats_either_retriever_alone(corpus_index):
    with Index.open(corpus_index) as index:
        mrr = {mode: evaluate(index, DEV_GOLD, mode=mode).overall.mrr_at_10 for mode in ("hybrid", "dense", "lexical")}
    assert mrr["hybrid"] > max(mrr["dense"], mrr["lexical"]), mrr
