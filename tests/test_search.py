"""Search over the real corpus index: citations end to end, filters, dedupe, safe lexical queries."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gtindex import lexical
from gtindex.citations import CitedLine, Hit, section_citation
from gtindex.errors import GtindexError
from gtindex.search import Index

pytestmark = pytest.mark.slow

RARE = "fda-gt-rare-diseases-draft-2018.pdf"


@pytest.fixture(scope="module")
def index(corpus_index):
    with Index.open(corpus_index) as opened:
        yield opened


def test_stopping_rules_cites_the_rare_diseases_safety_lines(index):
    hit = index.search("stopping rules", k=5)[0]
    assert hit.doc == RARE
    assert hit.status == "draft"
    assert hit.section.endswith("Safety Considerations")
    assert hit.page_label_start == hit.page_label_end == "9"
    assert hit.page_start == 11  # physical page
    assert hit.line_kind == "printed"
    assert 347 <= hit.line_start <= 348 and 350 <= hit.line_end <= 355
    assert "stopping" in hit.text and "rules" in hit.text
    assert [line.line for line in hit.lines] == list(range(hit.line_start, hit.line_end + 1))
    assert hit.text in hit.context or hit.lines[0].text in hit.context
    assert f"§ V.D Safety Considerations, p. 9, lines {hit.line_start}\u2013{hit.line_end}" in hit.citation
    assert hit.citation.startswith(hit.title)


def test_computed_location_for_a_pdf_without_printed_numbers(index):
    hits = index.search("Can lab staff all use one common username and password?", k=3,
                        doc="fda-data-integrity-cgmp-qa-2018.pdf")
    hit = hits[0]
    assert hit.line_kind == "computed"
    assert hit.line_start is None and hit.line_end is None
    first = hit.lines[0]
    page_text = [row["text"] for row in index.lines(hit.doc, page=first.page)[1]]
    assert page_text[first.line_on_page - 1] == first.text  # line_on_page counts the page's lines
    where = f"(PDF p. {first.page})" if first.page_label else f"PDF p. {first.page}"
    assert where in hit.citation and hit.citation.endswith("on the page (computed)")
    assert "shared" in hit.text.lower() or "login" in hit.text.lower()


def test_web_page_hits_cite_paragraphs(index):
    hit = index.search("What replaced the Recombinant DNA Advisory Committee?", k=3)[0]
    assert hit.doc.startswith("ngvb-other-helpful-resources")
    assert hit.line_kind == "paragraph"
    assert "NExTRAC" in hit.text
    assert hit.citation.endswith(f"\u00b6 {hit.line_start}") or f"\u00b6 {hit.line_start}\u2013" in hit.citation


def test_filters_restrict_documents(index):
    only = index.search("risk assessment", k=5, doc="ich-q9-quality-risk-management-2005")
    assert only and {hit.doc for hit in only} == {"ich-q9-quality-risk-management-2005.pdf"}
    drafts = index.search("risk assessment", k=10, status="draft")
    assert drafts and all(hit.status == "draft" for hit in drafts)
    recent = index.search("risk assessment", k=10, since=2020)
    assert recent and all(int(hit.date[-4:]) >= 2020 for hit in recent)
    assert index.search("risk assessment", since=2099) == []
    with pytest.raises(GtindexError, match="no document named"):
        index.search("risk", doc="no-such-guidance.pdf")


def test_hits_never_repeat_one_place(index):
    """No hit cites lines another hit cites, but for the one line where a sentence ends and
    the next begins (each is a place of its own)."""
    for query in ("stopping rules", "process validation stages", "audit trail review"):
        hits = index.search(query, k=10)
        assert [hit.rank for hit in hits] == list(range(1, len(hits) + 1))
        for i, a in enumerate(hits):
            for b in hits[i + 1:]:
                if a.doc == b.doc:
                    a_seqs = [(line.page, line.line_on_page) for line in a.lines]
                    b_seqs = [(line.page, line.line_on_page) for line in b.lines]
                    shared = set(a_seqs) & set(b_seqs)
                    assert len(shared) <= 1, (query, a.citation, b.citation)
                    assert not shared or shared <= {a_seqs[0], a_seqs[-1]} & {b_seqs[0], b_seqs[-1]}, (
                        query, a.citation, b.citation)


def test_narrowed_citations_are_short(index):
    for query in ("stopping rules", "parametric release", "concurrent validation of an API process"):
        for hit in index.search(query, k=5):
            assert 1 <= len(hit.lines) <= 4, hit.citation


@pytest.mark.parametrize("query", [
    '"', '*', 'NEAR(stopping rules)', 'title:stopping', '-rules', '(((', ')', 'AND OR NOT', 'the of and',
    'stopping" OR "x', "Q9(R1)", "21 CFR 50.53", "e-mail: a@b.c", "^rules", "{x}", "'quoted'",
])
def test_hostile_lexical_queries_never_fail(index, query):
    hits = index.search(query, k=3, mode="lexical")
    assert isinstance(hits, list)


def test_section_numbers_match_as_phrases(index):
    hit = index.search("314.101(d)(5)", k=1, mode="lexical")[0]
    assert "314.101(d)(5)" in hit.context
    hit = index.search("21 CFR 50.53", k=1, mode="lexical")[0]
    assert "50.53" in hit.context


def test_build_query_quotes_every_token():
    query = lexical.build_query('NEAR("stopping" rules*) -x 314.101(d)(5) the')
    assert query.to_fts() == '"near" OR "stopping" OR "rules" OR "x" OR "314 101 d 5"'
    assert lexical.build_query("the of and").empty


def test_section_citation_joins_numbered_labels():
    assert section_citation("V. CLINICAL TRIAL RECOMMENDATIONS > D. Safety Considerations") == "V.D Safety Considerations"
    assert section_citation("3. GUIDELINES > 3.3 Class 2 Solvents") == "3.3 Class 2 Solvents"
    assert section_citation("Strategic Plan > Advocacy") == "Advocacy"
    assert section_citation("") == ""


def test_footnote_citation():
    lines = [CitedLine(page=11, page_label="9", line=None, line_on_page=40, text="6 See 21 CFR 50.53.",
                       kind="footnote", footnote=6)]
    hit = Hit(1, "x.pdf", "A Guidance", "final", "May 2018", "CDER", "V. X", "printed", lines, "", 1.0)
    assert hit.citation == "A Guidance (May 2018), \u00a7 V X, p. 9, footnote 6"


def test_a_hit_through_several_footnotes_names_them_all():
    lines = [CitedLine(page=12, page_label="10", line=None, line_on_page=n, text=f"{n} See 21 CFR 107.{n}.",
                       kind="footnote", footnote=n) for n in (51, 52, 53)]
    hit = Hit(1, "x.pdf", "A Guidance", "final", "May 2018", "CDER", "", "printed", lines, "", 1.0)
    assert hit.citation == "A Guidance (May 2018), p. 10, footnotes 51\u201353"
    hit = Hit(1, "x.pdf", "A Guidance", "final", "May 2018", "CDER", "", "printed", [lines[0], lines[2]], "", 1.0)
    assert hit.citation.endswith("footnotes 51, 53")


def test_a_draft_is_cited_as_a_draft():
    """Most drafts' covers print "Guidance for Industry", the "Draft" on a banner line."""
    lines = [CitedLine(page=11, page_label="9", line=348, line_on_page=5, text="stopping rules")]
    def citation(status, designation, title="A Guidance"):
        return Hit(1, "x.pdf", title, status, "May 2018", "CDER", "", "printed", lines, "", 1.0,
                   designation=designation).citation
    assert citation("draft", "Guidance for Industry") == "A Guidance, Draft Guidance for Industry (May 2018), p. 9, line 348"
    assert citation("draft", "Draft Guidance for Industry").startswith("A Guidance, Draft Guidance for Industry (")
    assert citation("draft", "").startswith("A Guidance, Draft (May 2018)")
    assert citation("draft", "", title="Q9(R1) Step 2 draft").startswith("Q9(R1) Step 2 draft (May 2018)")
    assert citation("final", "Guidance for Industry").startswith("A Guidance, Guidance for Industry (")


