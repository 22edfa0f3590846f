"""Download guidance PDFs into the corpus folder: from resource pages, URL lists or a mirror folder.

Where the URLs come from:
  * resource pages (`--page`, a local HTML file or an http(s) URL): every `<a href>` is resolved
    against the page URL / `<base>`; links that look like guidance documents (`.pdf` paths, FDA's
    `/media/<id>/download`) are kept, FDA guidance landing pages
    (`.../search-fda-guidance-documents/<slug>`) are opened once to find their download link, and
    everything else is reported as ignored;
  * URL lists (`--urls`, e.g. `corpus/urls.txt`): one URL per line, `#` comments.

What a download must pass before it lands in the corpus (a file there becomes citable):
http/https only (a `file:` URL is only ever resolved inside the `--from` mirror folder), a
connect/read timeout, a total deadline per download attempt (a server sending one byte a second
never times out a read), retries with backoff on timeouts, dropped connections and 5xx (never on
4xx), a size cap checked on Content-Length and again while streaming, the whole declared
Content-Length received (a connection closed early is a failed download, not a short PDF), and
the `%PDF-` magic bytes. The body is streamed into a temporary file in the corpus folder and
moved into place with `os.replace`, so the corpus never holds a half-written PDF; SIGTERM
unwinds like Ctrl-C, so the temporary file is removed then too. File names from the URL or the
Content-Disposition header are reduced to a safe ASCII basename ending in `.pdf`; nothing is ever
written outside the corpus folder.

The ledger `<corpus>/.fetched.json` maps URL -> {file, sha256, fetched_at, etag, last_modified}:
a URL already fetched (file still present) is skipped, and a download whose content is already in
the corpus under another name is dropped and recorded under the existing name.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import signal
import socket
import tempfile
import threading
import time
import unicodedata
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, unquote, urldefrag, urljoin, urlsplit

from .. import __version__
from ..errors import GtindexError

LEDGER_NAME = ".fetched.json"
LEDGER_FORMAT = 1
MB = 1024 * 1024
CHUNK_BYTES = 64 * 1024
PDF_MAGIC = b"%PDF-"
HTML_NOT_PDF = "server returned an HTML page, not a PDF"
MAX_NAME_STEM = 120  # far below any filesystem's 255-byte limit, room for "-2" suffixes
# Longest name looked up in a mirror folder or taken from a ledger: longer ones cannot exist
# on any common filesystem (255 bytes) and make os.stat fail with "File name too long".
MAX_LOOKUP_NAME_BYTES = 255
MAX_BACKOFF_S = 10.0
USER_AGENT = f"gtindex/{__version__} (guidance fetch)"

KIND_DOCUMENT = "document"
KIND_GUIDANCE_PAGE = "guidance-page"
WEB_SCHEMES = ("http", "https")
# Links on a page that can never be a document; reported as ignored, not as failures.
NON_DOCUMENT_SCHEMES = {"mailto", "javascript", "tel", "sms", "data"}

# FDA serves guidance PDFs as /media/<id>/download; matched by path so mirrors and test servers work.
_MEDIA_DOWNLOAD = re.compile(r"^/media/(\d+)/download/?$")
_GUIDANCE_PAGE = re.compile(r"/search-fda-guidance-documents/[^/]+/?$")
# What quote() must leave alone in an already-formed URL (reserved characters and escapes).
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)}

Progress = Callable[[int, int, str], None]  # (done, total, url being fetched)


@dataclass(frozen=True)
class FetchOptions:
    corpus: Path  # folder the PDFs are written to (created if missing)
    timeout: float = 30.0  # seconds, for connecting and for each read
    deadline: float = 600.0  # seconds for one download attempt in all (slow senders never hit `timeout`)
    retries: int = 2  # extra attempts after a transient failure
    max_bytes: int = 100 * MB
    backoff: float = 0.5  # first retry delay in seconds; doubles per attempt
    mirror: Path | None = None  # --from DIR: resolve URLs to files here, never use the network


@dataclass
class FetchReport:
    downloaded: list[dict] = field(default_factory=list)  # {url, file, sha256, bytes}
    skipped: list[dict] = field(default_factory=list)  # {url, file, reason}
    failed: list[dict] = field(default_factory=list)  # {url, reason}
    ignored: list[dict] = field(default_factory=list)  # {url, reason}: page links that are not documents

    def to_json(self) -> dict:
        return {
            "downloaded": self.downloaded,
            "skipped": self.skipped,
            "failed": self.failed,
            "ignored": self.ignored,
        }


class FetchFailure(Exception):
    """One URL could not be fetched; `transient` failures are worth retrying."""

    def __init__(self, reason: str, transient: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


# ---------------------------------------------------------------- URLs and links


def normalize_url(url: str) -> str:
    """Trim, drop the fragment, and percent-encode what http.client refuses (spaces, controls)."""
    url = re.sub(r"[\t\n\r]", "", url.strip())  # browsers drop these inside href values too
    url, _fragment = urldefrag(url)
    return quote(url, safe=_URL_SAFE)


def classify_link(url: str) -> str | None:
    """KIND_DOCUMENT, KIND_GUIDANCE_PAGE, or None for a link that is neither."""
    path = unquote(urlsplit(url).path).lower()
    if path.endswith(".pdf") or _MEDIA_DOWNLOAD.match(path):
        return KIND_DOCUMENT
    if _GUIDANCE_PAGE.search(path):
        return KIND_GUIDANCE_PAGE
    return None


@dataclass
class PageLinks:
    documents: list[str] = field(default_factory=list)
    guidance_pages: list[str] = field(default_factory=list)
    ignored: list[dict] = field(default_factory=list)  # {url, reason}


def links_from_page(html: bytes, page_url: str | None) -> PageLinks:
    """Sort a page's links into documents, guidance landing pages and ignored links.

    Relative links resolve against `<base href>` (itself relative to the page URL) or the page URL;
    a local file without either cannot resolve them, so they are ignored with that reason.
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")  # bytes in: bs4 honours <meta charset>, e.g. cp1252 pages
    base = _page_base(soup, page_url)
    links = PageLinks()
    seen: set[str] = set()
    for anchor in soup.find_all("a", href=True):
        href = normalize_url(str(anchor["href"]))
        if not href or href in seen:
            continue  # empty or in-page "#anchor" links point at nothing to fetch
        seen.add(href)
        _sort_link(urljoin(base, href) if base else href, links)
    return links


