"""Smaller hostile cases (issue 14, item 10): a page declaring a codec that is not a text
encoding, a stalled `gtindex serve` client, an enormous --lines range, queries made of
control characters, a bad query inside a --batch file, a newline in an indexed file name.

Each CLI case runs `gtindex` as a separate process: its exit code and stderr are what a
user gets (one line, exit 2, never a traceback).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import HTML_DIR
from gtindex import serve
from gtindex.sources.ingest import parse_file

RARE = "fda-gt-rare-diseases-draft-2018.pdf"  # in the small_index fixture (conftest)


def gtindex(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300):
    return subprocess.run([sys.executable, "-m", "gtindex", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def one_line_error(result) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stdout[-500:], result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --------------------------------------------------------------------------- codecs that are not text encodings


@pytest.mark.parametrize("codec", ["rot13", "base64"])
def test_a_page_declaring_a_codec_that_is_not_a_text_encoding_is_decoded_by_detection(tmp_path, codec):
    page = tmp_path / f"{codec}.html"
    text = ("<html><head><meta charset=\"{codec}\"><title>Café guidance</title></head><body>"
            "<p>Les résultats de l'étude sur la thérapie génique.</p></body></html>").format(codec=codec)
    page.write_bytes(text.encode("cp1252"))

    document = parse_file(page)

    assert document.title == "Café guidance"
    assert document.lines[0].text.startswith("Les résultats de l'étude sur la thérapie génique")


# --------------------------------------------------------------------------- show --lines


def test_an_enormous_line_range_is_a_one_line_error(small_index, tmp_path):
    result = gtindex("show", RARE, "--lines", "1-99999999999999999999999", "--index", small_index, cwd=tmp_path)
    assert one_line_error(result) == ("gtindex: error: --lines 1-99999999999999999999999: no document has a line "
                                      "99999999999999999999999; line numbers go up to 1,000,000,000")


# --------------------------------------------------------------------------- queries of control characters


@pytest.mark.parametrize("query", ["\x1b", "\x1b\x1b\x07\t", "\x7f\x9b\u202e"])
def test_a_query_of_control_characters_only_is_empty(small_index, tmp_path, query):
    result = gtindex("search", query, "--index", small_index, cwd=tmp_path)
    assert one_line_error(result) == "gtindex: error: empty query; type the words or question to search for"


@pytest.mark.parametrize(("query", "reason"), [
    ("\u0000\u0000", "empty query; type the words or question to search for"),
    ("rules \udcff", "the query is not valid UTF-8 text"),  # a lone surrogate: bytes that were not UTF-8
])
def test_a_bad_query_in_a_batch_stops_it_naming_the_file_and_line(small_index, tmp_path, query, reason):
    batch = tmp_path / "queries.jsonl"
    batch.write_text("\n".join(json.dumps(record) for record in [
        {"id": "a", "query": "stopping rules"},
        {"id": "b", "query": query},
        {"id": "c", "query": "shedding"},
    ]) + "\n")

    result = gtindex("search", "--batch", batch, "--json", "--index", small_index, cwd=tmp_path)

    assert one_line_error(result).startswith(f"gtindex: error: {batch}:2: {reason}")
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["a"]  # answered before line 2


def test_a_batch_with_an_unknown_document_blames_the_command_line_not_the_file(small_index, tmp_path):
    batch = tmp_path / "queries.jsonl"
    batch.write_text(json.dumps({"id": "a", "query": "stopping rules"}) + "\n")

    result = gtindex("search", "--batch", batch, "--json", "--doc", "nosuch", "--index", small_index, cwd=tmp_path)

    assert one_line_error(result).startswith("gtindex: error: no document named 'nosuch'")  # was "FILE:1: no document …"
    assert result.stdout == ""


def test_a_batch_file_with_bytes_that_are_not_utf8_is_a_one_line_error_naming_the_line(small_index, tmp_path):
    """Raw bytes (a file saved as Latin-1), not a JSON escape: caught when the file is read,
    before any query runs (it was a UnicodeDecodeError traceback, exit 1)."""
    batch = tmp_path / "queries.jsonl"
    batch.write_bytes(b'{"id": "a", "query": "stopping rules"}\n{"id": "b", "query": "r\xe8gles"}\n')

    result = gtindex("search", "--batch", batch, "--json", "--index", small_index, cwd=tmp_path)

    assert one_line_error(result) == (f"gtindex: error: {batch}:2: not UTF-8 (byte 0xe8 at column 24); "
                                      "save the file as UTF-8")
    assert result.stdout == ""


@pytest.mark.parametrize(("args", "message"), [
    (["search"], "give a QUERY or --batch FILE (not both) (see `gtindex search --help`)"),
    (["search", "rules", "-k", "0"], "Invalid value for '-k': 0 is not in the range 1<=x<=100. (see `gtindex search --help`)"),
    (["parse", "--index", "x", "y"], "No such option '--index'. (see `gtindex parse --help`)"),
    (["nosuch"], "No such command 'nosuch'. (see `gtindex --help`)"),
    (["--bogus", "search", "rules"], "No such option '--bogus'. (see `gtindex --help`)"),  # the group's own
    (["search", "rules", "--doc", "a", "--doc", "b"],  # it searched b alone
     "Invalid value for '--doc': give it once, not 2 times (a, b) (see `gtindex search --help`)"),
])
def test_a_usage_error_is_one_line_naming_the_help_to_read(small_index, tmp_path, args, message):
    """click's own form is three lines (Usage, Try, Error)."""
    assert one_line_error(gtindex(*args, cwd=tmp_path)) == f"gtindex: error: {message}"


