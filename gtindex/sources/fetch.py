"""Download guidance PDFs into the corpus folder: from resource pages, URL lists or a mirror folder.

Where the URLs come from (`urls.py`):
  * resource pages (`--page`, a local HTML file or an http(s) URL): every `<a href>` is resolved
    against the page URL / `<base>`; links that look like guidance documents (`.pdf` paths, FDA's
    `/media/<id>/download`) are kept, FDA guidance landing pages
    (`.../search-fda-guidance-documents/<slug>`) are opened once to find their download link, and
    everything else is reported as ignored;
  * URL lists (`--urls`, e.g. `corpus/urls.txt`): one URL per line, `#` comments.

What a download must pass before it lands in the corpus (a file there becomes citable) is checked
in `transport.py`: http/https only, a connect/read timeout, a total deadline per attempt, a size
cap, the whole declared Content-Length, the `%PDF-` magic bytes. Here: retries with backoff on
timeouts, dropped connections and 5xx (never on 4xx); the body, streamed into a temporary file in
the corpus folder, is moved into place with `os.replace`, so the corpus never holds a half-written
PDF; SIGTERM unwinds like Ctrl-C, so the temporary file is removed then too. File names from the
URL or the Content-Disposition header are reduced to a safe ASCII basename ending in `.pdf`;
nothing is ever written outside the corpus folder.

The ledger `<corpus>/.fetched.json` maps URL -> {file, sha256, fetched_at, etag, last_modified}:
a URL already fetched (file still present) is skipped, and a download whose content is already in
the corpus under another name is dropped and recorded under the existing name.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import GtindexError
from ..signals import unwind_on_termination
from .transport import (
    CHUNK_BYTES,
    MB,
    FetchFailure,
    HttpTransport,
    MirrorTransport,
    Response,
    check_url,
    download_to_temp,
    read_page,
)
from .urls import (
    KIND_DOCUMENT,
    KIND_GUIDANCE_PAGE,
    WEB_SCHEMES,
    links_from_page,
    name_candidates,
    name_fits,
    normalize_url,
    read_url_list,
)

LEDGER_NAME = ".fetched.json"
LEDGER_FORMAT = 1
MAX_BACKOFF_S = 10.0

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
        return asdict(self)  # {"downloaded": [...], "skipped": [...], "failed": [...], "ignored": [...]}


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



# ---------------------------------------------------------------- retries and the run


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
        if known and name_fits(known) and (self.corpus / known).is_file():
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
    with unwind_on_termination():
        return Fetcher(options).run(pages, url_lists, progress)