def _page_base(soup, page_url: str | None) -> str | None:
    base_tag = soup.find("base", href=True)
    base = urljoin(page_url or "", normalize_url(str(base_tag["href"]))) if base_tag else page_url
    return base if base and urlsplit(base).scheme else None


def _sort_link(url: str, links: PageLinks) -> None:
    scheme = urlsplit(url).scheme.lower()
    if not scheme:
        links.ignored.append({"url": url, "reason": "relative link, and the page has no URL or <base> to resolve it"})
        return
    if scheme in NON_DOCUMENT_SCHEMES:
        links.ignored.append({"url": url, "reason": f"{scheme}: link"})
        return
    kind = classify_link(url)
    if kind == KIND_DOCUMENT:
        links.documents.append(url)
    elif kind == KIND_GUIDANCE_PAGE:
        links.guidance_pages.append(url)
    else:
        links.ignored.append({"url": url, "reason": "not a guidance document (.pdf or /media/<id>/download)"})


def read_url_list(path: Path) -> list[str]:
    """URLs from a list file: one per line; blank lines and `#` comments (whole-line or after a space) skipped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise GtindexError(f"{path}: cannot read the URL list ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise GtindexError(f"{path}: the URL list is not UTF-8 text; save it as UTF-8") from None
    urls = []
    for line in text.splitlines():
        # "#" only starts a comment at line start or after whitespace: URLs may contain "#".
        entry = re.split(r"\s#", line, maxsplit=1)[0].strip()
        if entry and not entry.startswith("#"):
            urls.append(normalize_url(entry))
    return urls


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


# ---------------------------------------------------------------- file names


def safe_filename(raw: str) -> str | None:
    """A basename that is safe to create inside the corpus folder and ends in `.pdf`.

    Keeps only the last path component (either slash, after Unicode folding, so "..／x" cannot
    sneak through), ASCII letters, digits, '.', '_' and '-', no '..', no leading dot, length-capped.
    Returns None when nothing usable is left.
    """
    name = unicodedata.normalize("NFKC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    stem = name[:-4] if name.lower().endswith(".pdf") else name
    stem = _UNSAFE_NAME_CHARS.sub("-", stem)
    stem = re.sub(r"\.{2,}", ".", stem)
    stem = re.sub(r"-{2,}", "-", stem).strip("._-")
    stem = stem[:MAX_NAME_STEM].rstrip("._-")
    if not any(char.isalnum() for char in stem):
        return None
    if stem.split(".")[0].upper() in _WINDOWS_RESERVED:
        stem = f"doc-{stem}"
    return f"{stem}.pdf"


def _url_basename(url: str) -> str:
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


def _media_name(url: str) -> str | None:
    match = _MEDIA_DOWNLOAD.match(urlsplit(url).path)
    return f"fda-media-{match.group(1)}.pdf" if match else None


def name_candidates(url: str, header_name: str | None = None) -> list[str]:
    """Safe names for a download, best first: Content-Disposition, URL `.pdf` name, FDA media id, last segment."""
    basename = _url_basename(url)
    raw = [header_name, basename if basename.lower().endswith(".pdf") else None, _media_name(url), basename]
    names = [safe_filename(item) for item in raw if item]
    return list(dict.fromkeys(name for name in names if name))


def _inside(folder: Path, name: str) -> Path:
    """folder/name, refusing anything that would resolve outside folder (defence in depth)."""
    target = folder / name
    if name in ("", ".", "..") or target.resolve().parent != folder.resolve():
        raise FetchFailure(f"refused to write outside the corpus folder: {name!r}")
    return target


# ---------------------------------------------------------------- ledger and corpus contents


class Ledger:
    """URL -> {file, sha256, fetched_at, etag, last_modified}, kept in `<folder>/.fetched.json`."""

    def __init__(self, path: Path, entries: dict[str, dict]):
        self.path = path
        self.entries = entries

    @classmethod
    def load(cls, folder: Path) -> Ledger:
        path = folder / LEDGER_NAME
        if not path.exists():
            return cls(path, {})
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise GtindexError(f"{path}: unreadable fetch ledger ({exc}); fix or delete it") from None
        entries = data.get("urls") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            raise GtindexError(f"{path}: not a gtindex fetch ledger (no \"urls\" object); fix or delete it")
        kept = {url: rec for url, rec in entries.items() if isinstance(rec, dict) and isinstance(rec.get("file"), str)}
        return cls(path, kept)

    def file_for(self, url: str) -> str | None:
        """The recorded file name, reduced to a basename (a hand-edited ledger cannot point elsewhere)."""
        entry = self.entries.get(url)
        if entry is None:
            return None
        return Path(entry["file"].replace("\\", "/")).name or None

    def record(self, url: str, file: str, sha256: str, response: Response | None) -> None:
        entry = {"file": file, "sha256": sha256, "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        if response is not None and response.etag:
            entry["etag"] = response.etag
        if response is not None and response.last_modified:
            entry["last_modified"] = response.last_modified
        self.entries[url] = entry
        self.save()  # after every file: an interrupted run keeps what it fetched

    def save(self) -> None:
        data = json.dumps({"format": LEDGER_FORMAT, "urls": self.entries}, indent=1, sort_keys=True)
        _atomic_write(self.path, data.encode("utf-8"))


class CorpusContents:
    """sha256 -> name of the PDFs already in the corpus folder; hashed on first need, once per run."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._by_sha: dict[str, str] | None = None

    def name_for(self, sha256: str) -> str | None:
        if self._by_sha is None:
            self._by_sha = {}
            for path in sorted(self.folder.iterdir()):
                if path.suffix.lower() == ".pdf" and path.is_file() and not path.name.startswith("."):
                    self._by_sha.setdefault(_sha256_file(path), path.name)
        return self._by_sha.get(sha256)

    def add(self, name: str, sha256: str) -> None:
        if self._by_sha is not None:
            self._by_sha.setdefault(sha256, name)

    def free_name(self, name: str) -> str:
        """`name`, or `name-2`, `name-3`, ... when a different file already has it."""
        stem, counter = name[:-4], 2
        while (self.folder / name).exists():
            name, counter = f"{stem}-{counter}.pdf", counter + 1
        return name


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".fetch-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


