"""gtindex fetch against hostile servers (issue 14, items 1 and 4): a server that trickles one
byte at a time, SIGTERM in the middle of a download, a body shorter than its Content-Length,
a URL whose file name is 10,000 characters.

Everything runs `gtindex` as a separate process against a local HTTP server on 127.0.0.1,
so the exit code, stderr and the --json report are what a user gets; the hang cases run
under a timeout and finish within seconds.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from conftest import PDF_DIR
from helpers import local_site

PDF = sorted(PDF_DIR.glob("*.pdf"), key=lambda p: p.stat().st_size)[0].read_bytes()
TRICKLE_INTERVAL_S = 0.2
TRICKLE_FOR_S = 60  # far past every limit under test: only gtindex can end the download early


class HostileSite(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (http.server naming)
        try:
            if self.path == "/trickle.pdf":  # headers at once, then one byte at a time
                self.headers_for(len(PDF))
                self.trickle(PDF)
            elif self.path == "/trickle-headers.pdf":  # even the status line comes byte by byte
                self.trickle(b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nX-Padding: " + b"x" * 1000)
            elif self.path == "/truncated.pdf":  # declares the whole file, sends half, closes
                self.headers_for(len(PDF))
                self.wfile.write(PDF[: len(PDF) // 2])
                self.close_connection = True
            elif self.path.startswith("/long/"):
                self.headers_for(len(PDF))
                self.wfile.write(PDF)
            else:
                self.send_error(404)
        except (BrokenPipeError, ConnectionResetError):
            pass  # gtindex gave up on us, as it should

    def headers_for(self, length: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/pdf")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.flush()

    def trickle(self, data: bytes) -> None:
        stop = time.monotonic() + TRICKLE_FOR_S
        for byte in data:
            if time.monotonic() > stop:
                break
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(TRICKLE_INTERVAL_S)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    with local_site(HostileSite) as url:
        yield url


def environment() -> dict:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["no_proxy"] = "127.0.0.1,localhost"
    return env


def gtindex_fetch(tmp_path: Path, *urls: str, extra=(), timeout: float = 60) -> tuple[subprocess.CompletedProcess, float]:
    (tmp_path / "urls.txt").write_text("\n".join(urls) + "\n")
    command = [sys.executable, "-m", "gtindex", "fetch", "--urls", str(tmp_path / "urls.txt"), "--corpus",
               str(tmp_path / "corpus"), "--index", str(tmp_path / "no-index"), "--json", *extra]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment(), cwd=tmp_path)
    return result, time.monotonic() - started


def leftovers(corpus: Path) -> list[str]:
    return sorted(p.name for p in corpus.glob(".fetch-*")) if corpus.is_dir() else []


def no_traceback(result) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) <= 1, result.stderr


# ---------------------------------------------------------------- item 1: slow senders, SIGTERM


@pytest.mark.parametrize("path", ["/trickle.pdf", "/trickle-headers.pdf"])
def test_a_server_sending_one_byte_at_a_time_is_cut_off_at_the_deadline(site, tmp_path, path):
    """Each byte arrives well inside --timeout, so only a deadline for the whole download ends it."""
    result, seconds = gtindex_fetch(tmp_path, site + path, extra=["--timeout", "3", "--retries", "0", "--deadline", "2"])

    assert seconds < 15, f"took {seconds:.1f} s"
    assert result.returncode == 3, result.stderr
    no_traceback(result)
    report = json.loads(result.stdout)
    assert report["downloaded"] == []
    assert [f["url"] for f in report["failed"]] == [site + path]
    assert "took longer than the 2 s deadline" in report["failed"][0]["reason"]
    assert not list((tmp_path / "corpus").glob("*.pdf")) and leftovers(tmp_path / "corpus") == []


def test_sigterm_during_a_download_leaves_no_partial_file(site, tmp_path):
    corpus = tmp_path / "corpus"
    (tmp_path / "urls.txt").write_text(f"{site}/trickle.pdf\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "gtindex", "fetch", "--urls", str(tmp_path / "urls.txt"), "--corpus", str(corpus),
         "--index", str(tmp_path / "no-index"), "--retries", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment(), cwd=tmp_path,
    )
    try:
        waited = time.monotonic() + 30
        while not leftovers(corpus) and time.monotonic() < waited and process.poll() is None:
            time.sleep(0.05)
        assert leftovers(corpus), "the download never started"
        time.sleep(3 * TRICKLE_INTERVAL_S)  # some bytes written into the partial file
        process.send_signal(signal.SIGTERM)
        _stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert leftovers(corpus) == []
    assert not list(corpus.glob("*.pdf"))
    assert process.returncode == 128 + signal.SIGTERM, stderr  # the shell's code for it
    assert "Traceback" not in stderr and stderr.strip().splitlines() == ["gtindex: terminated (SIGTERM)"], stderr


# ---------------------------------------------------------------- item 4: truncated bodies, long names


def test_a_body_shorter_than_its_content_length_is_not_kept_nor_recorded(site, tmp_path):
    result, _ = gtindex_fetch(tmp_path, f"{site}/truncated.pdf", extra=["--retries", "0"])

    assert result.returncode == 3, result.stderr
    no_traceback(result)
    report = json.loads(result.stdout)
    assert report["downloaded"] == []
    reason = report["failed"][0]["reason"]
    assert reason.startswith(f"download incomplete: the server declared {len(PDF):,} bytes and sent {len(PDF) // 2:,}")
    corpus = tmp_path / "corpus"
    assert not list(corpus.glob("*.pdf")) and leftovers(corpus) == []
    ledger = corpus / ".fetched.json"
    assert not ledger.exists() or f"{site}/truncated.pdf" not in json.loads(ledger.read_text())["urls"]


def test_a_10000_character_file_name_is_shortened_over_http(site, tmp_path):
    url = f"{site}/long/{'a' * 10_000}.pdf"
    result, _ = gtindex_fetch(tmp_path, url)

    assert result.returncode == 0, result.stderr
    no_traceback(result)
    [downloaded] = json.loads(result.stdout)["downloaded"]
    assert len(downloaded["file"]) <= 130 and (tmp_path / "corpus" / downloaded["file"]).read_bytes() == PDF


def test_a_10000_character_file_name_in_mirror_mode_is_one_failure_and_the_report_survives(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "present.pdf").write_bytes(PDF)
    long_url = f"https://www.fda.gov/media/{'a' * 10_000}.pdf"
    result, _ = gtindex_fetch(tmp_path, long_url, "https://www.fda.gov/files/present.pdf", extra=["--from", str(mirror)])

    assert result.returncode == 3, result.stderr
    no_traceback(result)
    report = json.loads(result.stdout)
    assert [d["file"] for d in report["downloaded"]] == ["present.pdf"]
    assert [f["url"] for f in report["failed"]] == [long_url]
    assert report["failed"][0]["reason"].startswith("not in the mirror folder")
