"""Hostile files, round two (issue 14, items 5 and 9): what one file can make gtindex store,
embed, print and hold in memory is bounded, and a PDF whose fonts have no Unicode map is
skipped with a reason instead of being indexed as "(cid:42)(cid:72)...".

The memory cases run `gtindex` as a separate process under a measuring parent, which reads
the peak RSS of everything below it (getrusage RUSAGE_CHILDREN: the CLI and its parser
workers) and caps their address space, so that a regression fails the test instead of the
machine.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from reportlab.pdfgen import canvas

from gtindex.documents import CLIPPED, MAX_LINE_CHARS, MAX_TITLE_CHARS, Document, Line, ParseError
from gtindex.sources.ingest import parse_file
from gtindex.passages import MAX_PASSAGE_CHARS, make_passages
from gtindex.sources.pdf import NO_UNICODE_MAP
from pdf_factory import pdf_from_objects

GIB = 1 << 30

# Runs argv[4:] with its address space capped at argv[2] bytes, killing its whole process group
# after argv[3] seconds (exit 124); writes the peak RSS (bytes) of the tree below it to argv[1].
MEASURE = """
import os, resource, signal, subprocess, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]), int(sys.argv[2])))
child = subprocess.Popen(sys.argv[4:], start_new_session=True)
try:
    code = child.wait(timeout=float(sys.argv[3]))
except subprocess.TimeoutExpired:
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    code = 124
open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024))
sys.exit(code)
"""


def measured_gtindex(tmp_path: Path, *args: str, address_space: int = 6 * GIB, timeout: float = 300):
    """(completed process, peak RSS in bytes, wall seconds) of `gtindex ARGS`, killed after `timeout`."""
    rss_file = tmp_path / "peak-rss"
    command = [sys.executable, "-c", MEASURE, str(rss_file), str(address_space), str(timeout),
               sys.executable, "-m", "gtindex", *args]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, timeout=timeout + 60, cwd=tmp_path)
    return result, int(rss_file.read_text()), time.monotonic() - started


def one_line_error(result) -> str:
    stderr = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr[-3000:]
    assert result.returncode == 2, stderr[-3000:]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


# --------------------------------------------------------------------------- hand-made PDFs


def stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def identity_font_pdf(cid_lines: list[str], text_lines: list[str] = ()) -> bytes:
    """One page: `cid_lines` in a Type0 font with /Encoding /Identity-H, no /ToUnicode and no
    embedded font program (nothing maps its glyph ids back to characters), then
    `text_lines` in Helvetica."""
    content = b"BT /F1 12 Tf 14 TL 72 720 Td\n"
    for line in cid_lines:
        content += b"<%s> Tj T*\n" % "".join(f"{ord(ch) - 29:04X}" for ch in line).encode()  # Arial glyph ids
    content += b"/F2 12 Tf\n" + b"".join(b"(%s) Tj T*\n" % line.encode() for line in text_lines) + b"ET"
    return pdf_from_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R /F2 8 0 R >> >> >>",
        stream(content),
        b"<< /Type /Font /Subtype /Type0 /BaseFont /ABCDEF+Arial /Encoding /Identity-H /DescendantFonts [6 0 R] >>",
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /ABCDEF+Arial /FontDescriptor 7 0 R /DW 500 "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> >>",
        b"<< /Type /FontDescriptor /FontName /ABCDEF+Arial /Flags 32 /FontBBox [0 -200 1000 900] "
        b"/ItalicAngle 0 /Ascent 900 /Descent -200 /CapHeight 700 /StemV 80 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ])


def deflate_bomb(size: int, unit: int = 1 << 24) -> bytes:
    """zlib data inflating to `size` zero bytes (a multiple of `unit`), made without compressing
    them all: after a full flush, every further block of zeros compresses to the same bytes."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(unit)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    body = first + block * (size // unit - 1) + compressor.flush(zlib.Z_FINISH)
    adler = ((size % 65521) << 16) | 1  # Adler-32 of `size` zero bytes
    return b"\x78\xda" + body + adler.to_bytes(4, "big")


def bomb_pdf(inflated: int) -> bytes:
    """A page whose content stream is ~inflated/1000 bytes on disk and `inflated` bytes read."""
    return pdf_from_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        stream(deflate_bomb(inflated), b"/Filter /FlateDecode "),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ])


# --------------------------------------------------------------------------- item 9: no Unicode map


SENTENCES = ["Guidance for Industry on gene therapy products", "Stopping rules in early phase trials",
             "Shedding studies for oncolytic viruses", "Potency assays for cellular products"]


def test_a_pdf_whose_font_has_no_unicode_map_is_skipped_with_a_reason(tmp_path):
    path = tmp_path / "identity-h.pdf"
    path.write_bytes(identity_font_pdf(SENTENCES * 3))

    with pytest.raises(ParseError) as error:
        parse_file(path)
    assert error.value.reason == NO_UNICODE_MAP == "no usable text layer (fonts without a Unicode map); OCR it first"

    result = subprocess.run([sys.executable, "-m", "gtindex", "parse", str(path)], capture_output=True, cwd=tmp_path)
    assert one_line_error(result) == f"gtindex: error: {path}: {NO_UNICODE_MAP}"


def test_a_few_unmapped_glyphs_among_real_text_are_kept(tmp_path):
    """A symbol font without a map (a bullet, a check mark) must not cost the document."""
    path = tmp_path / "mostly-text.pdf"
    path.write_bytes(identity_font_pdf(["ab"], SENTENCES * 3))

    document = parse_file(path)
    assert any("Stopping rules in early phase trials" in line.text for line in document.lines)


# --------------------------------------------------------------------------- item 5: titles, lines, passages