class MirrorTransport:
    """--from DIR: a URL is the file in DIR with its basename or the name a ledger recorded for it."""

    def __init__(self, folder: Path, ledgers: Sequence[Ledger]):
        self.folder = folder
        self.ledgers = ledgers

    def candidates(self, url: str, page: bool = False) -> list[str]:
        basename = _url_basename(url)
        names = [ledger.file_for(url) for ledger in self.ledgers]
        if page:
            names += [basename, f"{basename}.html", f"{basename}.htm"]
        else:
            names += [basename, *name_candidates(url)]
        return list(dict.fromkeys(name for name in names if name and Path(name).name == name and _name_fits(name)))

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


def _name_fits(name: str) -> bool:
    return len(name.encode("utf-8", "surrogateescape")) <= MAX_LOOKUP_NAME_BYTES


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


def with_retries(action: Callable[[], object], options: FetchOptions, sleep: Callable[[float], None] = time.sleep):
    """Run `action`, retrying transient FetchFailures with exponential backoff."""
    for attempt in range(options.retries + 1):
        try:
            return action()
        except FetchFailure as exc:
            if not exc.transient or attempt == options.retries:
                if attempt:
                    exc.reason = f"{exc.reason} (after {attempt + 1} attempts)"
                raise
            sleep(min(options.backoff * 2**attempt, MAX_BACKOFF_S))
    raise AssertionError("unreachable")  # pragma: no cover