def test_computed_lines_across_pages_name_the_physical_pages():
    """The positions are on physical pages, which `gtindex show --page N` takes: the printed
    labels alone ("from line 35 on 32") could not be checked."""
    lines = [CitedLine(page=35, page_label="32", line=None, line_on_page=35, text="a"),
             CitedLine(page=36, page_label="33", line=None, line_on_page=3, text="b")]
    hit = Hit(1, "x.pdf", "A Guidance", "final", "May 2018", "CDER", "", "computed", lines, "", 1.0)
    assert hit.citation == ("A Guidance (May 2018), pp. 32\u201333 (PDF pp. 35\u201336), "
                            "from line 35 on PDF p. 35 to line 3 on PDF p. 36 (computed)")
    unlabelled = [CitedLine(page=5, page_label=None, line=None, line_on_page=40, text="a"),
                  CitedLine(page=6, page_label=None, line=None, line_on_page=2, text="b")]
    hit = Hit(1, "x.pdf", "A Guidance", "final", "May 2018", "CDER", "", "computed", unlabelled, "", 1.0)
    assert hit.citation.endswith("PDF pp. 5\u20136, from line 40 on PDF p. 5 to line 2 on PDF p. 6 (computed)")


def test_search_process_never_imports_torch(corpus_index):
    code = textwrap.dedent(f"""
        import sys
        from gtindex.cli import main
        sys.argv = ["gtindex", "search", "stopping rules", "--index", {str(corpus_index)!r}, "--json"]
        try:
            main()
        except SystemExit as exit:
            assert exit.code == 0, exit.code
        heavy = [name for name in ("torch", "sentence_transformers", "transformers") if name in sys.modules]
        assert not heavy, heavy
    """)
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)


