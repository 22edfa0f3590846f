"""PDF parser: the Rare Diseases reconstruction line by line, the whole corpus against
sources.json and the dev gold quotes, generated PDFs for layouts the corpus lacks, bad input."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from gtindex.documents import KIND_BODY, KIND_FOOTNOTE, KIND_HEADING, ParseError
from gtindex.sources.pdf import parse_pdf, parse_pdf_details
from conftest import PDF_DIR, REPO
from pdf_factory import (
    Blank,
    Footnote,
    Heading,
    Page,
    Rotated,
    Table,
    Text,
    TwoColumns,
    make_encrypted_pdf,
    make_image_only_pdf,
    make_pdf,
)

RARE = PDF_DIR / "fda-gt-rare-diseases-draft-2018.pdf"
# SOURCES.md: printed page (lines) 1 (1-30), 2 (31-71), ... 11 (406-421); physical = printed + 2
RARE_PAGES = {1: (1, 30), 2: (31, 71), 3: (72, 114), 4: (115, 152), 5: (153, 197), 6: (198, 237),
              7: (238, 281), 8: (282, 326), 9: (327, 370), 10: (371, 405), 11: (406, 421)}


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# ------------------------------------------------------------------------------------------
# parsing the corpus once per session (cached on disk by parser source hash)


def _parse_one(path: str):
    start = time.process_time()  # CPU time: the machine may be shared
    doc, margins = parse_pdf_details(Path(path))
    return Path(path).name, doc, margins, time.process_time() - start


def _cache_dir() -> Path:
    h = hashlib.sha256()
    for path in sorted((REPO / "gtindex" / "sources" / "pdf").glob("*.py")) + [REPO / "gtindex" / "documents.py"]:
        h.update(path.read_bytes())
    return REPO / ".pytest_cache" / "gtindex-pdf" / h.hexdigest()[:16]


@pytest.fixture(scope="session")
def corpus_parsed() -> dict:
    """{file name: (Document, {page: printed numbers}, seconds)} for every corpus PDF."""
    files = sorted(PDF_DIR.glob("*.pdf"))
    cache = _cache_dir()
    results: dict = {}
    todo = []
    for f in files:
        cached = cache / (f.name + ".pkl")
        if cached.exists():
            results[f.name] = pickle.loads(cached.read_bytes())
        else:
            todo.append(str(f))
    if todo:
        workers = max(1, min(len(todo), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))
        import multiprocessing

        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
            for name, doc, margins, secs in pool.map(_parse_one, todo):
                results[name] = (doc, margins, secs)
                try:
                    cache.mkdir(parents=True, exist_ok=True)
                    (cache / (name + ".pkl")).write_bytes(pickle.dumps(results[name]))
                except OSError:
                    pass
    return results


def test_whole_corpus_parses_and_speed(corpus_parsed, sources_meta):
    assert set(corpus_parsed) == {f.name for f in PDF_DIR.glob("*.pdf")}
    pages = sum(doc.pages for doc, _, _ in corpus_parsed.values())
    secs = sum(s for _, _, s in corpus_parsed.values())
    print(f"\ncorpus: {len(corpus_parsed)} PDFs, {pages} pages, {secs:.0f} s CPU, "
          f"{pages / secs:.2f} pages/s per CPU core")
    for name, (doc, _, _) in corpus_parsed.items():
        assert doc.lines, name
        assert doc.sha256 == hashlib.sha256((PDF_DIR / name).read_bytes()).hexdigest()
        meta = sources_meta.get(name)
        if meta:
            assert doc.pages == meta["pages"], name
            assert doc.sha256 == meta["sha256"], name
        assert doc.title and doc.center and doc.status in ("draft", "final") and doc.date, name
        by_page: dict[int, list[int]] = {}
        for line in doc.lines:
            by_page.setdefault(line.page, []).append(line.line_on_page)
            assert line.text == norm(line.text) and line.text, (name, line)
            assert "\ufb01" not in line.text and "\ufb02" not in line.text
        for page, positions in by_page.items():
            assert positions == list(range(1, len(positions) + 1)), (name, page)


def test_line_numbered_documents(corpus_parsed, sources_meta):
    """Printed numbers strictly increase; the highest equals sources.json `maxline`.

    sources.json counts numbers on pages that carry many of them (its `ln_pages`): the ANDA
    draft also prints 422-424 beside the titles of its two landscape table pages, and the
    ICH Q9(R1) draft prints 850-855 on its last page. Those are real printed numbers and the
    parser keeps them; the comparison with `maxline` uses pages with 8 or more numbers.
    """
    numbered = [m for m in sources_meta.values() if m["line_numbered"]]
    assert len(numbered) == 5
    for meta in numbered:
        doc, margins, _ = corpus_parsed[meta["file"]]
        assert doc.line_kind == "printed", meta["file"]
        nums = [line.line for line in doc.lines if line.line is not None]
        assert nums == sorted(set(nums)), meta["file"]
        all_printed = [n for page in sorted(margins) for n in margins[page]]
        assert all_printed == sorted(set(all_printed))
        dense = [n for page, values in margins.items() if len(values) >= 8 for n in values]
        assert max(dense) == meta["maxline"], meta["file"]
        assert sum(1 for values in margins.values() if len(values) >= 8) == meta["ln_pages"], meta["file"]
        # footnotes never carry a printed number
        assert all(line.line is None for line in doc.lines if line.kind == KIND_FOOTNOTE)


def test_unnumbered_documents_get_no_invented_numbers(corpus_parsed, sources_meta):
    for name, meta in sources_meta.items():
        if meta["line_numbered"]:
            continue
        doc, margins, _ = corpus_parsed[name]
        assert doc.line_kind == "computed", name
        assert not margins, name
        assert all(line.line is None for line in doc.lines), name


def test_status_and_date_match_sources(corpus_parsed, sources_meta):
    status = {n: corpus_parsed[n][0].status for n in sources_meta}
    dates = {n: corpus_parsed[n][0].date for n in sources_meta}
    bad_status = {n: (status[n], m["df"]) for n, m in sources_meta.items() if status[n] != m["df"]}
    bad_date = {n: (dates[n], m["date"]) for n, m in sources_meta.items() if dates[n] != m["date"]}
    print(f"\nstatus {len(sources_meta) - len(bad_status)}/{len(sources_meta)}, "
          f"date {len(sources_meta) - len(bad_date)}/{len(sources_meta)}")
    assert not bad_status
    assert not bad_date


def test_a_title_never_runs_into_the_disclaimer(corpus_parsed):
    """A cover set all in one type size (the CPG: its title in bold 11 pt) took the line after
    the boilerplate into the title: "... Subject to Pre-Market Approval topic. It does not
    create or confer any rights for or on any person and does not operate to bind FDA or",
    printed in every citation of the document."""
    disclaimer = re.compile(r"(?i)create or confer|current thinking|bind (FDA|the public)|\btopic\.")
    assert not [(name, doc.title) for name, (doc, _, _) in corpus_parsed.items() if disclaimer.search(doc.title)]
    import pdfplumber

    cpg = "fda-cpg-490-100-process-validation-2011.pdf"
    with pdfplumber.open(PDF_DIR / cpg) as pdf:  # the title as the PDF's own metadata gives it
        assert corpus_parsed[cpg][0].title == pdf.metadata["Title"]


def _page_text(lines) -> str:
    return norm(" ".join(line.text for line in lines))


def _contains(haystack: str, needle: str) -> bool:
    """Whitespace-normalised containment, with and without joining line-break hyphenation."""
    needle = norm(needle)
    joined = re.sub(r"(\w)- (\w)", r"\1\2", haystack)
    return needle in haystack or needle in joined


def test_dev_gold_quotes_on_their_pages(corpus_parsed, dev_gold):
    checked = 0
    for item in dev_gold:
        for gold in item["gold"]:
            if not gold["doc"].endswith(".pdf"):
                continue
            doc = corpus_parsed[gold["doc"]][0]
            page_lines = [line for line in doc.lines if line.page == gold["pdf_page"]]
            assert _contains(_page_text(page_lines), gold["quote"]), (item["id"], gold["doc"], gold["pdf_page"])
            if gold.get("lines"):
                a, b = gold["lines"]
                numbered = [line for line in doc.lines if line.line is not None and a <= line.line <= b]
                assert numbered and all(line.page == gold["pdf_page"] for line in numbered), item["id"]
                assert _contains(_page_text(numbered), gold["quote"]), (item["id"], gold["lines"])
            checked += 1
    assert checked >= 50


def test_corpus_sections_never_come_from_toc_or_cover(corpus_parsed):
    for name, (doc, _, _) in corpus_parsed.items():
        for line in doc.lines:
            if line.page == 1:
                assert line.section == "" and line.kind != KIND_HEADING, (name, line)
            if re.search(r"\.{6,}\s*\d+$", line.text):
                assert line.kind != KIND_HEADING, (name, line)


def test_table_and_figure_captions_are_no_sections(corpus_parsed):
    """A bold "TABLE 2. Class 2 solvents ..." opened a section: the text after the table was
    cited under the caption ("§ TABLE 2. ...") where the page says 4.2 until the next heading."""
    caption = re.compile(r"(?i)^(table|figure)\s+(\d+|[ivx]+)\b")
    captions = 0
    for name, (doc, _, _) in corpus_parsed.items():
        for line in doc.lines:
            assert not any(caption.match(part) for part in line.section.split(" > ")), (name, line)
            captions += bool(caption.match(line.text))
    assert captions >= 20  # the ICH guidelines' tables and figures are in the corpus
    q3c = corpus_parsed["ich-q3c-r8-residual-solvents-2021.pdf"][0]
    table_2 = next(line for line in q3c.lines if line.text.startswith("TABLE 2. Class 2 solvents"))
    assert table_2.kind == KIND_BODY and table_2.section.endswith("4.2 Solvents to Be Limited")
    # nor a heading's next line: "VII. APPENDIX" ran on into "Table 1. Recommendations ...",
    # grew into a bold paragraph and opened no section (the appendix's 526 lines were VI.B's)
    validation = corpus_parsed["fda-bioanalytical-method-validation-2018.pdf"][0]
    appendix = next(line for line in validation.lines if line.text == "VII. APPENDIX")
    assert appendix.kind == KIND_HEADING and appendix.section == "VII. APPENDIX"
    caption = next(line for line in validation.lines
                   if line.page == appendix.page and line.text.startswith("Table 1. Recommendations and Acceptance"))
    assert caption.kind == KIND_BODY and caption.section == "VII. APPENDIX"


def test_a_footnote_carried_over_under_word_s_full_width_separator_stays_a_footnote(corpus_parsed):
    """Word sets the rest of a footnote carried to the next page under a rule the width of the
    text (0.77 of Letter), wider than a footnote rule may be: it was read as body lines, cited
    with computed numbers, and `show --footnote 36` left it out. A wide rule on a cover page
    or above a table stays a border."""
    draft = corpus_parsed["fda-referencing-approved-drug-products-anda-draft-2017.pdf"][0]
    carried = [line for line in draft.lines if line.page == 11 and line.text.startswith("criteria, or is necessary")]
    assert carried and all(line.kind == KIND_FOOTNOTE and line.footnote == 36 for line in carried)
    doxil = next(line for line in draft.lines if line.text.startswith("example, in June 2013, FDA removed Doxil"))
    assert doxil.kind == KIND_FOOTNOTE and doxil.footnote == 38
    for name in ("fda-bioanalytical-method-validation-2018.pdf", "ich-q6a-specifications-1999.pdf"):
        first_pages = [line for line in corpus_parsed[name][0].lines if line.page <= 2]
        assert not any(line.kind == KIND_FOOTNOTE for line in first_pages), name


# ------------------------------------------------------------------------------------------
# the Rare Diseases reconstruction, line by line


@pytest.fixture(scope="module")
def rare():
    doc, margins = parse_pdf_details(RARE)
    return doc, margins


def _reference_lines() -> tuple[dict[int, tuple[int, str]], set[int]]:
    """Independent reading of the printed lines with pdfplumber's own line grouping:
    {number: (physical page, text)} and the set of numbered blank lines."""
    import pdfplumber

    text_by_number: dict[int, tuple[int, str]] = {}
    blanks: set[int] = set()
    with pdfplumber.open(RARE) as pdf:
        for index, page in enumerate(pdf.pages[2:], start=3):
            lines = page.extract_text_lines(strip=True)
            for line in lines:
                m = re.match(r"^(\d{1,3})(?:\s+(.*))?$", line["text"])
                if not m or line["x0"] > 60:
                    continue
                number, text = int(m.group(1)), m.group(2) or ""
                if not text:  # larger type beside the number may sit on its own pdfplumber line
                    text = " ".join(o["text"] for o in lines if o["x0"] > 60 and abs(o["bottom"] - line["bottom"]) <= 1.5)
                if not text:
                    blanks.add(number)
                else:
                    # glued footnote markers ("product1", "(INTERACT)8") are not words
                    text = re.sub(r"(?<=[a-z)\]])\d{1,2}(?:,\d{1,2})*(?=[\s.,;:]|$)", "", text)
                    text = re.sub(r"(?<=[a-z)\]][.,;:])\d{1,2}(?:,\d{1,2})*(?=\s|$)", "", text)
                    text = text.replace("\u2010", "-")  # the parser writes U+2010 HYPHEN as "-"
                    text_by_number[number] = (index, norm(text))
    return text_by_number, blanks


def test_rare_every_printed_line(rare):
    doc, margins = rare
    reference, blanks = _reference_lines()
    assert set(reference) | blanks == set(range(1, 422))
    got = {line.line: line for line in doc.lines if line.line is not None}
    assert set(got) == set(reference)
    for number, (page, text) in reference.items():
        line = got[number]
        assert line.page == page, number
        assert line.text == text, number
    for printed, (first, last) in RARE_PAGES.items():
        for number in range(first, last + 1):
            if number in got:
                assert got[number].page_label == str(printed), number
                assert got[number].page == printed + 2, number
    assert [n for page in sorted(margins) for n in margins[page]] == list(range(1, 422))
    assert 330 in blanks and 330 not in got


def test_rare_line_348_and_sections(rare):
    doc, _ = rare
    line = next(line for line in doc.lines if line.line == 348)
    assert line.text == "• Early-phase GT clinical trial protocols should generally include study stopping"
    assert line.page_label == "9" and line.page == 11 and line.kind == KIND_BODY
    assert line.section == "V. CONSIDERATIONS FOR CLINICAL TRIALS > D. Safety Considerations"
    heading = next(line for line in doc.lines if line.text == "D. Safety Considerations")
    assert heading.kind == KIND_HEADING and heading.section.endswith("> D. Safety Considerations")
    top = [line.section for line in doc.lines if line.kind == KIND_HEADING and " > " not in line.section]
    assert top == ["I. INTRODUCTION", "II. BACKGROUND", "III. CONSIDERATIONS FOR PRODUCT DEVELOPMENT",
                   "IV. CONSIDERATIONS FOR PRECLINICAL STUDIES", "V. CONSIDERATIONS FOR CLINICAL TRIALS",
                   "VI. EXPEDITED PROGRAMS", "VII. COMMUNICATION WITH FDA"]


def test_rare_cover_toc_footnotes_metadata(rare):
    doc, _ = rare
    assert (doc.title, doc.status, doc.date, doc.center) == ("Human Gene Therapy for Rare Diseases", "draft", "July 2018", "CBER")
    assert doc.line_kind == "printed" and doc.pages == 13 and doc.source_type == "pdf"
    cover = [line for line in doc.lines if line.page == 1]
    toc = [line for line in doc.lines if line.page == 2]
    assert cover and all(line.page_label is None and line.section == "" for line in cover)
    assert toc and all(line.page_label == "i" and line.section == "" and line.kind == KIND_BODY for line in toc)
    assert not any("Contains Nonbinding" in line.text or "Not for Implementation" in line.text for line in doc.lines)
    footnotes = [line for line in doc.lines if line.kind == KIND_FOOTNOTE]
    assert sorted({line.footnote for line in footnotes}) == list(range(1, 9))
    assert all(line.line is None for line in footnotes)
    first = next(line for line in footnotes if line.footnote == 1)
    assert first.page == 3 and first.text.startswith("Human gene therapy seeks to modify")
    tokens = {tok for line in doc.lines for tok in re.findall(r"\S+", line.text)}
    assert "product1" not in tokens
    assert not [t for t in tokens if re.fullmatch(r"[a-z]{3,}\)?\d{1,2}[.,;:]?", t)]
    line17 = next(line for line in doc.lines if line.line == 17)
    assert line17.text.startswith("product intended to treat a rare disease")


# ------------------------------------------------------------------------------------------
# generated PDFs


def _numbered_fixture(tmp_path: Path, numbered: bool) -> Path:
    pages = [
        Page(label=None, numbered=False, header=False,
             items=[Text("Widget Therapy for Testing", size=24, bold=True), Blank(),
                    Text("Draft Guidance for Industry", size=18, bold=True), Blank(),
                    Text("Center for Biologics Evaluation and Research (CBER)", bold=True),
                    Text("March 2021", bold=True)]),
        Page(label="i", numbered=False, header=False,
             items=[Text("Table of Contents", bold=True),
                    Text("I. INTRODUCTION " + "." * 60 + " 1"),
                    Text("II. SCOPE " + "." * 70 + " 1"),
                    Text("A. Details " + "." * 70 + " 2")]),
        Page(label="1",
             items=[Heading("I. INTRODUCTION"), Blank(),
                    Text("This guidance covers a widget product^1 intended for testing the parser"),
                    Text("and it continues on this second line of the paragraph."), Blank(),
                    Text("21 CFR 312.23 requires nothing here; this line starts with a number."),
                    Text("1. Submit the form (a numbered list item, not a heading)."), Blank(),
                    Heading("II. SCOPE"), Blank(),
                    Text("Scope text line one."), Text("Scope text line two.")],
             footnotes=[Footnote(1, "A widget is a test object.\nIt has a second footnote line.")]),
        Page(label="2",
             items=[Heading("A. Details"), Blank(), Text("Detail text under A."), Blank(),
                    Heading("1. Deeper Level"), Text("Deeper text line.")]),
    ]
    return make_pdf(tmp_path / ("numbered.pdf" if numbered else "plain.pdf"), pages, numbered=numbered, draft=True)


def test_numbering_that_restarts_on_a_page_whose_line_1_is_blank_is_kept(tmp_path):
    """Numbers starting again at 1 on each page were followed only when the page's first
    numbered row was 1: with a blank line 1 (its number printed beside nothing), every
    number of the page was dropped and its lines cited with computed numbers."""
    words = "stopping rules for early phase trials of gene therapy products in rare diseases".split()
    body = [Text(" ".join(words[k:] + words[:k])) for k in range(12)]
    pages = [
        Page(label=None, numbered=False, header=False, items=[Text("Restarted Numbering Guidance", size=20, bold=True)]),
        Page(label="1", items=[Heading("I. INTRODUCTION"), *body]),
        Page(label="2", items=[Blank(), *body]),  # line 1 blank: the first numbered row is 2
        Page(label="3", items=[*body]),
    ]
    doc = parse_pdf(make_pdf(tmp_path / "restart.pdf", pages, numbered=True, draft=True, restart_each_page=True))
    assert doc.line_kind == "printed"
    for page, first in ((3, 2), (4, 1)):
        numbers = [line.line for line in doc.lines if line.page == page and line.kind == KIND_BODY]
        assert numbers == list(range(first, first + 12)), (page, numbers)


def test_generated_numbered_document(tmp_path):
    doc = parse_pdf(_numbered_fixture(tmp_path, numbered=True))
    assert doc.line_kind == "printed"
    assert (doc.title, doc.status, doc.date, doc.center) == ("Widget Therapy for Testing", "draft", "March 2021", "CBER")
    by_text = {line.text: line for line in doc.lines}
    intro = by_text["I. INTRODUCTION"]
    assert (intro.line, intro.page, intro.page_label, intro.kind, intro.section) == (1, 3, "1", KIND_HEADING, "I. INTRODUCTION")
    first = by_text["This guidance covers a widget product intended for testing the parser"]
    assert (first.line, first.line_on_page, first.kind) == (3, 2, KIND_BODY)
    assert by_text["21 CFR 312.23 requires nothing here; this line starts with a number."].line == 6
    item = by_text["1. Submit the form (a numbered list item, not a heading)."]
    assert item.kind == KIND_BODY and item.line == 7 and item.section == "I. INTRODUCTION"
    assert by_text["II. SCOPE"].line == 9 and by_text["Scope text line two."].section == "II. SCOPE"
    assert by_text["Detail text under A."].section == "II. SCOPE > A. Details"
    assert by_text["Detail text under A."].page_label == "2"
    assert by_text["Deeper text line."].section == "II. SCOPE > A. Details > 1. Deeper Level"
    fn = by_text["A widget is a test object."]
    assert (fn.kind, fn.footnote, fn.line, fn.page) == (KIND_FOOTNOTE, 1, None, 3)
    assert by_text["It has a second footnote line."].footnote == 1
    assert all(line.page_label is None and line.section == "" for line in doc.lines if line.page == 1)
    assert all(line.page_label == "i" and line.section == "" for line in doc.lines if line.page == 2)
    assert not any("Nonbinding" in line.text or "Implementation" in line.text for line in doc.lines)
    nums = [line.line for line in doc.lines if line.line is not None]
    assert nums == sorted(nums) and 2 not in nums  # numbered blank line 2 produces no Line


def test_generated_unnumbered_document(tmp_path):
    doc = parse_pdf(_numbered_fixture(tmp_path, numbered=False))
    assert doc.line_kind == "computed"
    assert all(line.line is None for line in doc.lines)
    page3 = [line for line in doc.lines if line.page == 3]
    assert [line.line_on_page for line in page3] == list(range(1, len(page3) + 1))
    assert page3[0].text == "I. INTRODUCTION" and page3[0].kind == KIND_HEADING
    assert any(line.text.startswith("21 CFR 312.23") for line in page3)


def test_generated_two_columns_table_rotated(tmp_path):
    left = [f"Left column sentence number {i} reads on." for i in range(1, 17)]
    right = [f"Right column sentence number {i} goes on." for i in range(1, 17)]
    pages = [
        Page(label=None, numbered=False, header=False, items=[Text("Layout Test Guidance", size=24, bold=True), Text("May 2020")]),
        Page(label="1", items=[Heading("I. COLUMNS"), Blank(), TwoColumns(left, right)]),
        Page(label="2", items=[Heading("II. TABLE"), Blank(),
                               Table([["Code", "History", "Date"], ["Q9", "Approval by the committee", "2005"],
                                      ["Q9(R1)", "Revision endorsed", "2021"]]),
                               Text("Text after the table."), Rotated("Rotated margin note text")]),
    ]
    doc = parse_pdf(make_pdf(tmp_path / "layout.pdf", pages))
    p2 = [line.text for line in doc.lines if line.page == 2]
    assert p2[p2.index("I. COLUMNS") + 1:] == left + right  # column by column, no interleaving
    p3 = [line for line in doc.lines if line.page == 3]
    texts = [line.text for line in p3]
    assert "Code History Date" in texts
    assert "Q9 Approval by the committee 2005" in texts and "Q9(R1) Revision endorsed 2021" in texts
    assert next(line for line in p3 if line.text == "Code History Date").kind == KIND_BODY
    assert texts.index("Text after the table.") > texts.index("Q9(R1) Revision endorsed 2021")
    assert any("Rotated margin note text" in t for t in texts)
    assert all(line.page_label == "2" for line in p3)


def test_generated_footer_labels_roman_and_arabic(tmp_path):
    pages = [Page(label=label, items=[Text(f"Body text on the page labelled {label}.")]) for label in ("ii", "iii", "7", "8")]
    doc = parse_pdf(make_pdf(tmp_path / "labels.pdf", pages))
    assert [(line.page, line.page_label) for line in doc.lines] == [(1, "ii"), (2, "iii"), (3, "7"), (4, "8")]


def test_ligatures_are_normalised(tmp_path):
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    candidates = [Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")]
    font = next((p for p in candidates if p.exists()), None)
    if font is None:
        pytest.skip("no TrueType font with ligature glyphs on this machine")
    pdfmetrics.registerFont(TTFont("DejaVu", str(font)))
    path = tmp_path / "lig.pdf"
    c = canvas.Canvas(str(path))
    c.setFont("DejaVu", 12)
    c.drawString(72, 700, "The e\ufb03cacy of the \ufb01rst \ufb02ow.")
    c.showPage()
    c.save()
    doc = parse_pdf(path)
    assert doc.lines[0].text == "The efficacy of the first flow."


# ------------------------------------------------------------------------------------------
# bad input


def test_encrypted_pdf(tmp_path):
    with pytest.raises(ParseError) as err:
        parse_pdf(make_encrypted_pdf(tmp_path / "locked.pdf"))
    assert err.value.reason == "encrypted PDF; ask for an unlocked copy"
    assert err.value.path.endswith("locked.pdf")


def test_encrypted_with_empty_user_password_opens(tmp_path):
    doc = parse_pdf(make_encrypted_pdf(tmp_path / "owner-only.pdf", password=""))
    assert doc.lines[0].text == "Secret guidance text."


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "html"])
def test_corrupt_pdf(tmp_path, damage):
    data = RARE.read_bytes()
    path = tmp_path / f"{damage}.pdf"
    path.write_bytes({"truncated": data[: len(data) // 3], "garbage": b"%PDF-1.4\n" + os.urandom(4000),
                      "empty": b"", "html": b"<html><body>not a pdf</body></html>"}[damage])
    with pytest.raises(ParseError) as err:
        parse_pdf(path)
    assert err.value.reason.startswith("not a readable PDF (")


def test_scanned_pdf(tmp_path):
    with pytest.raises(ParseError) as err:
        parse_pdf(make_image_only_pdf(tmp_path / "scan.pdf"))
    assert err.value.reason == "no text layer (scanned?); OCR it first"


def test_zero_pages(tmp_path):
    body = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    xref_at = len(body)
    body += b"xref\n0 3\n0000000000 65535 f \n0000000009 00000 n \n0000000058 00000 n \n"
    body += b"trailer << /Size 3 /Root 1 0 R >>\nstartxref\n" + str(xref_at).encode() + b"\n%%EOF\n"
    path = tmp_path / "zero.pdf"
    path.write_bytes(body)
    with pytest.raises(ParseError) as err:
        parse_pdf(path)
    assert "zero pages" in err.value.reason


def test_missing_file(tmp_path):
    with pytest.raises(ParseError) as err:
        parse_pdf(tmp_path / "nope.pdf")
    assert err.value.reason.startswith("cannot read file")


def test_text_no_reader_sees_is_not_a_line(tmp_path):
    """Text at 0.5 pt or drawn beside the page counted among a page's lines: every computed
    line number below it pointed one line too far (and its words were indexed)."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    path = tmp_path / "hidden.pdf"
    c = canvas.Canvas(str(path), pagesize=letter, invariant=1)
    visible = ["Visible line one about potency assays.", "Visible line two about stability data.",
               "Visible line three about release testing."]
    y = 700.0
    for number, text in enumerate(visible):
        c.setFont("Times-Roman", 12)
        c.drawString(72, y, text)
        y -= 14
        if number == 0:
            c.setFont("Times-Roman", 0.5)
            c.drawString(72, y, "hidden keyword stuffing at half a point")
            y -= 14
            c.setFont("Times-Roman", 12)
            c.drawString(700, y, "drawn beside the page, outside its box")
            y -= 14
    c.showPage()
    c.save()

    document = parse_pdf(path)
    assert [line.text for line in document.lines] == visible
    assert [line.line_on_page for line in document.lines] == [1, 2, 3]
