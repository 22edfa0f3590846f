"""Bad input at the build level: every bad file gets one line naming it and why, the build
goes on and exits 3, and what was indexed before still answers the same way.

File-level reasons are tested in test_ingest.py; here the files go through `gtindex build`
and `gtindex add` into a real index that already holds documents.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.pdfgen import canvas

from conftest import HTML_DIR, PDF_DIR
from gtindex.cli import main
from gtindex.documents import Document, ParseError
from gtindex.sources.ingest import parse_file, parse_many
from gtindex.search import Index

GOOD = [PDF_DIR / "fda-andas-stability-testing-qa-2013.pdf", HTML_DIR / "asgct-strategic-plan.html"]
EARLIER_QUERIES = ["stability testing of drug products for ANDAs", "strategic plan education"]

LEFT_COLUMN = [f"Left column line {n} on vector shedding studies." for n in range(1, 21)]
RIGHT_COLUMN = [f"Right column line {n} about potency assay design." for n in range(1, 21)]
BODY = ["Body line one about stopping rules in early trials.", "Body line two about dose escalation cohorts.",
        "Body line three about safety monitoring boards."]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


# --------------------------------------------------------------------------- the bad files


def text_pdf(path: Path, lines: list[str], encrypt: StandardEncryption | None = None) -> Path:
    pdf = canvas.Canvas(str(path), encrypt=encrypt)
    for number, line in enumerate(lines):
        pdf.drawString(72, 720 - 14 * number, line)
    pdf.showPage()
    pdf.save()
    return path


def image_only_pdf(path: Path) -> Path:
    """A 'scanned' page: a filled shape and no text at all."""
    pdf = canvas.Canvas(str(path))
    pdf.setFillColorRGB(0.3, 0.3, 0.3)
    pdf.rect(72, 200, 450, 500, stroke=0, fill=1)
    pdf.showPage()
    pdf.save()
    return path


def two_column_pdf(path: Path) -> Path:
    pdf = canvas.Canvas(str(path))
    for number, (left, right) in enumerate(zip(LEFT_COLUMN, RIGHT_COLUMN)):
        pdf.setFont("Helvetica", 9)
        pdf.drawString(60, 720 - 14 * number, left)
        pdf.drawString(320, 720 - 14 * number, right)
    pdf.showPage()
    pdf.save()
    return path


def rotated_text_pdf(path: Path) -> Path:
    """Upright body lines, a note turned 90 degrees in the margin, a diagonal watermark."""
    pdf = canvas.Canvas(str(path))
    for number, line in enumerate(BODY):
        pdf.drawString(72, 720 - 14 * number, line)
    pdf.saveState()
    pdf.translate(570, 300)
    pdf.rotate(90)
    pdf.drawString(0, 0, "Margin note turned upward")
    pdf.restoreState()
    pdf.saveState()
    pdf.translate(300, 400)  # its last letters reach the body lines' height
    pdf.rotate(45)
    pdf.setFont("Helvetica", 40)
    pdf.setFillColorRGB(0.8, 0.8, 0.8)
    pdf.drawString(0, 0, "DRAFT WATERMARK")
    pdf.restoreState()
    pdf.showPage()
    pdf.save()
    return path


def thousand_pages_pdf(path: Path, pages: int = 2000) -> Path:
    pdf = canvas.Canvas(str(path))
    for number in range(1, pages + 1):
        pdf.drawString(72, 720, f"Page {number} of a very long appendix.")
        pdf.showPage()
    pdf.save()
    return path


def html(title: str, paragraph: str, charset: str | None = None) -> str:
    meta = f'<meta charset="{charset}">' if charset else ""
    return f"<html><head>{meta}<title>{title}</title></head><body><h1>{title}</h1><p>{paragraph}</p></body></html>"


# name -> (bytes or a writer, what the one-line reason must say; None = must be indexed)
def bad_and_odd_files(folder: Path) -> dict[str, str | None]:
    real = (PDF_DIR / "fda-refuse-to-file-nda-bla-draft-2017.pdf").read_bytes()
    page = (HTML_DIR / "ngvb-other-helpful-resources.html").read_bytes()
    files = {
        "encrypted.pdf": lambda p: text_pdf(p, BODY, StandardEncryption("secret", ownerPassword="owner")),
        "encrypted-empty-password.pdf": lambda p: text_pdf(
            p, ["An unlocked guidance about adventitious agent testing."], StandardEncryption("", ownerPassword="owner")),
        "truncated.pdf": real[: len(real) // 3],
        "corrupt.pdf": b"%PDF-1.7\n" + bytes(range(256)) * 200 + b"\n%%EOF\n",
        "zero-bytes.pdf": b"",
        "scanned.pdf": image_only_pdf,
        "saved-web-page.pdf": page,
        "binary-junk.html": bytes((i * 7919) % 256 for i in range(50_000)),
        "ebcdic.html": html("Gene therapy", "Long-term follow-up.", "x-unknown").encode("cp500"),
        "deeply-nested.html": ("<html><body>" + "<div>" * 10_000 + "deep text" + "</div>" * 10_000 + "</body></html>").encode(),
        "two-columns.pdf": two_column_pdf,
        "rotated-text.pdf": rotated_text_pdf,
        "unknown-charset-cp1252.html": html(
            "Résumé of the sponsor’s obligations", "The sponsor’s “long-term” follow-up – 15 years.", "x-klingon",
        ).encode("cp1252"),
        "koi8-no-charset.html": html("Генная терапия", "Долгосрочное наблюдение за пациентами после генной терапии.").encode("koi8-r"),
        "huge-10mb-script.html": (
            "<html><head><script>var data = '" + "x" * 10_500_000 + "';</script></head>"
            "<body><h1>Enormous page</h1><p>Only this paragraph about cryopreserved cell banks is text.</p></body></html>"
        ).encode(),
    }
    reasons = {
        "encrypted.pdf": "encrypted",
        "truncated.pdf": "PDF",
        "corrupt.pdf": "PDF",
        "zero-bytes.pdf": "empty file",
        "scanned.pdf": "OCR",
        "saved-web-page.pdf": "not a PDF: looks like HTML",
        "binary-junk.html": "not a PDF or HTML page",
        "ebcdic.html": "not a PDF or HTML page",
        "deeply-nested.html": "nested too deeply",
    }
    for name, content in files.items():
        if callable(content):
            content(folder / name)
        else:
            (folder / name).write_bytes(content)
    return {name: reasons.get(name) for name in files}


# --------------------------------------------------------------------------- one build, then another


def answers(index_dir: Path, k: int = 1) -> dict[str, list[tuple]]:
    """The first k hits of each earlier query as (doc, page, first line, last line, text)."""
    with Index.open(index_dir) as index:
        return {
            query: [(hit.doc, hit.lines[0].page, hit.lines[0].line, hit.lines[-1].line, hit.text)
                    for hit in index.search(query, k=k)]
            for query in EARLIER_QUERIES
        }


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """Build over two good documents; add bad and odd files; build again over everything."""
    sources = tmp_path_factory.mktemp("sources")
    for path in GOOD:
        shutil.copy(path, sources / path.name)
    index_dir = tmp_path_factory.mktemp("index") / "index"
    first = run("build", sources, "--index", index_dir)
    assert first.exit_code == 0, first.output
    before = answers(index_dir, k=3)
    expected = bad_and_odd_files(sources)
    second = run("build", sources, "--index", index_dir)
    return index_dir, sources, before, expected, second


@pytest.fixture
def built(builds):
    """The index after the second build, and the answers it gives."""
    return builds[0], answers(builds[0])


def skipped_lines(result) -> dict[str, str]:
    found = {}
    for line in result.stderr.splitlines():
        match = re.fullmatch(r"skipped (\S+): (.+)", line)
        assert match, f"unexpected line on stderr: {line!r}"
        assert match.group(1) not in found, f"{match.group(1)} reported twice"
        found[match.group(1)] = match.group(2)
    return found


def test_second_build_exits_3_and_names_each_bad_file_once_with_its_reason(builds):
    _index_dir, _sources, _before, expected, second = builds
    assert second.exit_code == 3, second.output
    skipped = skipped_lines(second)
    bad = {name: reason for name, reason in expected.items() if reason is not None}
    assert set(skipped) == set(bad), skipped
    for name, words in bad.items():
        assert words.lower() in skipped[name].lower(), f"{name}: {skipped[name]}"
    assert "Traceback" not in second.output


def test_odd_but_readable_files_are_indexed(builds):
    index_dir, _sources, _before, expected, _second = builds
    readable = {name for name, reason in expected.items() if reason is None}
    with Index.open(index_dir) as index:
        names = {info.doc for info in index.documents}
        assert names == readable | {path.name for path in GOOD}
        assert index.search("unlocked guidance adventitious agent", k=1)[0].doc == "encrypted-empty-password.pdf"
        assert index.search("cryopreserved cell banks", k=1, doc="huge-10mb-script.html")[0].text == (
            "Only this paragraph about cryopreserved cell banks is text.")
        hit = index.search("sponsor’s long-term follow-up", k=1, doc="unknown-charset-cp1252.html")[0]
        assert "The sponsor’s “long-term” follow-up – 15 years." in hit.context  # decoded, no mojibake
        hit = index.search("наблюдение за пациентами", k=1, doc="koi8-no-charset.html")[0]
        assert "Долгосрочное наблюдение" in hit.context


def test_earlier_documents_still_answer_the_same(builds):
    # The odd files join the index, and bm25 weighs words by the whole index: the order of
    # near-equal hits may change, and a citation may start a sentence earlier or later, but
    # the first hit is still the earlier document's, on a page it answered with before.
    index_dir, _sources, before, _expected, _second = builds
    after = answers(index_dir)
    for query, hits in before.items():
        assert after[query][0][0] == hits[0][0], query
        assert after[query][0][:2] in [hit[:2] for hit in hits], query


def test_add_of_only_bad_files_exits_2_and_leaves_the_index_as_it_was(built, tmp_path):
    index_dir, before = built
    generation = (index_dir / "CURRENT").read_text()
    (tmp_path / "zero.pdf").write_bytes(b"")
    image_only_pdf(tmp_path / "scan.pdf")
    result = run("add", tmp_path / "zero.pdf", tmp_path / "scan.pdf", "--index", index_dir)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("gtindex: error: ")
    assert "zero.pdf" in result.stderr and "scan.pdf" in result.stderr
    assert (index_dir / "CURRENT").read_text() == generation
    assert answers(index_dir) == before


def test_build_of_only_bad_files_exits_2_and_leaves_the_index_as_it_was(built, tmp_path):
    index_dir, before = built
    generation = (index_dir / "CURRENT").read_text()
    (tmp_path / "zero.pdf").write_bytes(b"")
    image_only_pdf(tmp_path / "scan.pdf")
    result = run("build", tmp_path, "--index", index_dir)
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("gtindex: error: ")
    assert "zero.pdf" in result.stderr and "scan.pdf" in result.stderr
    assert (index_dir / "CURRENT").read_text() == generation
    assert answers(index_dir) == before


def test_build_json_report_lists_the_skipped_files(builds):
    index_dir, sources, _before, expected, _second = builds
    result = run("build", sources, "--index", index_dir, "--json")
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert {name for name, _reason in report["skipped"]} == {n for n, r in expected.items() if r is not None}
    # each is one line on stderr too, as without --json: a person may be reading
    assert sorted(result.stderr.splitlines()) == sorted(f"skipped {name}: {reason}" for name, reason in report["skipped"])


# --------------------------------------------------------------------------- layouts, one file at a time


def test_two_column_page_reads_each_column_whole(tmp_path):
    document = parse_file(two_column_pdf(tmp_path / "columns.pdf"))
    texts = [line.text for line in document.lines]
    for line in texts:
        assert not ("Left column" in line and "Right column" in line), f"columns merged: {line!r}"
    assert [t for t in texts if t.startswith("Left")] == LEFT_COLUMN
    assert [t for t in texts if t.startswith("Right")] == RIGHT_COLUMN


def test_rotated_text_never_mixes_into_upright_lines(tmp_path):
    """The margin note (90 degrees) is its own line; the diagonal watermark is no text at all
    (its letters used to be glued onto a body line and listed one per line)."""
    document = parse_file(rotated_text_pdf(tmp_path / "rotated.pdf"))
    assert [line.text for line in document.lines] == BODY + ["Margin note turned upward"]


def test_a_2000_page_pdf_parses_or_is_stopped_by_the_time_limit(tmp_path):
    """Never a hang: within the per-file limit it parses, else it is skipped with the reason,
    and the worker pool goes on with the next file."""
    long_pdf = thousand_pages_pdf(tmp_path / "appendix.pdf")
    page = HTML_DIR / "asgct-strategic-plan.html"
    results = dict(parse_many([long_pdf, page], workers=1, timeout_s=5))
    outcome = results[long_pdf]
    if isinstance(outcome, ParseError):
        assert outcome.reason == "took longer than 5s; skipped"
    else:
        assert outcome.pages == 2000 and outcome.lines[-1].text == "Page 2000 of a very long appendix."
    assert isinstance(results[page], Document)