@pytest.mark.parametrize("table", ["spans", "passages"])
def test_filtered_dense_top_matches_brute_force(index, table):
    """Both filter strategies (after the search for a wide filter, inside FAISS for a narrow
    one) return exactly the nearest allowed rows."""
    query = index.encoder().encode(["stopping rules for gene therapy trials"])[0]
    vectors = index.retriever.span_vectors if table == "spans" else index.retriever.dense
    matrix = vectors.vectors()
    doc_ids = sorted(index._documents)
    for allowed_docs in (doc_ids[1:], doc_ids[:3]):  # most documents; a few
        rows = index.retriever.allowed_rows(table, allowed_docs)
        scores = matrix[rows] @ query
        expected = set(rows[np.argsort(-scores)[:20]].tolist())
        key = "passage_id" if table == "passages" else "span_id"
        got = index.retriever.dense_top(table, query, allowed_docs, 20)
        marks = ",".join("?" * len(got))
        got_rows = {r[0] for r in index.conn.execute(f"SELECT vector_row FROM {table} WHERE {key} IN ({marks})", got)}
        assert got_rows == expected


def test_a_neighbour_matching_the_query_words_as_well_joins_the_citation():
    from gtindex.search.candidates import Span as _Span
    from gtindex.search.config import MAX_CITED_LINES
    from gtindex.search.narrow import extend as _extend

    defining = _Span(1, 7, 10, 12, (1,))  # "... study stopping rules, which are criteria ..."
    best = _Span(2, 7, 12, 13, (1,))  # "The objective of study stopping rules is ..."
    unrelated = _Span(3, 7, 14, 14, (1,))
    same_doc = [(best, 1.7), (defining, 1.3), (unrelated, 1.2)]
    assert _extend(best, 1.7, same_doc, {2: 13.0, 3: 1.0}) == (12, 13)  # scored too low to join
    assert _extend(best, 1.7, same_doc, {2: 13.0, 1: 11.5, 3: 1.0}) == (10, 13)  # as many query words
    assert 13 - 10 < MAX_CITED_LINES