# ---------------------------------------------------------------- the run


class Fetcher:
    """One `gtindex fetch` run into one corpus folder."""

    def __init__(self, options: FetchOptions):
        self.options = options
        self.corpus = _prepare_corpus(options.corpus)
        self.ledger = Ledger.load(self.corpus)
        self.contents = CorpusContents(self.corpus)
        self.transport = self._transport()
        self.report = FetchReport()

    def _transport(self):
        if self.options.mirror is None:
            return HttpTransport(self.options.timeout, self.options.deadline)
        mirror = self.options.mirror
        if not mirror.is_dir():
            raise GtindexError(f"{mirror}: mirror folder not found; --from takes a folder of downloaded files")
        return MirrorTransport(mirror, [Ledger.load(mirror), self.ledger])

    def run(self, pages: Sequence[str], url_lists: Sequence[Path], progress: Progress | None = None) -> FetchReport:
        queue: list[tuple[str, str]] = [(url, KIND_DOCUMENT) for path in url_lists for url in read_url_list(path)]
        for page in pages:
            queue += self._page_targets(page)
        queue = list(dict.fromkeys(queue))
        done = 0
        while done < len(queue):  # guidance pages append their download links while we go
            url, kind = queue[done]
            if progress:
                progress(done, len(queue), url)
            if kind == KIND_GUIDANCE_PAGE:
                queue += [item for item in self._guidance_page_targets(url) if item not in queue]
            else:
                self.fetch_document(url)
            done += 1
        if progress:
            progress(done, len(queue), "")
        return self.report

    def _page_targets(self, page: str) -> list[tuple[str, str]]:
        """Links from one --page (file or URL); a page that cannot be read is one failure."""
        if urlsplit(page).scheme.lower() in (*WEB_SCHEMES, "file"):
            url = normalize_url(page)
            try:
                html = self._fetch_page(url)
            except FetchFailure as exc:
                self.report.failed.append({"url": url, "reason": exc.reason})
                return []
            links = links_from_page(html, url)
        else:
            links = links_from_page(_read_local_page(Path(page)), None)
        self.report.ignored += links.ignored
        return [(u, KIND_DOCUMENT) for u in links.documents] + [(u, KIND_GUIDANCE_PAGE) for u in links.guidance_pages]

    def _guidance_page_targets(self, url: str) -> list[tuple[str, str]]:
        """An FDA guidance landing page: its download links (one hop; landing pages it links are not followed)."""
        try:
            links = links_from_page(self._fetch_page(url), url)
        except FetchFailure as exc:
            self.report.failed.append({"url": url, "reason": f"guidance page: {exc.reason}"})
            return []
        if not links.documents:
            self.report.failed.append({"url": url, "reason": "guidance page links no PDF or /media/<id>/download"})
        return [(u, KIND_DOCUMENT) for u in links.documents]

    def _fetch_page(self, url: str) -> bytes:
        check_url(url, mirror=self.options.mirror is not None)

        def attempt() -> bytes:
            with self.transport.open(url, page=True) as response:
                return read_page(response, self.options.max_bytes)

        return with_retries(attempt, self.options)

    def fetch_document(self, url: str) -> None:
        """Fetch one document URL into the corpus and record the outcome in the report."""
        known = self.ledger.file_for(url)
        if known and _name_fits(known) and (self.corpus / known).is_file():
            self.report.skipped.append({"url": url, "file": known, "reason": "already fetched"})
            return
        try:
            check_url(url, mirror=self.options.mirror is not None)
            with_retries(lambda: self._download(url), self.options)
        except FetchFailure as exc:
            self.report.failed.append({"url": url, "reason": exc.reason})
        except OSError as exc:  # writing into the corpus folder: one URL's failure, the report goes on
            self.report.failed.append({"url": url, "reason": f"cannot write into the corpus folder: {exc.strerror or exc}"})

    def _download(self, url: str) -> None:
        with self.transport.open(url) as response:
            tmp, sha256, size = download_to_temp(response, self.corpus, self.options.max_bytes)
        try:
            self._store(url, response, tmp, sha256, size)
        finally:
            tmp.unlink(missing_ok=True)  # still there only if storing failed or it was a duplicate

    def _store(self, url: str, response: Response, tmp: Path, sha256: str, size: int) -> None:
        existing = self.contents.name_for(sha256)
        if existing:
            self.ledger.record(url, existing, sha256, response)
            self.report.skipped.append({"url": url, "file": existing, "reason": f"same content as {existing}"})
            return
        names = name_candidates(response.url, response.filename) + name_candidates(url)
        name = self.contents.free_name(names[0] if names else f"guidance-{sha256[:12]}.pdf")
        os.replace(tmp, _inside(self.corpus, name))
        self.contents.add(name, sha256)
        self.ledger.record(url, name, sha256, response)
        self.report.downloaded.append({"url": url, "file": name, "sha256": sha256, "bytes": size})


