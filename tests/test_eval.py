"""Gold-set scoring: the matching rules on constructed hits, and the quality bar on the real index."""
from __future__ import annotations

import json
import re

import pytest

from conftest import DEV_GOLD, OWN_GOLD, UNSEEN_GOLD
from gtindex.citations import CitedLine, Hit
from gtindex.errors import GtindexError
from gtindex.evaluate import (ACT_SECTION, CFR, CFR_PART, ICH, ICH_SECTION, REFERENCE_KINDS, GoldEntry, GoldQuery, ReferenceQuery,
                              Scores, _stated_sections, answers, evaluate, evaluate_references, exact_lines, load_gold,
                              guideline_section_queries, reference_queries, score_query, typed_otherwise,
                              with_unstated_subdivision)
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


@pytest.mark.parametrize(("content", "message"), [
    (b'{"id": "a", "query": "x", "gold": [{"doc": "d.pdf", "pdf_page": "eleven", "lines": "x"}]}\n',
     "gold.jsonl:1: not a gold record (pdf_page 'eleven' is not a page number)"),  # was an IndexError traceback
    (b'{"id": "a", "query": "x", "gold": [{"doc": "d.pdf", "lines": [12]}]}\n',
     "gold.jsonl:1: not a gold record (lines [12] is not [first, last])"),
    (b'{"id": "a", "query": "x", "gold": []}\n{"id": "b", "query": "r\xe8gles", "gold": []}\n',
     "gold.jsonl:2: not UTF-8 (byte 0xe8)"),  # was a UnicodeDecodeError traceback
    (b"\n", "gold.jsonl holds no gold queries"),  # scored n=0 with exit 0
])
def test_a_gold_file_with_a_bad_record_names_its_line(tmp_path, content, message):
    path = tmp_path / "gold.jsonl"
    path.write_bytes(content)
    with pytest.raises(GtindexError) as raised:
        load_gold(path)
    assert str(raised.value).startswith(f"{tmp_path}/{message}")


def test_eval_of_a_gold_set_naming_documents_the_index_lacks_warns(small_index, tmp_path):
    """Such queries can only miss: it scored them silently, exit 0."""
    from click.testing import CliRunner

    from gtindex.cli import main

    path = tmp_path / "gold.jsonl"
    records = [{"id": "a", "query": "stopping rules", "gold": [{"doc": "fda-gt-rare-diseases-draft-2018.pdf",
                                                                  "pdf_page": 11, "lines": [348, 351], "quote": "x"}]},
               {"id": "b", "query": "stopping rules", "gold": [{"doc": "elsewhere.pdf", "pdf_page": 1, "quote": "x"}]}]
    path.write_text("".join(json.dumps(record) + "\n" for record in records))

    result = CliRunner().invoke(main, ["eval", str(path), "--index", str(small_index), "--json"])

    assert result.exit_code == 0 and json.loads(result.stdout)["overall"]["queries"] == 2
    assert result.stderr == (f"gtindex: warning: {path} names 1 document {small_index} does not hold (elsewhere.pdf); "
                             "their queries score as misses\n")


# Regression floor, not the goal. Issue 3 asks for hit@5 >= 0.90, MRR@10 >= 0.75 and exact
# lines@1 >= 0.80; measured on 2026-11-23 on a fresh build the hybrid index reached hit@5
# 0.76, MRR@10 0.62 and exact lines@1 0.67 (dense alone 0.64 / 0.48 / 0.28, lexical alone
# 0.56 / 0.50 / 0.50; see `make bench`). The floor catches a search that breaks; raise it as
# retrieval improves. With the corpus-tuned model (2026-12-06): 0.82 / 0.630 / 0.67; with its
# second tuning (sentence pairs added): 0.82 / 0.644 / 0.67; the floor sits about three
# queries lower.
FLOOR_HIT_AT_5, FLOOR_MRR_AT_10, FLOOR_EXACT_LINES_AT_1 = 0.76, 0.59, 0.50


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