def test_a_100000_character_pdf_title_is_cut(tmp_path):
    path = tmp_path / "long-title.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.setTitle("Gene Therapy " * 7_700)  # ~100,000 characters; the cover prints no title of its own
    pdf.drawString(72, 720, "ab")
    pdf.showPage()
    for number, line in enumerate(SENTENCES):
        pdf.drawString(72, 720 - 14 * number, line)
    pdf.showPage()
    pdf.save()

    result = subprocess.run([sys.executable, "-m", "gtindex", "parse", "--json", str(path)], capture_output=True,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    title = json.loads(result.stdout)["title"]
    assert title.startswith("Gene Therapy Gene Therapy") and title.endswith(CLIPPED)
    assert len(title) == MAX_TITLE_CHARS


def test_passages_of_long_unknown_words_stay_bounded():
    """A word over 100 characters is one [UNK] word piece: without a character bound, a window
    of such lines would grow to 150 of them. The real tokenizer counts them."""
    lines = [Line(page=1, page_label=None, line=n, line_on_page=n, kind="body", section="S", text="w" * 3_000)
             for n in range(1, 201)]
    passages = make_passages(Document(doc="x.html", source_type="html", sha256="0", lines=lines))

    assert passages and max(len(p.text) for p in passages) <= MAX_PASSAGE_CHARS
    covered = {seq for p in passages for seq in range(p.seq_start, p.seq_end + 1)}
    assert covered == set(range(200))


def test_a_50_mb_web_page_that_is_one_word_parses_in_bounded_time_memory_and_output(tmp_path):
    page = tmp_path / "one-word.html"
    page.write_bytes(b"<html><head><title>One word</title></head><body><h1>One word</h1><p>"
                     + b"x" * (50 << 20) + b"</p><p>After the word.</p></body></html>")

    result, peak_rss, seconds = measured_gtindex(tmp_path, "parse", "--json", str(page), timeout=120)

    assert result.returncode == 0, result.stderr[-2000:]
    lines = json.loads(result.stdout)["lines"]
    assert [line["text"] for line in lines][-1] == "After the word."
    word = lines[1]["text"]
    assert len(word) == MAX_LINE_CHARS and word.endswith(CLIPPED)
    assert len(result.stdout) < 20_000  # not 50 MB
    assert peak_rss < 1.5 * GIB, f"peak RSS {peak_rss / GIB:.2f} GiB"
    assert seconds < 60


def test_a_pdf_inflating_to_3_gib_is_skipped_by_gtindex_parse_within_the_worker_memory_limit(tmp_path):
    """The build's parser worker skips it; `gtindex parse` used to read it in its own process
    (6.3 GB RSS). The cap on the measured tree (6 GiB address space) keeps a regression from
    taking the machine down; it then fails on the RSS bound or the message."""
    path = tmp_path / "bomb.pdf"
    path.write_bytes(bomb_pdf(3 * GIB))
    assert path.stat().st_size < 4 << 20

    result, peak_rss, seconds = measured_gtindex(tmp_path, "parse", str(path), timeout=120)

    assert one_line_error(result) == f"gtindex: error: {path}: needed more than 2048 MB; skipped"
    assert peak_rss < 2.6 * GIB, f"peak RSS {peak_rss / GIB:.2f} GiB"
    assert seconds < 60


def test_adding_a_50_mb_one_word_page_to_an_index_takes_seconds_and_bounded_memory(small_index, tmp_path):
    """The issue's case: `gtindex add` spent 234 s and 6.2 GB embedding a 50 MB word."""
    index = tmp_path / "index"
    shutil.copytree(small_index, index)
    page = tmp_path / "one-word.html"
    page.write_bytes(b"<html><head><title>One word</title></head><body><p>Shedding studies. "
                     + b"x" * (50 << 20) + b"</p></body></html>")

    result, peak_rss, seconds = measured_gtindex(tmp_path, "add", str(page), "--index", str(index), "--json",
                                                 address_space=12 * GIB, timeout=300)

    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["added"] == ["one-word.html"]
    assert peak_rss < 3 * GIB, f"peak RSS {peak_rss / GIB:.2f} GiB"
    assert seconds < 150, f"took {seconds:.0f} s"
    shown = subprocess.run([sys.executable, "-m", "gtindex", "show", "one-word.html", "--lines", "1",
                            "--index", str(index), "--json"], capture_output=True, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert len(json.loads(shown.stdout)["lines"][0]["text"]) == MAX_LINE_CHARS


# --------------------------------------------------------------------------- page boxes


def one_page_pdf(page_box: bytes, text_lines: list[str]) -> bytes:
    content = b"BT /F1 12 Tf 14 TL 72 720 Td\n" + b"".join(b"(%s) Tj T*\n" % t.encode() for t in text_lines) + b"ET"
    return pdf_from_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R %s /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>" % page_box,
        stream(content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ])


@pytest.mark.parametrize("page_box", [
    b"",  # no /MediaBox at all (pdfplumber: TypeError)
    b"/MediaBox [0 0 612]",  # three numbers (IndexError)
    b"/MediaBox (612 792)",  # a string
    b"/MediaBox [0 0 0 0]",  # empty: "no text layer"
    b"/MediaBox [0 0 612 792] /CropBox [0 0 x]",  # a malformed crop box
    b"/MediaBox [0 0 612 792] /TrimBox [0 0 x y]",  # a malformed trim box, which nothing here reads
])
def test_a_page_with_a_missing_or_malformed_box_is_read_as_us_letter(tmp_path, page_box):
    path = tmp_path / "box.pdf"
    path.write_bytes(one_page_pdf(page_box, SENTENCES))

    document = parse_file(path)

    assert [line.text for line in document.lines] == SENTENCES
    assert {line.page for line in document.lines} == {1}