def test_the_join_margin_decides_which_neighbour_joins():
    """The bench's cross-validation varies the margin: a neighbour scoring 0.4 below joins
    under a margin of 0.5, not under the shipped one."""
    from gtindex.search.candidates import Span as _Span
    from gtindex.search.config import EXTEND_MARGIN
    from gtindex.search.narrow import extend as _extend

    before, best = _Span(1, 7, 10, 11, (1,)), _Span(2, 7, 12, 13, (1,))
    same_doc = [(best, 1.7), (before, 1.3)]
    assert EXTEND_MARGIN < 0.4
    assert _extend(best, 1.7, same_doc, {}) == (12, 13)
    assert _extend(best, 1.7, same_doc, {}, margin=0.5) == (10, 13)


def test_a_sentence_sharing_only_a_line_with_a_cited_place_is_a_place_of_its_own():
    """Sentences end mid-line: the one after a cited sentence shares its last line but is
    not held by that citation, so it is cited apart instead of being hidden."""
    from gtindex.search.candidates import Span as _Span
    from gtindex.search.narrow import places as _places

    cited = _Span(1, 7, 10, 12, (1,))
    sharing = _Span(2, 7, 12, 15, (1,))  # starts on line 12, where `cited` ends
    inside = _Span(3, 7, 11, 12, (1,))  # every line already cited
    elsewhere = _Span(4, 8, 11, 12, (2,))  # the same lines of another document
    ranked = [(cited, 2.0), (sharing, 1.5), (inside, 1.4), (elsewhere, 1.0)]
    got = [(span.span_id, first, last) for span, first, last, _ in _places(ranked, 10, {})]
    assert got == [(1, 10, 12), (2, 12, 15), (4, 11, 12)]


def test_the_sentence_after_a_cited_one_on_its_line_is_found(index):
    """The BIMO guidance: the sentence ranked second starts on the line where the first
    hit's sentence ends; it used to be taken for the same place and never cited."""
    hits = index.search("BIMO international collaboration joint inspections reduce burden", k=5)
    cited = [" ".join(line.text for line in hit.lines) for hit in hits]
    assert any("promotes consistency in regulatory approaches" in text for text in cited), cited


def test_candidate_sentences_know_every_passage_holding_them(index):
    """The span layout (written by the build) names every passage holding a sentence."""
    spans = index.signals("long-term follow-up of subjects", None, {"span_dense": 1.0, "span_lexical": 1.0}).spans
    assert len(spans) > 50
    for span in list(spans.values())[:200]:
        expected = {
            row[0] for row in index.conn.execute(
                "SELECT passage_id FROM passages WHERE doc_id = ? AND seq_start <= ? AND seq_end >= ?",
                (span.doc_id, span.seq_start, span.seq_end),
            )
        }
        if expected:
            assert set(span.passages) == expected
        else:  # straddles two windows: the nearest passage stands in
            assert len(span.passages) == 1


