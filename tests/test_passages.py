"""Passages stay inside one section, fit the model, overlap; spans map sentences to lines."""
from __future__ import annotations

import re

from gtindex.documents import KIND_BODY, KIND_FOOTNOTE, KIND_HEADING, LINE_KIND_PRINTED, Document, Line
from gtindex.embedding import MAX_TOKENS, count_tokens
from gtindex.sources.html import parse_html
from gtindex.passages import Span, content_hash, make_passages, make_spans, reading_places

from conftest import HTML_DIR, PDF_DIR

SENTENCE = "The sponsor should describe the stopping rules of the study in the protocol before dosing begins."


def _document(sections: dict[str, int], footnote: bool = False) -> Document:
    """A printed-line document: each section a heading plus `n` body lines."""
    lines: list[Line] = []
    number = 1
    for section, count in sections.items():
        lines.append(Line(1, "1", number, number, KIND_HEADING, section, section.split(" > ")[-1]))
        number += 1
        for i in range(count):
            lines.append(Line(1 + number // 40, str(1 + number // 40), number, number % 40 + 1, KIND_BODY,
                              section, f"{i} {SENTENCE}"))
            number += 1
    if footnote:
        lines.append(Line(1, "1", None, number, KIND_FOOTNOTE, "I. INTRODUCTION", "6 See 21 CFR 50.53.", 6))
    return Document("test.pdf", "pdf", "0" * 64, title="Test", line_kind=LINE_KIND_PRINTED, lines=lines)


def test_passages_never_cross_sections_and_cover_every_line():
    document = _document({"I. INTRODUCTION": 30, "II. BACKGROUND > A. Scope": 3, "III. DOSE": 50})
    passages = make_passages(document)
    covered = set()
    for passage in passages:
        sections = {document.lines[s].section for s in range(passage.seq_start, passage.seq_end + 1)}
        assert sections == {passage.section}
        covered.update(range(passage.seq_start, passage.seq_end + 1))
    assert covered == set(range(len(document.lines)))


def test_passages_fit_the_model_and_overlap_by_about_half():
    document = _document({"I. INTRODUCTION": 60})
    passages = make_passages(document)
    sizes = count_tokens([p.embed_text for p in passages])
    assert max(sizes) <= MAX_TOKENS
    assert min(sizes[:-1]) >= 100  # not needlessly small windows
    for before, after in zip(passages, passages[1:]):
        overlap = before.seq_end - after.seq_start + 1
        length = before.seq_end - before.seq_start + 1
        assert 0 < overlap < length
        assert abs(overlap - length / 2) <= 1.5


def test_every_short_sentence_lies_wholly_inside_some_passage():
    document = _document({"I. INTRODUCTION": 45})
    passages = make_passages(document)
    for first in range(len(document.lines) - 2):
        assert any(p.seq_start <= first and first + 2 <= p.seq_end for p in passages), first


def test_embed_text_starts_with_the_title_and_section_path_and_hash_keys_it():
    document = _document({"V. CLINICAL > D. Safety Considerations": 5})
    document.title = "Human Gene Therapy for Rare Diseases"
    passage = make_passages(document)[0]
    assert passage.title == document.title
    assert passage.embed_text.startswith("Human Gene Therapy for Rare Diseases\nV. CLINICAL > D. Safety Considerations\n")
    assert passage.embed_text.endswith(passage.text)
    assert passage.content_hash == content_hash(passage.embed_text)
    assert document.lines[passage.seq_start].kind == KIND_HEADING  # the heading joins its text


def test_heading_filed_under_its_parent_joins_the_passage_after_it():
    lines = [
        Line(1, "1", 1, 1, KIND_BODY, "V. CLINICAL", "Intro text of the clinical section."),
        Line(1, "1", 2, 2, KIND_HEADING, "V. CLINICAL", "D. Safety Considerations"),
        Line(1, "1", 3, 3, KIND_BODY, "V. CLINICAL > D. Safety", "Stopping rules should be set."),
    ]
    document = Document("t.pdf", "pdf", "1" * 64, lines=lines)
    passages = make_passages(document)
    assert [(p.seq_start, p.seq_end) for p in passages] == [(0, 0), (1, 2)]