def _prepare_corpus(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GtindexError(f"{folder}: cannot create the corpus folder ({exc.strerror or exc})") from None
    if not os.access(folder, os.W_OK):
        raise GtindexError(f"{folder}: corpus folder is not writable; choose another with --corpus")
    return folder


def _read_local_page(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise GtindexError(f"{path}: no such file; --page takes an HTML file or an http(s) URL") from None
    except OSError as exc:
        raise GtindexError(f"{path}: cannot read the page ({exc.strerror or exc})") from None


def fetch(
    options: FetchOptions,
    pages: Sequence[str] = (),
    url_lists: Sequence[Path] = (),
    progress: Progress | None = None,
) -> FetchReport:
    """Fetch every guidance document named by `pages` and `url_lists` into `options.corpus`."""
    with _sigterm_unwinds():
        return Fetcher(options).run(pages, url_lists, progress)


class Terminated(KeyboardInterrupt):
    """SIGTERM during a fetch: unwinds as Ctrl-C does."""


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM raises Terminated instead of ending the process on the spot, so that the
    cleanup on the way out runs: a half-written `.fetch-*.part` is removed, the ledger is
    either the old or the new one. Only the main thread can set a signal handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------- index update after a fetch


def index_update_sources(index_dir: Path, corpus: Path) -> tuple[list[Path], list[str]]:
    """Sources to rebuild `index_dir` from after fetching into `corpus`, and indexed names they lack.

    `build_index` indexes exactly the sources it is given, so rebuilding from the corpus folder
    alone would drop documents the index got from elsewhere (e.g. ../shared/corpus). The sources
    are the ones the live manifest records (if it records any) plus the corpus folder; the caller
    must not rebuild while the second list is non-empty.
    """
    from contextlib import closing

    from ..index import catalogue, generations, schema
    from ..index.manifest import read_manifest
    from ..index.manifest import sources as recorded_sources
    from .ingest import discover

    generation = generations.current_generation(index_dir)
    if generation is None:
        return [corpus], []
    recorded = [Path(s) for s in recorded_sources(read_manifest(generation)) if Path(s).exists()]
    sources = list(dict.fromkeys([*recorded, corpus]))
    found = {path.name for path in discover(sources)}
    with closing(schema.connect_readonly(generation / generations.SQLITE_FILE)) as conn:
        indexed = set(catalogue.catalogue(conn))
    return sources, sorted(indexed - found)