def test_references_are_numbers_and_designations():
    query = lexical.build_query("ICH Q3C section 3.3 Class 2 solvents, 314.101(d)(5) and Q9(R1) in the 2nd year")
    assert query.references == (("3", "3"), ("314", "101", "d", "5"), ("q9", "r1"), ("q3c",))
    assert lexical.build_query("stopping rules").references == ()
    assert lexical.build_query("21 CFR Part 11 audit trails").references == (("part", "11"),)  # one reference
    assert lexical.build_query("in part because").references == ()
    assert lexical.build_query("21 CFR 50 consent").references == (("cfr", "50"),)  # typed without "part"
    assert lexical.build_query("21 CFR 50.25").references == (("50", "25"),)  # a section, not a part
    assert lexical.build_query("21 CFR 50.25").title_21 and lexical.build_query("§ 50.25").title_21
    assert lexical.build_query("21CFR50 and 21 CFR 50").title_21 and not lexical.build_query("section 506(c)").title_21
    assert lexical.spellings(("part", "11")) == (("part", "11"), ("cfr", "11"))  # "21 CFR 11.10" is in part 11
    assert lexical.spellings(("cfr", "11")) == (("cfr", "11"), ("part", "11"))
    title = lexical.tokenize("IMPURITIES: GUIDELINE FOR RESIDUAL SOLVENTS Q3C(R8)")
    assert [ref for ref in query.references if lexical.holds(title, ref)] == [("q3c",)]
    assert lexical.holds(lexical.tokenize("QUALITY RISK MANAGEMENT Q9(R1)"), ("q9", "r1"))
    assert not lexical.holds(lexical.tokenize("QUALITY RISK MANAGEMENT Q9"), ("q9", "r1"))  # Q9 is not Q9(R1)


def test_a_reference_typed_otherwise_is_the_same_reference():
    """lexical._joined: glued "21CFR", "C.F.R." and a subdivision after a space are read as
    the reference typed plainly; a word in parentheses stays words."""
    plain = lexical.build_query("21 CFR 20.61")
    for typed in ("21CFR 20.61", "21 C.F.R. 20.61", "21 c.f.r. 20.61"):
        assert lexical.build_query(typed).references == plain.references and lexical.build_query(typed).title_21
    assert lexical.build_query("21CFR Part 812").references == (("part", "812"),)
    assert lexical.build_query("21CFR203").references == (("cfr", "203"),)  # a part, as "21 CFR 203"
    assert lexical.build_query("section 201 (v)").references == (("201", "v"),)
    assert lexical.build_query("505 (b) (2)").references == (("505", "b", "2"),)
    assert lexical.build_query("ICH Q9 (R1)").references == (("q9", "r1"),)
    assert lexical.build_query("Part 11 (electronic records)").terms == ("electronic", "records")
    assert lexical.build_query("in 2 (two) cases").references == ()
    assert lexical.build_query("section 519 reports").references == (("section", "519"),)  # one reference
    assert lexical.build_query("section 745A").references == (("section", "745a"),)
    assert lexical.build_query("section 3").references == ()  # a guidance's own section: any "3"
    assert lexical.build_query("section 351(k) of the PHS Act").says_section
    assert lexical.build_query("PHS Act 351(k)").says_section and not lexical.build_query("351(k)").says_section
    assert lexical.build_query("21 U.S.C. 331").references == (("u", "s", "c", "331"),)  # one reference
    assert lexical.build_query("USC 374").references == (("u", "s", "c", "374"),)
    assert lexical.build_query("21 U.S.C. 355(j)").references == (("355", "j"),)  # a subdivision stands alone


def test_numbers_side_by_side_must_be_printed_as_one_reference():
    """lexical._printed: "3 3" is "3.3" only when a mark joins the numbers; "Class 3
    3-Methylbutanol" and "6.1.1" (for 1.1) do not state it."""
    printed = lexical._printed(("3", "3"))
    assert printed.search("3.3 Options for Describing Limits") and printed.search("see section 3.3.")
    assert not printed.search("Class 3 3-Methylbutanol") and not printed.search("13.3") and not printed.search("3.31")
    assert not lexical._printed(("1", "1")).search("6.1.1 Protocol title") and lexical._printed(("1", "1")).search("1.1.2")
    glued = lexical._printed(("801", "109"))
    assert glued.search("(21CFR801.109(e))") and glued.search("21 CFR 801.109") and not glued.search("801 109")
    assert lexical._printed(("506", "c")) is None and lexical._printed(("part", "11")) is None