# The developers' own queries, each set scored apart from dev.jsonl. eval/own.jsonl: 0.50
# hit@5, 0.43 MRR@10 when written; eval/unseen.jsonl: 0.60 / 0.49 when written (both
# 2026-12-06). With titled passages and sentences in context: 0.57 / 0.50 and 0.68 / 0.57;
# with the corpus-tuned model: 0.62 / 0.557 and 0.68 / 0.603; with its second tuning:
# 0.70 / 0.584 and 0.72 / 0.614 (floors about three queries lower).
# Floors, as above, catch a search that breaks (about three queries below today's figures).
OWN_FLOORS = {"own": (OWN_GOLD, 0.62, 0.51), "unseen": (UNSEEN_GOLD, 0.65, 0.54)}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(OWN_FLOORS))
def test_own_queries_stay_above_their_floor(corpus_index, name):
    gold, floor_hit_at_5, floor_mrr_at_10 = OWN_FLOORS[name]
    with Index.open(corpus_index) as index:
        report = evaluate(index, gold, mode="hybrid")
    summary = json.dumps(report.to_json()["overall"])
    assert report.overall.queries == 40
    assert report.overall.hit_at_5 >= floor_hit_at_5, summary
    assert report.overall.mrr_at_10 >= floor_mrr_at_10, summary


def test_stated_sections_reads_cfr_references_and_their_lists():
    text = ("notification requirements under 21 CFR\n107.240. See 21 CFR 314.3(b) and 320.25; "
            "also §§ 314.50, 314.94(a)(9) and 21 C.F.R. § 50.25(c). Table 1.2 and 3.3 are not sections.")
    assert _stated_sections(" ".join(text.split())) == {"107.240", "314.3", "320.25", "314.50", "314.94", "50.25"}


def test_act_sections_and_ich_designations_are_read_as_users_type_them():
    section = ReferenceQuery("section 506(c)", "506(c)", "x.pdf", ACT_SECTION).pattern()
    assert section.search("under section 506 (c)(1) of the FD&C Act")  # a subdivision states it too
    assert not section.search("section 1506(c)") and not section.search("section 506(cc)")
    designation = ReferenceQuery("ICH Q9", "Q9", "x.pdf", ICH).pattern()
    assert designation.search("see ICH Q9 for tools") and designation.search("QUALITY RISK MANAGEMENT Q9")
    assert not designation.search("ICH Q9(R1)") and not designation.search("Q90")


# Issue 13: a reference typed as users type it ("21 CFR 107.240", "section 506(c)", "ICH
# Q1E") must find the one document stating it, first, citing it. Measured 2026-12-07: 21 CFR
# 1.000 of 111 (0.991 before lexical.spellings), sections 1.000 of 63, ICH 1.000 of 7.
# Parts ("21 CFR Part 56"): 5 of 5 (0 of 5 before "part 56" was read as one reference).
REFERENCES_AT_1 = {CFR: 0.95, CFR_PART: 0.95, ACT_SECTION: 0.95, ICH: 0.85}
MINED_AT_LEAST = {CFR: 50, CFR_PART: 4, ACT_SECTION: 30, ICH: 5}  # mined from the corpus, not a hand-picked few


@pytest.mark.slow
def test_every_reference_stated_in_one_document_is_found_first(corpus_index):
    """Mined from the corpus, every kind; an Act's section typed without a subdivision
    ("section 519") too (3 of 9 before it was one reference, lexical._ACT_SECTION)."""
    with Index.open(corpus_index) as index:
        queries = reference_queries(index)
        report = evaluate_references(index, queries)
        top = index.search("21 CFR 107.240", k=1)[0]
    missed = "\n".join(f"{q.query} ({q.doc}) -> {t}" for q, t in report.misses)
    for kind in REFERENCE_KINDS:
        count, right = report.by_kind[kind]
        assert count >= MINED_AT_LEAST[kind], (kind, count)
        assert right >= REFERENCES_AT_1[kind], (kind, right, missed)
    bare = {q.query for q in queries if q.kind == ACT_SECTION and "(" not in q.reference}
    assert len(bare) >= 5 and not bare & {q.query for q, _ in report.misses}, (bare, missed)
    assert top.doc == "fda-cfsan-dietary-supplement-aer-qa-2013.pdf" and "107.240" in top.text.replace("\n", " ")