def test_footnotes_form_their_own_passages():
    document = _document({"I. INTRODUCTION": 5}, footnote=True)
    passages = make_passages(document)
    notes = [p for p in passages if p.footnote]
    assert len(notes) == 1
    assert notes[0].text == "6 See 21 CFR 50.53."
    assert all(document.lines[s].kind != KIND_FOOTNOTE for p in passages if not p.footnote
               for s in range(p.seq_start, p.seq_end + 1))


def test_spans_are_sentences_mapped_to_the_lines_they_touch():
    texts = [
        "• Early-phase GT clinical trial protocols should generally include study stopping",
        "rules, which are criteria for halting the study based on the observed incidence of",
        "particular adverse events. The objective of study stopping rules is to limit subject",
        "exposure to risk (e.g., see Ref. 8). Well-designed stopping",
        "rules may allow sponsors to assess risks.",
    ]
    lines = [Line(11, "9", 348 + i, 20 + i, KIND_BODY, "V > D", text) for i, text in enumerate(texts)]
    document = Document("t.pdf", "pdf", "2" * 64, lines=lines)
    spans = make_spans(document)
    assert [(s.seq_start, s.seq_end) for s in spans] == [(0, 2), (2, 3), (3, 4)]
    assert spans[0].text.endswith("particular adverse events.")
    assert spans[1].text == "The objective of study stopping rules is to limit subject exposure to risk (e.g., see Ref. 8)."


def test_long_sentences_become_chunks_of_at_most_four_lines():
    lines = [Line(1, "1", i + 1, i + 1, KIND_BODY, "S", f"words of a very long sentence part {i}") for i in range(9)]
    spans = make_spans(Document("t.pdf", "pdf", "3" * 64, lines=lines))
    assert all(s.seq_end - s.seq_start < 4 for s in spans)
    assert {seq for s in spans for seq in range(s.seq_start, s.seq_end + 1)} == set(range(9))


def test_real_web_page_passages_and_spans():
    document = parse_html(HTML_DIR / "ngvb-other-helpful-resources.html")
    passages = make_passages(document)
    spans = make_spans(document)
    assert passages and spans
    rac = [s for s in spans if "renamed" in s.text and "NExTRAC" in s.text]
    assert rac, "the RAC renaming sentence is its own span"
    assert any(p.seq_start <= rac[0].seq_start and rac[0].seq_end <= p.seq_end for p in passages)


def test_dash_and_symbol_font_bullets_start_their_own_spans():
    texts = ["‒ The NDA does not contain a translation", "(§ 314.101(d)(5))",
             "\uf0b7 the initial reporter", "o a sub item", "-5 mg is a dose, not a bullet"]
    lines = [Line(1, "1", 10 + i, 1 + i, KIND_BODY, "S", text) for i, text in enumerate(texts)]
    spans = make_spans(Document("t.pdf", "pdf", "4" * 64, lines=lines))
    assert [(s.seq_start, s.seq_end) for s in spans] == [(0, 1), (2, 2), (3, 4)]


def test_a_list_label_stays_with_its_items_first_sentence():
    """ "3. Sponsors should ..." is one sentence, not "3." and "Sponsors should ...": a label
    alone would be embedded and cited as a sentence of its own. Nor does "(Rev. 2)" end one,
    a bare "Yes." stays with its reason, and a source tag closing a run with its sentence."""
    texts = ["2. Sponsors should update the box. (It appears at the top.) Sponsors should",
             "indicate a version date each time they submit.",
             "3. Sponsors should update the template. Sponsors can highlight new information.",
             "ii. The second item. IV. The fourth item. See Table 3. Id. at 5.",
             "See ANDA Submissions (Rev. 2). Section 314.50(d).",
             "Q. Must I test each lens? A. Yes. Testing depends on lens material. (The box is red.)",
             "Accuracy is the closeness of the values. (ICH Q2)"]
    lines = [Line(1, "1", 10 + i, 1 + i, KIND_BODY, "S", text) for i, text in enumerate(texts)]
    spans = make_spans(Document("t.pdf", "pdf", "5" * 64, lines=lines))
    assert [s.text for s in spans] == [
        "2. Sponsors should update the box.", "(It appears at the top.)",
        "Sponsors should indicate a version date each time they submit.",
        "3. Sponsors should update the template.", "Sponsors can highlight new information.",
        "ii. The second item.", "IV. The fourth item.", "See Table 3.", "Id. at 5.",
        "See ANDA Submissions (Rev. 2).", "Section 314.50(d).",
        "Q. Must I test each lens?", "A. Yes. Testing depends on lens material.", "(The box is red.)",
        "Accuracy is the closeness of the values. (ICH Q2)",
    ]


