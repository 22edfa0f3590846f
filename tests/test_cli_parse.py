"""`gtindex parse FILE [--json]` on real pages and bad files."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from conftest import HTML_DIR, PDF_DIR
from gtindex.cli import main

PAGE = HTML_DIR / "ngvb-other-helpful-resources.html"
LINE_KEYS = {"page", "page_label", "line", "line_on_page", "kind", "section", "text", "footnote"}
DOCUMENT_KEYS = {"doc", "source_type", "title", "status", "date", "center", "sha256", "pages", "line_kind",
                 "lines", "links"}


def run(*args: str):
    return CliRunner().invoke(main, ["parse", *args], catch_exceptions=False)


def test_parse_prints_a_readable_view_of_a_web_page():
    result = run(str(PAGE))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Other Helpful Resources"
    assert "ngvb-other-helpful-resources.html · HTML" in lines[1]
    assert "§ Other Helpful Resources > NIH Guidelines" in lines
    rac = [line for line in lines if "Recombinant DNA Advisory Committee (RAC)" in line]
    assert len(rac) == 1 and rac[0].split()[0] == "38"  # paragraph number in the margin
    assert "\x1b" not in result.output  # not a terminal: no colour codes
    assert "Skip to main content" not in result.output


def test_parse_json_is_one_object_with_the_documented_keys():
    result = run(str(PAGE), "--json")
    assert result.exit_code == 0
    document = json.loads(result.output)  # exactly one JSON value, nothing else printed
    assert set(document) == DOCUMENT_KEYS
    assert document["doc"] == PAGE.name and document["source_type"] == "html"
    assert len(document["sha256"]) == 64
    assert document["lines"] and all(set(line) == LINE_KEYS for line in document["lines"])
    assert [line["line"] for line in document["lines"]] == list(range(1, len(document["lines"]) + 1))
    assert any(link["url"].endswith("/human-gene-therapy-rare-diseases") for link in document["links"])


@pytest.mark.skipif(importlib.util.find_spec("gtindex.sources.pdf") is None, reason="no PDF parser yet")
def test_parse_json_of_a_real_pdf_carries_pages_and_line_numbers():
    result = run(str(PDF_DIR / "fda-refuse-to-file-nda-bla-draft-2017.pdf"), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["source_type"] == "pdf" and document["pages"] == 11
    assert set(document["lines"][0]) == LINE_KEYS
    assert any(line["line"] is not None for line in document["lines"])


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("failed-download.pdf", b"<!doctype html><html><body><p>Page not found</p></body></html>",
         "not a PDF: looks like HTML; the download probably failed"),
        ("empty.pdf", b"", "empty file"),
        ("junk.html", bytes(range(256)) * 8, "not a PDF or HTML page: unrecognised content"),
    ],
)
def test_parse_bad_file_exits_2_with_one_line_naming_the_file(tmp_path, name, content, reason):
    bad = tmp_path / name
    bad.write_bytes(content)
    completed = subprocess.run(
        [sys.executable, "-m", "gtindex", "parse", str(bad)], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr == f"gtindex: error: {bad}: {reason}\n"


def test_parse_missing_file_exits_2(tmp_path):
    result = CliRunner().invoke(main, ["parse", str(tmp_path / "gone.pdf")])
    assert result.exit_code == 2
    assert "gone.pdf: no such file" in result.output
    assert "Traceback" not in result.output
