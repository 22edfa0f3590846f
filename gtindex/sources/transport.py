"""Opening a URL and reading what comes back: over http(s) with timeouts and a deadline, or from a mirror folder.

A download must pass all of this before it is handed on: http/https only (a `file:` URL is only
ever resolved inside the `--from` mirror folder), a connect/read timeout, a total deadline per
attempt (a server sending one byte a second never times out a read), a size cap checked on
Content-Length and again while streaming, the whole declared Content-Length received (a
connection closed early is a failed download, not a short PDF), and the `%PDF-` magic bytes. The
body is streamed into a hidden temporary file in the corpus folder, removed on any failure.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import socket
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import urlsplit

from .. import __version__
from .urls import WEB_SCHEMES, name_candidates, name_fits, url_basename

MB = 1024 * 1024
CHUNK_BYTES = 64 * 1024
PDF_MAGIC = b"%PDF-"
HTML_NOT_PDF = "server returned an HTML page, not a PDF"
USER_AGENT = f"gtindex/{__version__} (guidance fetch)"


class FetchFailure(Exception):
    """One URL could not be fetched; `transient` failures are worth retrying."""

    def __init__(self, reason: str, transient: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


def check_url(url: str, mirror: bool) -> None:
    """Raise FetchFailure for a URL gtindex must not fetch."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file" and mirror:
        return  # resolved by name inside the mirror folder, never at its literal path
    if scheme == "file":
        raise FetchFailure("file: URLs are only read from a mirror folder (--from DIR)")
    if not scheme:
        raise FetchFailure("not an absolute http(s) URL")
    if scheme not in WEB_SCHEMES:
        raise FetchFailure(f"unsupported URL scheme '{scheme}:' (only http and https)")
    if not parts.hostname:
        raise FetchFailure("URL has no host name")


# ---------------------------------------------------------------- transports


@dataclass
class Response:
    stream: BinaryIO
    url: str  # after redirects
    length: int | None  # declared size, if any
    content_type: str  # "" when unknown
    filename: str | None  # Content-Disposition filename, or the mirror file's name
    etag: str | None = None
    last_modified: str | None = None
    deadline: _Deadline | None = None  # the attempt's deadline (HTTP only): reading checks it