def test_show_takes_a_line_range_as_a_citation_prints_it(small_index, tmp_path):
    """A citation says "lines 348–351" (an en dash): pasted into --lines, it is the range."""
    pasted = gtindex("show", RARE, "--lines", "348\u2013351", "--index", small_index, "--json", cwd=tmp_path)
    assert pasted.returncode == 0, pasted.stderr
    assert [line["line"] for line in json.loads(pasted.stdout)["lines"]] == [348, 349, 350, 351]


def test_output_that_cannot_be_written_is_a_one_line_error(small_index, tmp_path):
    """`> /dev/full` and an output encoding without "§" were tracebacks with exit 1."""
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "gtindex", "search", "stopping rules", "-k", "1",
                                 "--index", str(small_index)], stdout=full, stderr=subprocess.PIPE, text=True,
                                cwd=tmp_path, timeout=300)
    assert one_line_error(result) == "gtindex: error: cannot write the output (No space left on device); free space where it goes"
    ascii_only = {**os.environ, "PYTHONIOENCODING": "ascii"}
    result = gtindex("search", "stopping rules", "-k", "1", "--index", small_index, cwd=tmp_path, env=ascii_only)
    assert one_line_error(result).startswith("gtindex: error: the output encoding (ascii) cannot show '\\xa7'; ")
    as_json = gtindex("search", "stopping rules", "-k", "1", "--json", "--index", small_index, cwd=tmp_path, env=ascii_only)
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["hits"]  # JSON escapes what is not ASCII