def test_real_numbered_items_keep_their_labels():
    """The TPP draft numbers its labeling concepts "1." to "3."; none of its sentences is a
    list label alone."""
    from gtindex.sources.pdf import parse_pdf

    document = parse_pdf(PDF_DIR / "fda-target-product-profile-draft-2007.pdf")
    spans = make_spans(document)
    item = next(s for s in spans if "update the template at appropriate milestones" in s.text)
    assert item.text == "3. Sponsors should update the template at appropriate milestones."
    assert [document.lines[seq].line for seq in range(item.seq_start, item.seq_end + 1)] == [229]
    assert not [s.text for s in spans if re.fullmatch(r"\(?(\d{1,3}|[a-zA-Z]|[ivxIVX]{2,5})[.)]+", s.text)]


def test_real_yes_answers_and_glossary_source_tags_stay_with_their_sentences():
    from gtindex.sources.pdf import parse_pdf

    lenses = make_spans(parse_pdf(PDF_DIR / "fda-cdrh-impact-resistant-lenses-qa-2010.pdf"))
    assert any(s.text == "A. Yes. Testing depends on lens material." for s in lenses)
    assert not [s.text for s in lenses if s.text in ("Yes.", "A. Yes.")]
    q2 = make_spans(parse_pdf(PDF_DIR / "ich-q2r2-validation-analytical-procedures-2023.pdf"))
    tagged = [s.text for s in q2 if s.text.endswith("(ICH Q2)")]
    assert len(tagged) > 10 and "(ICH Q2)" not in tagged
    assert any(t.endswith("the value or set of values measured. (ICH Q2)") for t in tagged)


def test_real_refuse_to_file_list_items_are_cited_alone():
    """The RTF draft lists refuse-to-file grounds as "‒" items without final periods: each
    item is its own span, so a citation of § 314.101(d)(5) names its two printed lines."""
    from gtindex.sources.pdf import parse_pdf

    document = parse_pdf(PDF_DIR / "fda-refuse-to-file-nda-bla-draft-2017.pdf")
    spans = make_spans(document)
    item = next(s for s in spans if "English translation" in s.text)
    numbers = [document.lines[seq].line for seq in range(item.seq_start, item.seq_end + 1)]
    assert numbers == [239, 240]
    assert item.text.startswith("‒ The NDA does not contain an accurate and complete English")


def test_each_sentence_is_read_where_it_sits_nearest_the_middle_of_a_passage():
    """Its characters in that passage's embedded text are the sentence; of the overlapping
    windows holding its line, the one whose middle line is nearest it (the lines are of
    equal length); a sentence no passage's text holds has no place."""
    document = _document({"I. INTRODUCTION": 60})
    passages = make_passages(document)
    spans = make_spans(document)
    places = reading_places(passages, spans)
    assert len(places) == len(spans) == 60
    for span, place in zip(spans, places):
        passage = passages[place.passage]
        assert passage.embed_text[place.start:place.end] == span.text
        holding = [p for p in passages if p.seq_start <= span.seq_start <= p.seq_end]
        assert len(holding) >= 1
        distance = lambda p: abs(span.seq_start - (p.seq_start + p.seq_end) / 2)
        assert distance(passage) == min(distance(p) for p in holding)
    assert len({place.passage for place in places}) > 1
    stray = Span(document.doc, 3, 3, "A sentence printed nowhere in the document.")
    assert reading_places(passages, [stray]) == [None]


def test_every_sentence_of_a_real_guidance_is_read_in_a_passage():
    from gtindex.sources.pdf import parse_pdf

    document = parse_pdf(PDF_DIR / "fda-gt-rare-diseases-draft-2018.pdf")
    passages = make_passages(document)
    spans = make_spans(document)
    places = reading_places(passages, spans)
    assert all(places)
    for span, place in zip(spans, places):
        passage = passages[place.passage]
        assert " ".join(passage.embed_text[place.start:place.end].split()) == " ".join(span.text.split())
        assert place.start >= len(passage.heading)  # in its lines, not its title or section path


