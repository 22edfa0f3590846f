"""Fuzzing the parsers: mutated real PDFs and web pages give a Document or a ParseError, nothing else.

Hypothesis mutates small real files from corpus/ (byte flips, truncations, deletions,
duplications, splices of two files, PDF or HTML syntax fragments inserted) and hands each
batch to `ingest.parse_many`, the way a build parses: in worker processes with a per-file
time and memory limit. A worker that dies, which is what any exception other than
ParseError does to it, comes back as "parser crashed"; that is the failure looked for.
Hitting a limit is a bounded outcome (a ParseError with the reason) and is allowed.

Derandomized, no example database; 30 batches of 10 files run in about two minutes on 2 cores.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import HTML_DIR, PDF_DIR
from gtindex.documents import Document, ParseError
from gtindex.sources.ingest import parse_many

SEED_PDFS = [
    PDF_DIR / name
    for name in ("fda-andas-stability-testing-qa-2013.pdf", "fda-cdrh-needlesticks-mdr-2002.pdf",
                 "fda-pdma-drug-sample-donation-free-clinics-2006.pdf")
]
SEED_PAGES = sorted(HTML_DIR.glob("*.html"))
PDF_BYTES = [path.read_bytes() for path in SEED_PDFS]
HTML_BYTES = [path.read_bytes() for path in SEED_PAGES]

PDF_FRAGMENTS = [
    b"obj", b"endobj", b"<<", b">>", b"/Length 999999999", b"stream\n", b"endstream", b"/Filter /FlateDecode",
    b"/Encrypt 1 0 R", b"xref\n0 1\n", b"trailer", b"startxref\n0\n", b"%%EOF", b"1 0 R", b"[", b"]", b"(", b")",
    b"/Type /Page", b"/Kids [3 0 R 3 0 R]", b"/Count -1", b"/ToUnicode 9 0 R", b"\x00\xff\xfe", b"%PDF-1.7\n",
]
HTML_FRAGMENTS = [
    b"<", b">", b"</p>", b"<p>", b"<table><tr><td>", b"</td></tr></table>", b"<!--", b"-->", b"<![CDATA[",
    b"<script>", b"</script>", b"<meta charset=\"utf-16\">", b"<meta charset=\"x-bogus\">", b"&#x9b;", b"&#0;",
    b"&nbsp;", b"&", b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"<h1>", b"<h7>", b"<div hidden>", b"<a href=\"javascript:x\">",
    b"\x1b]0;pwned\x07", b"<base href=\"::::\">", b"<li>", b"<dl><dt>", b"<title>", b"</html>",
]

MAX_FILE_SECONDS = 60  # per-file limit in the workers (a mutated small file normally takes < 2 s)
MAX_FILE_MB = 1024


def _position(data: bytes, fraction: float) -> int:
    return min(len(data), int(fraction * len(data)))


fractions = st.floats(min_value=0.0, max_value=1.0)


@st.composite
def mutation(draw, fragments: list[bytes], others: list[bytes]):
    """One edit: a function from bytes to bytes."""
    kind = draw(st.sampled_from(["flip", "truncate", "delete", "duplicate", "splice", "insert", "random"]))
    a, b = sorted((draw(fractions), draw(fractions)))
    if kind == "flip":
        count = draw(st.integers(1, 64))
        seed = draw(st.integers(0, 2**32 - 1))

        def flip(data: bytes) -> bytes:
            out = bytearray(data)
            for i in range(count if out else 0):
                position = (seed * (i + 1) * 2654435761) % len(out)
                out[position] ^= 1 << (i % 8)
            return bytes(out)

        return flip
    if kind == "truncate":
        return lambda data: data[: _position(data, b)]
    if kind == "delete":
        return lambda data: data[: _position(data, a)] + data[_position(data, b):]
    if kind == "duplicate":
        return lambda data: data[: _position(data, b)] + data[_position(data, a): _position(data, b)] + data[_position(data, b):]
    if kind == "splice":
        other = draw(st.sampled_from(others))
        return lambda data: data[: _position(data, a)] + other[_position(other, b):]
    if kind == "insert":
        fragment = draw(st.sampled_from(fragments)) * draw(st.integers(1, 50))
        return lambda data: data[: _position(data, a)] + fragment + data[_position(data, a):]
    junk = draw(st.binary(min_size=1, max_size=512))
    return lambda data: data[: _position(data, a)] + junk + data[_position(data, a):]


@st.composite
def mutated_file(draw) -> tuple[str, bytes]:
    """(file suffix, content): a real PDF or web page after 1 to 4 edits."""
    is_pdf = draw(st.booleans())
    seeds, fragments = (PDF_BYTES, PDF_FRAGMENTS) if is_pdf else (HTML_BYTES, HTML_FRAGMENTS)
    data = draw(st.sampled_from(seeds))
    for edit in draw(st.lists(mutation(fragments, seeds), min_size=1, max_size=4)):
        data = edit(data)
    return (".pdf" if is_pdf else ".html"), data


def _traceback_of(path: Path) -> str:
    """What parse_file raises in a fresh process: the report for a crash found here."""
    completed = subprocess.run(
        [sys.executable, "-c", "import sys; from gtindex.sources.ingest import parse_file; parse_file(sys.argv[1])", str(path)],
        capture_output=True, text=True, timeout=MAX_FILE_SECONDS * 2,
    )
    return completed.stderr[-3000:] or f"exit code {completed.returncode}, no output"


@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(mutated_file(), min_size=10, max_size=10))
def test_mutated_files_give_a_document_or_a_parse_error(files):
    with tempfile.TemporaryDirectory(prefix="gtindex-fuzz-") as folder:
        paths = []
        for number, (suffix, data) in enumerate(files):
            path = Path(folder) / f"mutant-{number}{suffix}"
            path.write_bytes(data)
            paths.append(path)
        results = dict(parse_many(paths, workers=2, timeout_s=MAX_FILE_SECONDS, max_memory_mb=MAX_FILE_MB))
        assert set(results) == set(paths)
        for path, result in results.items():
            assert isinstance(result, (Document, ParseError)), f"{path.name}: {result!r}"
            if isinstance(result, ParseError):
                assert result.reason and "\n" not in result.reason
                assert not result.reason.startswith("parser crashed"), (
                    f"{path.name} ({path.stat().st_size} bytes) crashed the parser:\n{_traceback_of(path)}"
                )
            else:
                assert all(isinstance(line.text, str) for line in result.lines)