@pytest.mark.slow
def test_a_subdivision_no_document_states_finds_the_provision_holding_it(corpus_index):
    """"21 CFR 107.240(a)" where the corpus prints only "21 CFR 107.240": the place stating
    107.240 comes first, not a footnote that shares only "21 CFR" (2 of 111 before
    lexical.citing backed off to the provision; sections 2 of 63). "section 519(a)" where
    only "section 519" stands finds it (2 of 9 before lexical.provisions ended there)."""
    with Index.open(corpus_index) as index:
        queries = with_unstated_subdivision(index, reference_queries(index))
        report = evaluate_references(index, queries)
        top = index.search("21 CFR 107.240(a)", k=1)[0]
    missed = "\n".join(f"{q.query} ({q.doc}) -> {t}" for q, t in report.misses)
    of_bare = {q.query for q in queries if q.kind == ACT_SECTION and "(" not in q.reference}
    assert len(of_bare) >= 5 and not of_bare & {q.query for q, _ in report.misses}, (of_bare, missed)
    for kind in (CFR, ACT_SECTION):
        count, right = report.by_kind[kind]
        assert count >= MINED_AT_LEAST[kind], (kind, count)
        assert right >= REFERENCES_AT_1[kind], (kind, right, missed)
    assert all(q.query.endswith(")") and len(q.query) > len(f"{q.kind} {q.reference}") for q in queries)
    assert top.doc == "fda-cfsan-dietary-supplement-aer-qa-2013.pdf" and "107.240" in top.text.replace("\n", " ")


@pytest.mark.slow
def test_a_reference_typed_otherwise_finds_the_same_document_first(corpus_index):
    """"21CFR 20.61", "21 C.F.R. 20.61", "21CFR Part 812", "21CFR203", "section 201 (v)":
    the one document stating the reference still comes first (before lexical._joined: 76 of
    111 glued sections, 22 of 63 spaced Act subdivisions, 3 and 0 of 5 glued parts)."""
    with Index.open(corpus_index) as index:
        queries = typed_otherwise(reference_queries(index))
        report = evaluate_references(index, queries)
    missed = "\n".join(f"{q.query} ({q.doc}) -> {t}" for q, t in report.misses)
    for kind in (CFR, CFR_PART, ACT_SECTION):
        count, right = report.by_kind[kind]
        assert count >= MINED_AT_LEAST[kind], (kind, count)
        assert right >= REFERENCES_AT_1[kind], (kind, right, missed)
    assert {q.query for q in queries} >= {"21CFR 107.240", "21 C.F.R. 107.240"}


@pytest.mark.slow
def test_a_guideline_section_typed_by_number_is_found_under_its_heading(corpus_index):
    """"ICH Q3C 3.3": the first hit is in Q3C, under the heading 3.3, for every numbered
    heading of a guideline only one title names (260 of 350 before: "3.3" matched "Class 3
    3-Methylbutanol" in a solvent table, "see 4.1" and table-of-contents lines outranked
    the section itself, and the section was not always a candidate)."""
    with Index.open(corpus_index) as index:
        queries = guideline_section_queries(index)
        report = evaluate_references(index, queries)
        top = index.search("ICH Q3C 3.3", k=1)[0]
    count, right = report.by_kind[ICH_SECTION]
    assert count >= 100 and len({q.query.split()[1] for q in queries}) >= 5, count
    assert right == 1.0, [q.query for q, _ in report.misses]  # "ICH Q7 1.3" gave Q10's "1.3 … ICH Q7"
    assert top.doc == "ich-q3c-r8-residual-solvents-2021.pdf" and " > 3.3 Options" in top.section


@pytest.mark.slow
def test_every_sentence_stating_a_reference_stated_often_is_ranked_before_any_other(corpus_index):
    """A reference the corpus states in more sentences than a sentence retriever keeps
    (SPAN_CANDIDATES): every sentence stating it is a citer, ranked before every sentence
    that does not state it. Before CITING_LIMIT, only the first 100 of the 129 sentences
    stating "section 505" were (the later documents' were left to bm25), and with -k 100
    the first hit not stating it came at rank 73, not 88."""
    from gtindex import lexical
    from gtindex.search import WEIGHTS, fuse
    from gtindex.search.config import SPAN_CANDIDATES

    with Index.open(corpus_index) as index:
        citing = lexical.citing(index.conn, ("section", "505"), 10**6).spans
        ranked = [span.span_id for span, _ in fuse.ranked(index.signals("section 505", None, WEIGHTS), WEIGHTS)]
    assert len(citing) > SPAN_CANDIDATES
    assert set(ranked[:len(citing)]) == citing