def test_a_footnote_cites_a_reference_only_by_stating_it(index):
    """A footnote sits under its page's section heading but is about its own anchor: under
    "Waiver Requests Under 21 CFR 314.99(b)", the footnote "21 CFR 312.32(a)." does not cite
    314.99(b) (it was the second hit for that query). Mined: every section of Title 21 that
    a body section's heading names."""
    import re

    from gtindex.search.index import mode_weights

    headed = {match.group(1) for (section,) in index.conn.execute("SELECT DISTINCT section FROM passages")
              for match in re.finditer(r"(?:CFR|§)\s*(\d{1,4}\.\d{1,4}(?:\([a-z0-9]{1,3}\))*)", section)}
    assert len(headed) >= 10
    checked = 0
    for reference in sorted(headed):
        signals = index.signals(f"21 CFR {reference}", None, mode_weights("hybrid"))
        for span_id in signals.reference_lexical:
            span = signals.spans[span_id]
            kind, = index.conn.execute("SELECT kind FROM lines WHERE doc_id = ? AND seq = ?",
                                       (span.doc_id, span.seq_start)).fetchone()
            if kind == "footnote":
                text, = index.conn.execute("SELECT text FROM spans WHERE span_id = ?", (span_id,)).fetchone()
                assert reference.split("(")[0] in " ".join(text.split()), (reference, text)
                checked += 1
    assert checked >= 1  # footnotes stating them still cite them


def test_a_reference_backs_off_to_the_provision_holding_it():
    """Tried in turn until one stands somewhere (search.references.stated): the last part
    dropped, never down to a bare number or a phrase without one."""
    assert list(lexical.provisions(("107", "240", "a"))) == [("107", "240", "a"), ("107", "240")]
    assert list(lexical.provisions(("314", "101", "d", "5"))) == [("314", "101", "d", "5"), ("314", "101", "d"),
                                                                  ("314", "101")]
    assert list(lexical.provisions(("e6", "r3"))) == [("e6", "r3"), ("e6",)]  # a designation stands alone
    assert list(lexical.provisions(("3", "3"))) == [("3", "3")]  # "3" alone is any number
    assert list(lexical.provisions(("q3c",))) == [("q3c",)]
    assert list(lexical.provisions(("50", "25", "a"), title_21=True)) == [("50", "25", "a"), ("50", "25"), ("cfr", "50")]
    assert list(lexical.provisions(("3", "3"), title_21=True)) == [("3", "3"), ("cfr", "3")]
    # "section 351(k)" where only "section 351" stands: an Act's section holds its subdivisions
    assert list(lexical.provisions(("351", "k"), says_section=True)) == [("351", "k"), ("section", "351")]
    assert list(lexical.provisions(("351", "k"))) == [("351", "k")]  # "351(k)" alone: 351 is any number
    assert list(lexical.provisions(("3", "3"), says_section=True)) == [("3", "3")]  # a guidance's own section


def test_a_sentence_citing_only_a_provision_is_marked():
    """by_provision: every reference the sentence cites, it cites through a provision."""
    from gtindex.search.candidates import Span as _Span
    from gtindex.search.references import judged

    def by_provision(spans, references, titled):
        return judged(spans, references, titled).by_provision

    spans = {1: _Span(1, 7, 0, 1, (10,)), 2: _Span(2, 7, 2, 3, (10,)), 3: _Span(3, 8, 0, 0, (11,))}
    exact = lexical.Citing(frozenset({1}), frozenset())
    nearest = lexical.Citing(frozenset({1, 2}), frozenset(), exact=False)
    assert by_provision(spans, {("50", "25"): nearest}, {}) == {1, 2}
    assert by_provision(spans, {("50", "25"): nearest, ("107", "240"): exact}, {}) == {2}  # 1 states one exactly
    assert by_provision(spans, {("50", "25"): nearest}, {8: (("50", "25"),)}) == {1, 2, 3}  # titled