class _WebOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would follow a redirect to ftp:; only http(s) targets are allowed."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urlsplit(newurl).scheme.lower() not in WEB_SCHEMES:
            raise FetchFailure(f"redirected to a non-http(s) URL: {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Deadline:
    """The time one download attempt may take in all. A socket timeout bounds each read, but a
    server that sends a byte every few seconds never trips it; when the deadline passes, a
    timer thread shuts the attempt's sockets down, which ends whatever read is blocked."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut_down(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut_down(sock)

    def cancel(self) -> None:
        self._timer.cancel()

    def failure(self) -> FetchFailure:
        # not transient: a server this slow would only use up the next attempt's deadline too
        return FetchFailure(f"took longer than the {self.seconds:g} s deadline for one download (the server "
                            "sends too slowly); raise --deadline to allow more")


def _shut_down(sock: socket.socket) -> None:
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's: wakes a blocked read, TLS too
    except OSError:
        pass  # already closed


class _DeadlineHandlers:
    """urllib handlers whose connections register their sockets with the current deadline."""

    def __init__(self, transport: HttpTransport):
        self.transport = transport

    def connection_class(self, http_class):
        transport = self.transport

        def make(host, **kwargs):
            connection = http_class(host, **kwargs)
            connect = connection.connect

            def watched_connect():
                connect()
                if transport.deadline_now is not None:
                    transport.deadline_now.watch(connection.sock)

            connection.connect = watched_connect
            return connection

        return make

    def handlers(self) -> list:
        outer = self

        class Http(urllib.request.HTTPHandler):
            def do_open(self, http_class, req, **kwargs):
                return super().do_open(outer.connection_class(http_class), req, **kwargs)

        class Https(urllib.request.HTTPSHandler):
            def do_open(self, http_class, req, **kwargs):
                return super().do_open(outer.connection_class(http_class), req, **kwargs)

        return [Http(), Https()]


class HttpTransport:
    def __init__(self, timeout: float, deadline: float = 600.0):
        self.timeout = timeout
        self.deadline = deadline
        self.deadline_now: _Deadline | None = None  # of the attempt in progress (one at a time)
        self.opener = urllib.request.build_opener(_WebOnlyRedirects(), *_DeadlineHandlers(self).handlers())

    @contextmanager
    def open(self, url: str, page: bool = False) -> Iterator[Response]:
        accept = "text/html,*/*;q=0.5" if page else "application/pdf,*/*;q=0.5"
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": accept})
        deadline = self.deadline_now = _Deadline(self.deadline)
        try:
            try:
                raw = self.opener.open(request, timeout=self.timeout)
            except FetchFailure:
                raise
            except Exception as exc:
                if deadline.expired:  # a status line or headers sent byte by byte
                    raise deadline.failure() from None
                raise _open_failure(exc, self.timeout) from None
            with raw:
                headers = raw.headers
                yield Response(
                    stream=raw,
                    url=raw.geturl(),
                    length=_content_length(headers.get("Content-Length")),
                    content_type=headers.get_content_type() if headers.get("Content-Type") else "",
                    filename=headers.get_filename(),
                    etag=headers.get("ETag"),
                    last_modified=headers.get("Last-Modified"),
                    deadline=deadline,
                )
        finally:
            deadline.cancel()
            self.deadline_now = None


def _open_failure(exc: Exception, timeout: float) -> Exception:
    if isinstance(exc, urllib.error.HTTPError):
        exc.close()
        return FetchFailure(f"HTTP {exc.code} {exc.reason}", transient=exc.code >= 500)
    if isinstance(exc, urllib.error.URLError):
        return _network_failure(exc.reason, timeout)
    if isinstance(exc, (OSError, http.client.HTTPException)):  # timeouts and resets while reading the status line
        return _network_failure(exc, timeout)
    return exc


def _network_failure(error: object, timeout: float) -> FetchFailure:
    if isinstance(error, TimeoutError):
        return FetchFailure(f"timed out after {timeout:g} s", transient=True)
    if isinstance(error, (ConnectionError, http.client.HTTPException)):
        return FetchFailure(f"connection failed: {error}", transient=True)
    return FetchFailure(f"cannot reach the server: {error}")  # DNS and the like: retrying will not help


def _content_length(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None



class RecordedNames(Protocol):
    """Where a URL was saved before (a fetch ledger): its file name, or None."""

    def file_for(self, url: str) -> str | None: ...


class MirrorTransport:
    """--from DIR: a URL is the file in DIR with its basename or the name a ledger recorded for it."""

    def __init__(self, folder: Path, ledgers: Sequence[RecordedNames]):
        self.folder = folder
        self.ledgers = ledgers

    def candidates(self, url: str, page: bool = False) -> list[str]:
        basename = url_basename(url)
        names = [ledger.file_for(url) for ledger in self.ledgers]
        if page:
            names += [basename, f"{basename}.html", f"{basename}.htm"]
        else:
            names += [basename, *name_candidates(url)]
        return list(dict.fromkeys(name for name in names if name and Path(name).name == name and name_fits(name)))

    @contextmanager
    def open(self, url: str, page: bool = False) -> Iterator[Response]:
        names = self.candidates(url, page)
        path = next((p for p in (self.folder / n for n in names) if self._is_mirror_file(p)), None)
        if path is None:
            raise FetchFailure(f"not in the mirror folder {self.folder} (looked for: {', '.join(names) or 'no usable name'})")
        content_type = "text/html" if path.suffix.lower() in (".html", ".htm") else ""
        with path.open("rb") as stream:
            yield Response(stream, url, path.stat().st_size, content_type, filename=path.name)

    def _is_mirror_file(self, path: Path) -> bool:
        # A symlink in the mirror may point anywhere; only files that really live in it are read.
        try:
            return path.is_file() and path.resolve().parent == self.folder.resolve()
        except (OSError, RuntimeError):  # a name the filesystem refuses, a symlink loop
            return False


# ---------------------------------------------------------------- one download


def _chunks(response: Response) -> Iterator[bytes]:
    """The body as it arrives (read1: one socket read at a time, so the deadline is checked
    while a slow server trickles); a body shorter than its Content-Length is a failure."""
    read = getattr(response.stream, "read1", None) or response.stream.read
    received = 0
    deadline = response.deadline
    try:
        while True:
            chunk = read(CHUNK_BYTES)
            if deadline is not None and deadline.expired:
                raise deadline.failure()  # the shut-down socket reads as a clean end of file
            if not chunk:
                break
            received += len(chunk)
            yield chunk
    except (OSError, ValueError, http.client.HTTPException) as exc:  # read timeout, reset, truncated body
        if deadline is not None and deadline.expired:
            raise deadline.failure() from None
        transient = isinstance(exc, (TimeoutError, ConnectionError, http.client.HTTPException))
        reason = "timed out while reading" if isinstance(exc, TimeoutError) else f"download interrupted: {exc}"
        raise FetchFailure(reason, transient=transient) from None
    if response.length is not None and received < response.length:
        raise FetchFailure(f"download incomplete: the server declared {response.length:,} bytes and sent "
                           f"{received:,} before closing the connection", transient=True)


def _too_large(size: int, max_bytes: int) -> FetchFailure:
    return FetchFailure(f"larger than the size cap ({size / MB:.1f} MB > {max_bytes / MB:g} MB; raise --max-mb)")


def _check_pdf_start(head: bytes, content_type: str) -> None:
    if head.startswith(PDF_MAGIC):
        return
    if content_type in ("text/html", "application/xhtml+xml") or head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        raise FetchFailure(HTML_NOT_PDF)
    raise FetchFailure("not a PDF (the file does not start with %PDF-)")


def download_to_temp(response: Response, folder: Path, max_bytes: int) -> tuple[Path, str, int]:
    """Stream a PDF into a hidden temporary file in `folder`; (path, sha256, size). Removed on any failure."""
    if response.length is not None and response.length > max_bytes:
        raise _too_large(response.length, max_bytes)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".fetch-", suffix=".part")
    tmp = Path(tmp_name)
    digest, size, head = hashlib.sha256(), 0, b""
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; corpus files are ordinary readable files
        with os.fdopen(fd, "wb") as out:
            for chunk in _chunks(response):
                size += len(chunk)
                if size > max_bytes:
                    raise _too_large(size, max_bytes)
                if len(head) < len(PDF_MAGIC):  # reject HTML error pages at the first bytes
                    head += chunk
                    if len(head) >= len(PDF_MAGIC):
                        _check_pdf_start(head, response.content_type)
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        _check_pdf_start(head, response.content_type)  # bodies shorter than the magic
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, digest.hexdigest(), size


def read_page(response: Response, max_bytes: int) -> bytes:
    if response.length is not None and response.length > max_bytes:
        raise _too_large(response.length, max_bytes)
    data = bytearray()
    for chunk in _chunks(response):
        data += chunk
        if len(data) > max_bytes:
            raise _too_large(len(data), max_bytes)
    return bytes(data)
