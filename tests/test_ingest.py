"""Ingestion: discovery, sniffing by content, one clear ParseError per bad file, limits."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.pdfgen import canvas

from conftest import HTML_DIR, PDF_DIR
from gtindex.documents import Document, ParseError
from gtindex.errors import GtindexError
from gtindex.sources.ingest import discover, parse_file, parse_many, sniff

SMALL_PDFS = ["fda-cvm-gfi142-vich-gl29-psu-draft-2001.pdf", "fda-andas-stability-testing-qa-2013.pdf"]
BIG_PDF = PDF_DIR / "ich-e6r2-good-clinical-practice-2016.pdf"  # 66 pages
PAGE = HTML_DIR / "asgct-strategic-plan.html"

needs_pdf_parser = pytest.mark.skipif(
    importlib.util.find_spec("gtindex.sources.pdf") is None, reason="gtindex.sources.pdf not written yet"
)


def make_pdf(path: Path, text: str | None = "Gene therapy products need long-term follow-up.",
             encrypt: StandardEncryption | None = None) -> Path:
    """A one-page PDF with a line of text, or (text=None) only a filled rectangle."""
    pdf = canvas.Canvas(str(path), encrypt=encrypt)
    if text is None:
        pdf.setFillColorRGB(0.2, 0.2, 0.2)
        pdf.rect(72, 300, 400, 300, stroke=0, fill=1)
    else:
        pdf.drawString(72, 720, text)
    pdf.showPage()
    pdf.save()
    return path


# ----------------------------------------------------------------------------- discover


def test_discover_walks_folders_keeps_sources_skips_hidden_and_dedups(tmp_path):
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / ".cache").mkdir()
    for name in ["b.pdf", "A.HTML", "sub/c.htm", "sub/deeper/d.PDF", "notes.txt", ".hidden.pdf", ".cache/e.pdf"]:
        (tmp_path / name).write_bytes(b"x")
    found = discover([tmp_path, tmp_path / "b.pdf", str(tmp_path / "sub")])
    assert found == sorted(found)
    assert [path.relative_to(tmp_path).as_posix() for path in found] == [
        "A.HTML", "b.pdf", "sub/c.htm", "sub/deeper/d.PDF",
    ]


def test_discover_keeps_an_explicitly_named_file_of_any_type(tmp_path):
    named = tmp_path / "guidance.download"
    named.write_bytes(b"%PDF-1.4")
    assert discover([named]) == [named]


def test_discover_names_a_missing_source(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(GtindexError, match="nope: no such file or folder"):
        discover([PAGE, missing])


# ----------------------------------------------------------------------------- sniff / parse_file


def test_sniff_goes_by_content_not_by_name(tmp_path):
    pdf_named_html = tmp_path / "really-a-pdf.html"
    shutil.copy(PDF_DIR / SMALL_PDFS[0], pdf_named_html)
    html_named_pdf = tmp_path / "really-html.pdf"
    shutil.copy(PAGE, html_named_pdf)
    assert sniff(pdf_named_html) == "pdf"
    assert sniff(html_named_pdf) == "html"
    assert sniff(PAGE) == "html"
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ParseError, match="unrecognised content"):
        sniff(junk)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.pdf", b"", "empty file"),
        ("empty.html", b"", "empty file"),
        ("junk.pdf", bytes(range(256)) * 16, "not a PDF: no %PDF- header"),
        ("failed-download.pdf", PAGE.read_bytes(), "not a PDF: looks like HTML; the download probably failed"),
        ("junk.html", bytes(range(256)) * 16, "not a PDF or HTML page"),
    ],
)
def test_parse_file_reports_bad_input_with_one_line(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ParseError) as caught:
        parse_file(path)
    assert caught.value.path == str(path)
    assert reason in caught.value.reason
    assert "\n" not in str(caught.value)


def test_parse_file_reports_a_folder_or_missing_file(tmp_path):
    with pytest.raises(ParseError, match="a folder, not a file"):
        parse_file(tmp_path)
    with pytest.raises(ParseError, match="no such file"):
        parse_file(tmp_path / "missing.pdf")


def test_parse_file_reports_deeply_nested_html(tmp_path):
    deep = tmp_path / "deep.html"
    deep.write_text("<html><body>" + "<div><span>" * 10_000 + "text" + "</span></div>" * 10_000 + "</body></html>")
    with pytest.raises(ParseError, match="nested too deeply"):
        parse_file(deep)


def test_parse_file_parses_a_web_page_by_content(tmp_path):
    renamed = tmp_path / "page.htm"
    shutil.copy(PAGE, renamed)
    document = parse_file(renamed)
    assert document.source_type == "html" and document.doc == "page.htm"


# ----------------------------------------------------------------------------- parse_many


@pytest.fixture
def mixed_folder(tmp_path) -> tuple[Path, set[str], set[str]]:
    """Good files (2 real PDFs, 1 real page) and bad files made here."""
    for name in SMALL_PDFS:
        shutil.copy(PDF_DIR / name, tmp_path / name)
    shutil.copy(PAGE, tmp_path / PAGE.name)
    (tmp_path / "zero-bytes.pdf").write_bytes(b"")
    real = (PDF_DIR / "fda-refuse-to-file-nda-bla-draft-2017.pdf").read_bytes()
    (tmp_path / "truncated.pdf").write_bytes(real[: len(real) * 3 // 10])
    (tmp_path / "junk.pdf").write_bytes(bytes(range(256)) * 64)
    shutil.copy(PAGE, tmp_path / "html-saved-as.pdf")
    make_pdf(tmp_path / "encrypted.pdf", encrypt=StandardEncryption("secret", ownerPassword="owner"))
    make_pdf(tmp_path / "encrypted-empty-password.pdf", encrypt=StandardEncryption("", ownerPassword="owner"))
    make_pdf(tmp_path / "image-only.pdf", text=None)
    good = {*SMALL_PDFS, PAGE.name, "encrypted-empty-password.pdf"}
    bad = {"zero-bytes.pdf", "truncated.pdf", "junk.pdf", "html-saved-as.pdf", "encrypted.pdf", "image-only.pdf"}
    return tmp_path, good, bad


@needs_pdf_parser
def test_parse_many_returns_good_documents_and_one_error_per_bad_file(mixed_folder):
    folder, good, bad = mixed_folder
    seen: list[str] = []
    results = dict(parse_many(discover([folder]), workers=2, on_result=lambda path, _r: seen.append(path.name)))
    by_name = {path.name: result for path, result in results.items()}
    assert set(by_name) == good | bad
    assert sorted(seen) == sorted(by_name)
    for name in good:
        document = by_name[name]
        assert isinstance(document, Document), f"{name}: {document}"
        assert document.doc == name and document.lines
    for name in bad:
        error = by_name[name]
        assert isinstance(error, ParseError), f"{name} parsed, expected an error"
        assert error.path == str(folder / name) and error.reason and "\n" not in error.reason
    assert "Gene therapy products need long-term follow-up." in by_name["encrypted-empty-password.pdf"].lines[0].text
    assert by_name["html-saved-as.pdf"].reason == "not a PDF: looks like HTML; the download probably failed"
    assert by_name["zero-bytes.pdf"].reason == "empty file"
    assert "encrypt" in by_name["encrypted.pdf"].reason.lower()
    assert "ocr" in by_name["image-only.pdf"].reason.lower()


def test_parse_many_bad_files_never_stop_the_good_page(mixed_folder):
    # Independent of the PDF parser: every file comes back once, the page as a Document,
    # the files that are not PDFs at all with ingest's own reasons.
    folder, good, bad = mixed_folder
    results = {path.name: result for path, result in parse_many(discover([folder]), workers=2)}
    assert set(results) == good | bad
    assert isinstance(results[PAGE.name], Document)
    for name in ("zero-bytes.pdf", "junk.pdf", "html-saved-as.pdf"):
        assert isinstance(results[name], ParseError)


def test_parse_many_in_order_of_completion_yields_each_path_once(tmp_path):
    paths = []
    for index in range(5):
        path = tmp_path / f"page{index}.html"
        path.write_text(f"<html><body><h1>Page {index}</h1><p>Paragraph {index}.</p></body></html>")
        paths.append(path)
    results = dict(parse_many(paths, workers=2))
    assert set(results) == set(paths)
    assert [results[path].lines[1].text for path in paths] == [f"Paragraph {i}." for i in range(5)]


@needs_pdf_parser
def test_per_file_time_limit_skips_a_slow_file_and_goes_on():
    results = dict(parse_many([BIG_PDF, PAGE], workers=1, timeout_s=0.5))
    assert isinstance(results[BIG_PDF], ParseError)
    assert results[BIG_PDF].reason == "took longer than 0.5s; skipped"
    assert isinstance(results[PAGE], Document)  # a fresh worker took over


def test_per_file_memory_limit_skips_a_file_and_goes_on(tmp_path):
    huge = tmp_path / "huge.html"
    huge.write_text("<html><body>" + "<p>Recombinant DNA Advisory Committee.</p>\n" * 1_000_000 + "</body></html>")
    results = dict(parse_many([huge, PAGE], workers=1, max_memory_mb=16))
    assert isinstance(results[huge], ParseError)
    assert results[huge].reason == "needed more than 16 MB; skipped"
    assert isinstance(results[PAGE], Document)


def test_documents_from_workers_equal_in_process_parses():
    paths = sorted(HTML_DIR.glob("*.html"))
    from_workers = dict(parse_many(paths, workers=2))
    assert all(from_workers[path] == parse_file(path) for path in paths)


def test_parse_many_from_a_script_without_main_guard(tmp_path):
    # Workers never re-run the caller's script (multiprocessing spawn would: `python -`
    # and unguarded scripts broke).
    script = (
        "from gtindex.sources.ingest import parse_many\n"
        f"results = dict(parse_many([{str(PAGE)!r}, {str(PAGE)!r}], workers=2))\n"
        "print(sorted(type(r).__name__ for r in results.values()))\n"
    )
    completed = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True,
                               cwd=tmp_path, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "['Document']"


def test_parse_many_of_nothing_yields_nothing():
    assert list(parse_many([])) == []