@pytest.mark.slow
def test_a_code_section_typed_without_a_subdivision_is_found_first(corpus_index):
    """"21 U.S.C. 3501": every section of the Code that one document states, and only
    without a subdivision, gives that document first (4 of 6 before "U.S.C. 1261" was one
    reference: "1261" alone is any number)."""
    bare = re.compile(r"\bU\.S\.C\.?\s*(\d{1,5}[a-z]?)(?![\w(]|\.\d)")
    with Index.open(corpus_index) as index:
        texts: dict[str, str] = {}
        for doc, text in index.conn.execute("SELECT doc, text FROM lines JOIN documents USING (doc_id)"):
            texts[doc] = texts.get(doc, "") + " " + text
        stated = {(number, doc) for doc, text in texts.items() for number in bare.findall(" ".join(text.split()))}
        once = [(number, doc) for number, doc in sorted(stated)
                if sum(bool(re.search(rf"U\.S\.C\.?\s*{number}(?![\d.]\d|\d)", t)) for t in texts.values()) == 1]
        assert len(once) >= 2, once
        for number, doc in once:
            top = index.search(f"21 U.S.C. {number}", k=1)[0]
            assert top.doc == doc and re.search(rf"U\.S\.C\.?\s*{number}\b", " ".join(top.text.split())), \
                (number, doc, top.citation)


@pytest.mark.slow
def test_a_section_no_document_states_finds_its_part(corpus_index):
    """"21 CFR 50.25" where no document states 50.25: a place stating part 50, or another
    section of it, comes first, for every part whose sections the corpus states (39 of 39;
    2 before the part was the last provision tried)."""
    with Index.open(corpus_index) as index:
        text = " ".join(" ".join(row[0] for row in index.conn.execute("SELECT text FROM lines")).split())
        parts = sorted({section.split(".")[0] for section in _stated_sections(text)})
        assert len(parts) >= 20
        for part in parts:
            section = next(f"{part}.{n}" for n in range(900, 1000) if f"{part}.{n}" not in text)
            top = index.search(f"21 CFR {section}", k=1)[0]
            assert re.search(rf"\b(?:[Pp]arts?|CFR|§)\s*{part}(?:\.\d|(?!\d))", " ".join(top.text.split())), \
                (section, top.citation)


@pytest.mark.slow
@pytest.mark.parametrize("query", ["21 CFR 801.109", "21 CFR 801.109(e)", "21CFR801.109"])
def test_a_section_printed_glued_to_cfr_is_found_as_typed(corpus_index, query):
    """The patient labeling guidance prints "(21CFR801.109(e))"; no other document states
    801.109. Typed spaced or glued, it comes first, citing that line."""
    with Index.open(corpus_index) as index:
        top = index.search(query, k=1)[0]
    assert top.doc == "fda-cdrh-medical-device-patient-labeling-2001.pdf"
    assert "21CFR801.109(e)" in top.text


@pytest.mark.slow
def test_a_footnote_listing_other_sections_does_not_answer_a_reference(corpus_index):
    """The bioavailability footnote "21 CFR 314.3(b) ... 21 CFR 320.25" once came first for
    every "21 CFR <section>" query; a place stating the section must outrank it."""
    with Index.open(corpus_index) as index:
        hits = index.search("21 CFR 20.61", k=3)
    assert hits[0].doc == "fda-cdrh-mdr-for-manufacturers-2016.pdf" and "20.61" in hits[0].text.replace("\n", " ")
    assert all("320.25" not in hit.text for hit in hits[:1])


@pytest.mark.slow
@pytest.mark.parametrize("query, doc", [("ICH Q3C section 3.3 Class 2 solvents", "ich-q3c-r8-residual-solvents-2021.pdf"),
                                        ("E6(R2) monitoring plan", "ich-e6r2-good-clinical-practice-2016.pdf")])
def test_a_typed_designation_means_the_guideline_titled_so(corpus_index, query, doc):
    with Index.open(corpus_index) as index:
        hits = index.search(query, k=3)
    assert [hit.doc for hit in hits] == [doc] * 3