def test_a_cfr_section_is_also_looked_for_as_guidances_print_it_glued():
    """"21CFR801.109(e)" is one token "21cfr801" to FTS5: a user typing "21 CFR 801.109"
    must still find it, and one typing it glued must find the spaced form."""
    assert lexical.spellings(("801", "109", "e")) == (("801", "109", "e"), ("cfr801", "109", "e"),
                                                      ("21cfr801", "109", "e"))
    assert set(lexical.spellings(("21cfr801", "109"))) == {("21cfr801", "109"), ("801", "109"), ("cfr801", "109")}
    assert lexical.spellings(("q9", "r1")) == (("q9", "r1"),)  # a designation is not a CFR section
    assert lexical.spellings(("506", "c")) == (("506", "c"),)  # an Act section has no part.section
    assert lexical.spellings(("12345", "1")) == (("12345", "1"),)  # no CFR part has five digits


def test_reference_share_counts_the_sentence_and_its_section_heading():
    from gtindex.search.candidates import Span as _Span
    from gtindex.search.references import judged

    def _reference_shares(spans, references, titled):
        return judged(spans, references, titled).shares

    stating = _Span(1, 7, 10, 11, (100,))
    under_heading = _Span(2, 7, 20, 21, (200,))
    elsewhere = _Span(3, 7, 30, 31, (300,))
    references = {
        ("3", "3"): lexical.Citing(spans=frozenset(), headed_passages=frozenset({200})),
        ("50", "53"): lexical.Citing(spans=frozenset({1}), headed_passages=frozenset()),
    }
    shares = _reference_shares({1: stating, 2: under_heading, 3: elsewhere}, references, {})
    assert shares == {1: 0.5, 2: 0.5}
    in_titled_document = _Span(4, 8, 40, 41, (400,))
    shares = _reference_shares({4: in_titled_document, 3: elsewhere}, references, {8: (("3", "3"),)})
    assert shares == {4: 0.5}


def test_a_place_is_the_one_the_query_names_in_the_document_its_title_names():
    """placed: the heading or title holding a reference. "ICH Q7 1.3" names section 1.3 of
    Q7: Q10's heading "1.3 Relationship of ICH Q10 to … ICH Q7" holds both references but
    is not that place (it was the first hit), though its sentences still cite them."""
    from gtindex.search.candidates import Span as _Span
    from gtindex.search.references import judged

    q7_scope = _Span(1, 7, 10, 11, (100,))  # Q7 (titled), under "1.3 Scope"
    q10_relationship = _Span(2, 8, 20, 21, (200,))  # Q10, under "1.3 … ICH Q7", stating "ICH Q7"
    references = {
        ("1", "3"): lexical.Citing(spans=frozenset(), headed_passages=frozenset({100, 200})),
        ("q7",): lexical.Citing(spans=frozenset({2}), headed_passages=frozenset({200})),
    }
    spans = {1: q7_scope, 2: q10_relationship}
    result = judged(spans, references, {7: (("q7",),)})
    assert result.shares == {1: 1.0, 2: 1.0}
    assert result.placed == {1: 1.0}
    untitled = judged(spans, references, {})  # no title named: a heading holding it is its place
    assert untitled.placed == {1: 0.5, 2: 1.0}
    provision = {("1", "3"): lexical.Citing(spans=frozenset(), headed_passages=frozenset({100}), exact=False)}
    assert judged(spans, provision, {}).placed == {}  # a provision holding it is not its place


@pytest.mark.parametrize("query, reference", [("314.101(d)(5) English translation", "314.101(d)(5)"),
                                              ("21 CFR 50.53 minimal risk", "50.53")])
def test_an_exact_reference_puts_the_sentence_stating_it_first(index, query, reference):
    hit = index.search(query, k=1)[0]
    assert reference in hit.text.replace("\n", " ")