def test_an_update_read_by_a_reader_that_stops_keeps_its_exit_code(small_index, tmp_path):
    """`gtindex remove … | head -c1`: the update was done; it exited 1 ("nothing found")."""
    index = tmp_path / "index"
    shutil.copytree(small_index, index)
    reader = subprocess.Popen([sys.executable, "-m", "gtindex", "remove", RARE, "--index", str(index)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    reader.stdout.close()  # before the report is printed
    stderr = reader.stderr.read().decode()
    assert reader.wait(timeout=300) == 0, stderr
    assert "Traceback" not in stderr and "Broken pipe" not in stderr
    listed = gtindex("list", "--json", "--index", index, cwd=tmp_path)
    assert RARE not in listed.stdout and listed.returncode == 0


def test_a_query_with_words_among_control_characters_is_answered(small_index, tmp_path):
    result = gtindex("search", "\x1bstopping rules\x07", "--index", small_index, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["hits"]


# --------------------------------------------------------------------------- list: a newline in a file name


def test_list_shows_a_newline_in_a_file_name_escaped(small_index, tmp_path):
    index = tmp_path / "index"
    shutil.copytree(small_index, index)
    page = tmp_path / "two\nlines.html"
    shutil.copy(HTML_DIR / "asgct-strategic-plan.html", page)
    page.write_text(page.read_text(encoding="utf-8").replace("Strategic Plan", "Strategic\nPlan"), encoding="utf-8")
    page.write_bytes(page.read_bytes() + b"<!-- another file: not the same content -->")
    added = gtindex("add", page, "--index", index, cwd=tmp_path)
    assert added.returncode == 0, added.stderr

    listed = gtindex("list", "--index", index, cwd=tmp_path, env={**os.environ, "COLUMNS": "200"})

    assert listed.returncode == 0, listed.stderr
    assert "two\\nlines.html" in listed.stdout
    assert "two\nlines" not in listed.stdout
    assert not any(line.startswith("lines.html") for line in listed.stdout.splitlines())
    as_json = gtindex("list", "--index", index, "--json", cwd=tmp_path)
    assert "two\nlines.html" in [doc["doc"] for doc in json.loads(as_json.stdout)["documents"]]  # data unchanged


# --------------------------------------------------------------------------- serve: a stalled client


def test_a_stalled_client_does_not_delay_other_searches_on_the_server(small_index, tmp_path, monkeypatch):
    runtime = tmp_path / "run"
    runtime.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    server = subprocess.Popen([sys.executable, "-m", "gtindex", "serve", "--index", str(small_index)],
                              stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        path = serve.socket_path(small_index)
        waited = time.monotonic() + 240
        while not path.exists():
            assert time.monotonic() < waited and server.poll() is None, "the server did not start"
            time.sleep(0.2)
        assert serve.served_search(small_index, "stopping rules", {"k": 1}) is not None  # warm

        stalled.connect(str(path))
        stalled.sendall(b'{"query": "stopping')  # half a request, and the connection stays open
        time.sleep(0.2)
        started = time.monotonic()
        hits = serve.served_search(small_index, "stopping rules", {"k": 3})
        seconds = time.monotonic() - started

        assert hits is not None and len(hits) == 3  # answered by the server, not the in-process fallback
        assert seconds < 3, f"took {seconds:.1f} s"
        stalled.settimeout(serve.REQUEST_READ_TIMEOUT_S + 5)
        assert stalled.recv(100) == b""  # the stalled client is dropped after the read timeout
    finally:
        stalled.close()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert server.returncode == 0, server.stderr.read()


def test_an_index_path_under_a_file_or_a_folder_in_place_of_lock_is_one_line(small_index, tmp_path):
    """Faults no command foresaw were tracebacks with exit 1 ("nothing found")."""
    (tmp_path / "afile").write_text("not a folder")
    page = HTML_DIR / "asgct-strategic-plan.html"
    result = gtindex("add", page, "--index", tmp_path / "afile" / "idx", cwd=tmp_path)
    assert one_line_error(result) == (f"gtindex: error: {tmp_path / 'afile' / 'idx'}: Not a directory; "
                                      "check that path and its permissions")

    index_dir = tmp_path / "idx"
    shutil.copytree(small_index, index_dir)
    (index_dir / "LOCK").unlink(missing_ok=True)
    (index_dir / "LOCK").mkdir()
    result = gtindex("add", page, "--index", index_dir, cwd=tmp_path)
    assert one_line_error(result) == f"gtindex: error: {index_dir / 'LOCK'}: Is a directory; check that path and its permissions"


def test_remove_on_a_folder_without_an_index_leaves_nothing_behind(tmp_path):
    result = gtindex("remove", "x.pdf", "--index", tmp_path / "none", cwd=tmp_path)
    assert one_line_error(result) == f"gtindex: error: no index at {tmp_path / 'none'}; nothing to remove"
    assert not (tmp_path / "none").exists()  # it made the folder and a LOCK file in it


def test_a_name_typed_short_is_suggested_in_full(small_index, tmp_path):
    result = gtindex("show", "fda-gt-rare", "--lines", "1", "--index", small_index, cwd=tmp_path)
    assert one_line_error(result) == (f"gtindex: error: no document named 'fda-gt-rare' in {small_index}; "
                                      "did you mean fda-gt-rare-diseases-draft-2018.pdf?")