def test_span_holders_are_the_passages_holding_each_sentence_whole():
    from gtindex.passages import Passage, Span, span_holders

    passages = [Passage("a.pdf", "I", 0, 9, ""), Passage("a.pdf", "I", 5, 14, ""), Passage("a.pdf", "II", 15, 20, ""),
                Passage("b.pdf", "I", 0, 3, "")]
    spans = [Span("a.pdf", 6, 8, ""),  # inside both overlapping windows
             Span("a.pdf", 1, 2, ""),  # inside the first only
             Span("a.pdf", 14, 16, ""),  # straddles two windows: the passage starting nearest stands in
             Span("b.pdf", 0, 1, ""), Span("c.pdf", 0, 0, "")]  # a document without passages has none
    assert sorted(span_holders(passages, spans)) == [(0, 0), (0, 1), (1, 0), (2, 2), (3, 3)]


def test_every_real_sentence_has_a_holder_and_holders_hold_it():
    from gtindex.passages import span_holders
    from gtindex.sources.pdf import parse_pdf

    document = parse_pdf(PDF_DIR / "fda-gt-rare-diseases-draft-2018.pdf")
    passages, spans = make_passages(document), make_spans(document)
    held: dict[int, list[int]] = {}
    for span, passage in span_holders(passages, spans):
        held.setdefault(span, []).append(passage)
    assert set(held) == set(range(len(spans)))
    whole = [(s, p) for s, ps in held.items() for p in ps
             if passages[p].seq_start <= spans[s].seq_start and spans[s].seq_end <= passages[p].seq_end]
    assert len(whole) >= 0.95 * sum(len(ps) for ps in held.values())  # straddling sentences are the exception
    for s, span in enumerate(spans):  # no passage holding a sentence whole is left out
        expected = {p for p, passage in enumerate(passages)
                    if passage.doc == span.doc and passage.seq_start <= span.seq_start and span.seq_end <= passage.seq_end}
        if expected:
            assert set(held[s]) == expected


def test_acronyms_the_document_defines_follow_the_embedded_text_not_the_cited_one():
    lines = [Line(1, "1", n + 1, n + 1, KIND_BODY, "I. INTRODUCTION", text) for n, text in enumerate([
        "Sponsors should plan long-term follow-up (LTFU) of every subject.",
        "The LTFU visits should continue for five years after dosing.",
    ])]
    document = Document("g.pdf", "pdf", "5" * 64, title="Gene Therapy", line_kind=LINE_KIND_PRINTED, lines=lines)
    spans = make_spans(document)
    defining, using = spans
    assert defining.gloss == "" and defining.embed_text == defining.text  # spelled out there
    assert using.text == "The LTFU visits should continue for five years after dosing."
    assert using.embed_text == using.text + " (long-term follow-up)"
    assert using.context_text == "Gene Therapy\nI. INTRODUCTION\n" + using.text + " (long-term follow-up)"
    assert using.content_hash == content_hash(using.embed_text)
    passage = make_passages(document)[0]
    assert passage.gloss == "" and passage.embed_text.endswith(passage.text)  # its text defines it
    # Only the document's own definitions: another document using LTFU alone gets no gloss.
    other = Document("h.pdf", "pdf", "6" * 64, lines=[Line(1, "1", 1, 1, KIND_BODY, "", lines[1].text)])
    assert [s.embed_text for s in make_spans(other)] == [lines[1].text]


def test_a_document_of_headings_only_is_found_by_its_headings_and_others_are_not():
    headings = ["Office of Tissues and Advanced Therapies", "Potency assay consultation program"]
    lines = [Line(1, "1", None, n + 1, KIND_HEADING, " > ".join(headings[: n + 1]), text)
             for n, text in enumerate(headings)]
    only_headings = Document("links.html", "html", "2" * 64, lines=lines)
    assert [span.text for span in make_spans(only_headings)] == headings

    with_body = _document({"I. INTRODUCTION": 2})
    assert all(document_line.kind == KIND_BODY for span in make_spans(with_body)
               for document_line in with_body.lines[span.seq_start : span.seq_end + 1])