def _fts5_bm25(conn, table: str, weights: tuple[float, ...], match: str, doc_ids=None) -> dict[int, float]:
    """What FTS5 itself says: -bm25() of every matching row (inside the documents)."""
    rank = f"bm25({table}_fts{''.join(f', {w}' for w in weights)})"
    key = "passage_id" if table == "passages" else "span_id"
    sql = f"SELECT {table}_fts.rowid, -{rank}, {table}.doc_id FROM {table}_fts JOIN {table} ON {key} = {table}_fts.rowid WHERE {table}_fts MATCH ?"
    return {row: score for row, score, doc in conn.execute(sql, (match,)) if doc_ids is None or doc in doc_ids}


@pytest.mark.parametrize("text", [
    "stopping rules", "rule rules ruling",  # two words, one stem: FTS5 counts it twice
    "21 CFR 50.53 minimal risk", "What is the deadline to send FDA follow-up details on an MDR already filed?",
    "Q9(R1) quality risk management", "long-term follow-up of subjects",
])
def test_stored_bm25_postings_score_exactly_as_fts5(index, text):
    query = lexical.build_query(text)
    some_docs = sorted(index._documents)[2:9]
    for table, search, weights in (("passages", lexical.search, tuple(lexical.PASSAGES.weights.values())),
                                   ("spans", lexical.search_spans, tuple(lexical.SPANS.weights.values()))):
        for doc_ids in (None, some_docs):
            expected = _fts5_bm25(index.conn, table, weights, query.to_fts(), doc_ids)
            got = search(index.conn, query, 50, doc_ids)
            assert len(got) == min(50, len(expected)) > 0
            assert [score for _, score in got] == sorted((score for _, score in got), reverse=True)
            for row, score in got:
                assert score == pytest.approx(expected[row], rel=1e-5)
            assert got[-1][1] >= sorted(expected.values(), reverse=True)[len(got) - 1] - 1e-5  # none better left out
            if doc_ids is not None:  # the same filter as a boolean array by rowid
                key = "passage_id" if table == "passages" else "span_id"
                allowed = np.zeros(index.conn.execute(f"SELECT max({key}) + 1 FROM {table}").fetchone()[0], dtype=bool)
                marks = ",".join("?" * len(doc_ids))
                allowed[[r[0] for r in index.conn.execute(f"SELECT {key} FROM {table} WHERE doc_id IN ({marks})", doc_ids)]] = True
                assert search(index.conn, query, 50, doc_ids, allowed) == got


def test_query_words_are_stemmed_as_fts5_stems_them():
    assert lexical.stems(["rules", "ruling", "registries", "stopping", "zzq"]) == [
        ["rule"], ["rule"], ["registri"], ["stop"], ["zzq"]]


def test_coverage_is_the_share_of_query_words_one_passage_holds(index):
    passage = index.conn.execute(
        "SELECT rowid FROM passages_fts WHERE passages_fts MATCH '\"stopping rules\"' LIMIT 1").fetchone()[0]
    assert lexical.coverage(index.conn, lexical.build_query("stopping rules"), [passage]) == 1.0
    # "rule" matches "rules" (porter stems both); "zebra" and "xylophone" are in no passage
    half = lexical.coverage(index.conn, lexical.build_query("stopping zebra rule xylophone"), [passage])
    assert half == 0.5
    assert lexical.coverage(index.conn, lexical.build_query("314.101(d)(5)"), [passage]) == 1.0  # no single words


def test_bm25_is_trusted_less_when_the_best_passages_miss_most_query_words(index):
    from gtindex.search import WEIGHTS

    keyword = index.signals("stopping rules", None, WEIGHTS)
    paraphrase = index.signals("halting criteria zebra xylophone quartz", None, WEIGHTS)
    assert keyword.lexical_trust == 1.0
    assert paraphrase.lexical_trust < 1.0
