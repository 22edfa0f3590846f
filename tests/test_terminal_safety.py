"""Text from documents is data, never terminal commands.

A PDF and a web page carry escape sequences (OSC window title, CSI clear screen, the 8-bit
C1 CSI) and bidi overrides in their text, and a file is named with them. Human output of
parse, build, search, show, list and versions shows none of these characters raw; JSON
output escapes them and gives the exact text back to json.loads.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from gtindex.cli import main
from pdf_factory import pdf_from_objects

# C0 controls but tab and newline, DEL, C1 controls, bidi embeddings/overrides/isolates/marks.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")

OSC_TITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J"
RED = "\x1b[31m"
C1_CSI = "\x9b31m"
RLO, PDF_ = "\u202e", "\u202c"  # right-to-left override ... pop directional formatting

PDF_LINES = [
    f"Evil {OSC_TITLE}guidance title",
    f"Gene therapy stopping rules {RED}halt{CLEAR} the trial {C1_CSI}early.",
    f"Reversed {RLO}elbuod{PDF_} text about dose escalation.",
]
HTML_TITLE = f"Evil {OSC_TITLE}page"
HTML_PARAGRAPH = f"Gene therapy stopping rules {RED}halt{CLEAR} the study {C1_CSI}now and {RLO}reversed{PDF_} text."
HOSTILE_NAME = f"{OSC_TITLE}{CLEAR}notes.html"
MARKUP = "[link=https://evil.example]Click[/link] [blink]now[/blink]"  # rich console markup


def pdf_with_text(lines: list[str]) -> bytes:
    """A one-page PDF whose extracted text is exactly `lines`, any Unicode included.

    reportlab cannot draw control characters (they have no glyph), so the PDF is written by
    hand: a Helvetica font whose ToUnicode map sends byte codes >= 0x80 to the characters.
    """
    extra: dict[str, int] = {}

    def code(char: str) -> bytes:
        if 0x20 <= ord(char) < 0x7F:
            return b"\\" + char.encode() if char in "()\\" else char.encode()
        extra.setdefault(char, 0x80 + len(extra))
        return b"\\%03o" % extra[char]

    content = b"BT /F1 12 Tf 14 TL 72 720 Td\n"
    content += b"".join(b"(" + b"".join(code(char) for char in line) + b") Tj T*\n" for line in lines) + b"ET\n"
    pairs = [(byte, byte) for byte in range(0x20, 0x7F)] + [(byte, ord(char)) for char, byte in extra.items()]
    cmap = (
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /Hostile def\n"
        "1 begincodespacerange <00> <ff> endcodespacerange\n"
        f"{len(pairs)} beginbfchar\n" + "".join(f"<{a:02x}> <{b:04x}>\n" for a, b in pairs) + "endbfchar\n"
        "endcmap CMapName currentdict /CMap defineresource pop end end\n"
    ).encode()
    widths = b" ".join([b"556"] * 224)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /FirstChar 32 /LastChar 255 /Widths ["
        + widths + b"] /ToUnicode 6 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"endstream",
    ]
    return pdf_from_objects(objects)


def html_page(title: str, paragraph: str) -> bytes:
    return f"<html><head><title>{title}</title></head><body><h1>Stopping {CLEAR}rules</h1>" \
           f"<p>{paragraph}</p></body></html>".encode()


@pytest.fixture(scope="module")
def hostile_sources(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "evil.pdf").write_bytes(pdf_with_text(PDF_LINES))
    (folder / "evil.html").write_bytes(html_page(HTML_TITLE, HTML_PARAGRAPH))
    (folder / HOSTILE_NAME).write_bytes(html_page("Named badly", "Gene therapy long-term follow-up notes."))
    (folder / "markup.html").write_bytes(html_page(MARKUP, f"Stopping rules halt {MARKUP} the markup page."))
    return folder


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def assert_terminal_safe(output: str) -> None:
    found = UNSAFE.findall(output)
    assert not found, f"raw control characters reached the terminal: {found!r}"


def assert_safe_json(output: str):
    """The output is valid JSON with no raw control character; returns the parsed value."""
    assert_terminal_safe(output)
    return json.loads(output)


def texts_in(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in texts_in(item)]
    if isinstance(value, list):
        return [text for item in value for text in texts_in(item)]
    return []


# --------------------------------------------------------------------------- parse


def test_the_hostile_pdf_parses_to_exactly_its_text(hostile_sources):
    """The escapes are in the parsed data (text is data); only display removes them."""
    from gtindex.sources.ingest import parse_file

    lines = [line.text for line in parse_file(hostile_sources / "evil.pdf").lines]
    assert lines == PDF_LINES


@pytest.mark.parametrize("name", ["evil.pdf", "evil.html", HOSTILE_NAME])
def test_parse_shows_no_raw_controls(hostile_sources, name):
    result = run("parse", hostile_sources / name)
    assert result.exit_code == 0, result.output
    assert_terminal_safe(result.output)
    assert "stopping rules" in result.output or "follow-up" in result.output


@pytest.mark.parametrize("name", ["evil.pdf", "evil.html"])
def test_parse_json_escapes_controls_and_keeps_the_text(hostile_sources, name):
    result = run("parse", hostile_sources / name, "--json")
    assert result.exit_code == 0
    document = assert_safe_json(result.stdout)
    texts = [line["text"] for line in document["lines"]]
    expected = PDF_LINES if name == "evil.pdf" else [f"Stopping {CLEAR}rules", HTML_PARAGRAPH]
    assert texts == expected
    assert "\\u001b]0;pwned\\u0007" in result.stdout and "\\u009b" in result.stdout and "\\u202e" in result.stdout


def test_parse_error_naming_a_hostile_file_is_clean(tmp_path):
    bad = tmp_path / f"{OSC_TITLE}junk.pdf"
    bad.write_bytes(b"\x1b[2J" * 100)
    result = run("parse", bad)
    assert result.exit_code == 2
    assert result.stderr.startswith("gtindex: error: ") and "junk.pdf: not a PDF" in result.stderr
    assert_terminal_safe(result.stderr)


# --------------------------------------------------------------------------- index views


@pytest.fixture(scope="module")
def hostile_index(hostile_sources, tmp_path_factory) -> tuple[Path, str]:
    sources = tmp_path_factory.mktemp("hostile-sources")
    for path in hostile_sources.iterdir():
        shutil.copy(path, sources / path.name)
    (sources / f"{OSC_TITLE}broken.pdf").write_bytes(b"%PDF-1.4\n" + CLEAR.encode() * 50)
    index_dir = tmp_path_factory.mktemp("hostile-index") / "index"
    result = run("build", sources, "--index", index_dir)
    return index_dir, result


def test_build_output_is_clean(hostile_index):
    _index_dir, result = hostile_index
    assert result.exit_code == 3, result.output  # the broken PDF is skipped
    assert_terminal_safe(result.output)
    assert "broken.pdf:" in result.stderr and "notes.html" in result.stdout


@pytest.mark.parametrize("mode", ["hybrid", "lexical"])
def test_search_shows_no_raw_controls(hostile_index, mode):
    index_dir, _ = hostile_index
    result = run("search", "stopping rules halt", "--index", index_dir, "-k", 5, "--mode", mode)
    assert result.exit_code == 0
    assert_terminal_safe(result.output)
    assert "halt" in result.output


def test_search_json_escapes_controls_and_keeps_the_text(hostile_index):
    index_dir, _ = hostile_index
    query = f"stopping {RLO}rules{PDF_} {C1_CSI}halt"
    result = run("search", "--index", index_dir, "--json", "-k", 5, "--", query)
    assert result.exit_code == 0
    payload = assert_safe_json(result.stdout)
    assert payload["query"] == query
    texts = texts_in(payload["hits"])
    assert PDF_LINES[1] in texts and any(HTML_PARAGRAPH in text for text in texts)
    assert any(OSC_TITLE in hit["title"] or OSC_TITLE in hit["citation"] for hit in payload["hits"])


def test_batch_search_lines_are_safe(hostile_index, tmp_path):
    index_dir, _ = hostile_index
    batch = tmp_path / "batch.jsonl"
    batch.write_text(json.dumps({"id": OSC_TITLE, "query": "stopping rules halt"}) + "\n")
    result = run("search", "--batch", batch, "--index", index_dir, "--json")
    assert result.exit_code == 0
    record = assert_safe_json(result.stdout)
    assert record["id"] == OSC_TITLE and PDF_LINES[1] in texts_in(record["hits"])


def test_show_shows_no_raw_controls(hostile_index):
    index_dir, _ = hostile_index
    for args in (["evil.pdf", "--page", 1], ["evil.html", "--lines", "1-2"], [HOSTILE_NAME, "--lines", "1-2"]):
        result = run("show", *args, "--index", index_dir)
        assert result.exit_code == 0, result.output
        assert_terminal_safe(result.output)
        json_result = run("show", *args, "--index", index_dir, "--json")
        shown = assert_safe_json(json_result.stdout)
        if args[0] == "evil.pdf":
            assert [line["text"] for line in shown["lines"]] == PDF_LINES


def test_show_error_quoting_a_hostile_name_is_clean(hostile_index):
    index_dir, _ = hostile_index
    result = run("show", f"{OSC_TITLE}missing.pdf", "--lines", "1-2", "--index", index_dir)
    assert result.exit_code == 2
    assert_terminal_safe(result.output)


def test_list_and_versions_show_no_raw_controls(hostile_index):
    index_dir, _ = hostile_index
    for args in (["list"], ["versions", "evil.pdf"]):
        result = run(*args, "--index", index_dir)
        assert result.exit_code == 0, result.output
        assert_terminal_safe(result.output)
        payload = assert_safe_json(run(*args, "--index", index_dir, "--json").stdout)
        assert any(OSC_TITLE in text for text in texts_in(payload)) or args[0] == "versions"


# --------------------------------------------------------------------------- on a terminal

SGR = re.compile(r"\x1b\[[0-9;]*m")  # the colours and bold gtindex itself prints on a terminal


@pytest.mark.parametrize("command", [
    ["parse", "{sources}/evil.pdf"], ["parse", "{sources}/markup.html"], ["search", "stopping rules halt", "-k", "5"],
    ["show", "evil.pdf", "--page", "1"], ["show", "markup.html", "--lines", "1-2"], ["list"],
])
def test_on_a_terminal_only_gtindex_styles_its_output(hostile_sources, hostile_index, command):
    """With colour forced on (as on a terminal), the only escape sequences are gtindex's own
    SGR styles; document text never adds one, and rich markup in it is printed as text."""
    index_dir, _ = hostile_index
    args = [arg.format(sources=hostile_sources) for arg in command]
    if command[0] != "parse":
        args += ["--index", str(index_dir)]
    result = CliRunner(env={"FORCE_COLOR": "1", "NO_COLOR": None}).invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert SGR.search(result.output), "expected styled output on a forced terminal"
    assert_terminal_safe(SGR.sub("", result.output))
    if "markup" in " ".join(args) or command[0] in ("search", "list"):
        assert "[link=https://evil.example]" in SGR.sub("", result.output).replace("\n", "")


def test_the_build_progress_bar_goes_to_the_terminal_not_to_the_redirected_report(tmp_path):
    """`gtindex build SRC > report.txt` on a terminal: the bar is drawn on stderr (the
    terminal), and stdout holds the report alone."""
    import os
    import pty
    import subprocess
    import sys

    from conftest import HTML_DIR

    sources = tmp_path / "pages"
    sources.mkdir()
    shutil.copy(sorted(HTML_DIR.glob("*.html"))[0], sources)
    terminal, terminal_end = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "gtindex", "build", str(sources), "--index", str(tmp_path / "idx")],
                               stdout=subprocess.PIPE, stderr=terminal_end, env={**os.environ, "TERM": "xterm"})
    os.close(terminal_end)
    shown = b""
    while True:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # the pty closes when the process ends
            break
        if not chunk:
            break
        shown += chunk
    report = process.stdout.read().decode()
    assert process.wait(timeout=300) == 0
    assert "files parsed" in shown.decode(errors="replace")
    assert "files parsed" not in report and "\x1b" not in report and "\r" not in report, report
    assert report.startswith("added ") and "indexed 1 documents" in report, report
