"""Find source files, tell PDFs from web pages by content, parse them in parallel.

Bad input is the normal case here (failed downloads saved as .pdf, encrypted or scanned
PDFs, truncated files), so every failure becomes a `ParseError(path, reason)` with a
one-line reason, and one bad file never stops the others. Parsing runs in worker
processes so that a file that hangs a parser, eats memory or crashes it costs only
that file.
"""
from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from multiprocessing.connection import wait
from pathlib import Path

from ..documents import Document, Line, Link, ParseError
from ..errors import GtindexError
from .html import HTML_TAG, parse_html

# Part of the index's parsed-document cache key (build.py): bump it whenever the output of
# sources/html.py or sources/pdf/ changes, so that the next build parses every file again.
PARSER_VERSION = "7"  # 3: captions are no sections; 4: footnotes carried under a full-width rule; 5: restarts after a blank line 1; 6: a one-size cover's title; 7: a caption never continues a heading

SOURCE_SUFFIXES = {".pdf", ".html", ".htm"}
PDF_MAGIC = b"%PDF-"
PDF_MAGIC_WINDOW = 1024  # PDF readers accept the header anywhere in the first KiB
HTML_SNIFF_BYTES = 8192
MAX_REASON_CHARS = 160
WORKER_START_TIMEOUT_S = 120  # a cold start imports pdfplumber; slow disks take a while

ParseResult = tuple[Path, Document | ParseError]


# ----------------------------------------------------------------------------- discovery


def discover(
    sources: Iterable[Path | str], on_skip: Callable[[Path, str], None] | None = None
) -> list[Path]:
    """Source files under `sources` (files or folders, recursive), sorted and deduplicated.

    Inside folders only .pdf/.html/.htm files are kept and hidden files and folders are
    skipped; a file named explicitly is always kept (its content decides what it is).
    Entries that cannot be used as they stand (a dangling symbolic link, a link loop, a
    FIFO) are returned too: `source_problem` tells why, and the caller reports them. A
    folder that cannot be listed is passed to `on_skip(folder, reason)` (else ignored).
    """
    found: dict[Path, Path] = {}
    for source in sources:
        path = Path(source)
        if not os.path.lexists(path):
            raise GtindexError(f"{path}: no such file or folder")
        files = [path] if not path.is_dir() else _files_in_folder(path, on_skip)
        for file in files:
            found.setdefault(resolved_path(file), file)
    return sorted(found.values())


def resolved_path(path: Path) -> Path:
    """The path with links resolved; a link loop resolves to its absolute self."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):  # RuntimeError: symlink loop (Python < 3.13)
        return Path(os.path.abspath(path))


def _files_in_folder(folder: Path, on_skip: Callable[[Path, str], None] | None = None) -> Iterator[Path]:
    def unlistable(error: OSError) -> None:
        if on_skip is not None:
            on_skip(Path(error.filename or folder), f"folder cannot be read: {_os_reason(error)}")

    for parent, dirnames, filenames in os.walk(folder, onerror=unlistable):
        dirnames[:] = [name for name in dirnames if not name.startswith(".")]
        for name in filenames:
            if not name.startswith(".") and Path(name).suffix.lower() in SOURCE_SUFFIXES:
                yield Path(parent) / name


def source_problem(path: Path) -> str | None:
    """Why `path` cannot be read as a source file (None when it is a readable regular file).

    Checked before anything opens the file: opening a FIFO blocks until a writer comes,
    and reading a device such as /dev/zero never ends.
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop; fix or delete the link"
        if exc.errno == errno.ENOENT and os.path.islink(path):
            return f"dangling symbolic link (its target {os.readlink(path)} does not exist); fix or delete the link"
        return f"could not read: {_os_reason(exc)}"
    if stat.S_ISDIR(info.st_mode):
        return "a folder, not a file"
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else (
            "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "a socket or other special file")
        return f"not a regular file: {kind}"
    return None


def source_sha256(path: Path) -> str:
    """sha256 of a source file's bytes; ParseError (with the reason) for anything that is not
    a readable regular file. Never blocks: the file is opened non-blocking and checked again
    once open, so a FIFO swapped in after the check cannot hang the caller either."""
    import hashlib

    problem = source_problem(path)
    if problem is not None:
        raise ParseError(str(path), problem)
    digest = hashlib.sha256()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise ParseError(str(path), "not a regular file")
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ParseError(str(path), f"could not read: {_os_reason(exc)}") from None
    return digest.hexdigest()


def _os_reason(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied; make it readable"
    return (exc.strerror or str(exc)).lower()


# ----------------------------------------------------------------------------- one file


def sniff(path: Path | str) -> str:
    """Return "pdf" or "html", decided by the bytes, not the file name; ParseError otherwise."""
    with open(path, "rb") as handle:
        head = handle.read(HTML_SNIFF_BYTES)
    if not head:
        raise ParseError(str(path), "empty file")
    if PDF_MAGIC in head[:PDF_MAGIC_WINDOW]:
        return "pdf"
    if _looks_like_html(head):
        return "html"
    raise ParseError(str(path), _unknown_content_reason(Path(path)))


def _looks_like_html(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head.decode("utf-16", errors="ignore")
    elif b"\x00" in head:
        return False
    else:
        text = head.decode("latin-1")
    return HTML_TAG.search(text) is not None


def _not_a_file_reason(path: Path) -> str:
    if not path.exists():
        return "no such file"
    return "a folder, not a file" if path.is_dir() else "not a regular file"


def _unknown_content_reason(path: Path) -> str:
    if path.suffix.lower() == ".pdf":
        return "not a PDF: no %PDF- header (damaged or another file type); download it again"
    return "not a PDF or HTML page: unrecognised content"


def parse_file(path: Path | str) -> Document:
    """Parse one PDF or web page; every failure is a ParseError with a one-line reason."""
    path = Path(path)
    try:
        if not path.is_file():
            raise ParseError(str(path), _not_a_file_reason(path))
        if path.stat().st_size == 0:
            raise ParseError(str(path), "empty file")
        if not _is_utf8(path.name):  # the name is the document's identity in citations, stored as text
            raise ParseError(str(path), "file name is not valid UTF-8; rename the file")
        kind = sniff(path)
        if kind == "html" and path.suffix.lower() == ".pdf":
            raise ParseError(str(path), "not a PDF: looks like HTML; the download probably failed")
        if kind == "pdf":
            from .pdf import parse_pdf  # lazy: pdfplumber is only needed for PDFs

            return parse_pdf(path)
        return parse_html(path)
    except (ParseError, MemoryError, KeyboardInterrupt):
        raise
    except OSError as exc:
        raise ParseError(str(path), f"could not read: {exc.strerror or exc}") from exc
    except Exception as exc:  # parser libraries raise anything on malformed input
        raise ParseError(str(path), f"could not parse: {type(exc).__name__}: {_short(exc)}") from exc


def _is_utf8(name: str) -> bool:
    """False for names with bytes that are not UTF-8 (Python keeps them as lone surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _short(exc: BaseException) -> str:
    message = " ".join(str(exc).split()) or "no details"
    return message if len(message) <= MAX_REASON_CHARS else message[: MAX_REASON_CHARS - 1] + "…"


# ----------------------------------------------------------------------------- many files


def parse_many(
    paths: Iterable[Path | str],
    workers: int | None = None,
    timeout_s: float = 120,
    max_memory_mb: int = 2048,
    on_result: Callable[[Path, Document | ParseError], None] | None = None,
) -> Iterator[ParseResult]:
    """Parse files in worker processes; yield (path, Document or ParseError) as each finishes.

    Results come in completion order (callers sort). A file running longer than
    `timeout_s` seconds of CPU time or needing more than `max_memory_mb` (address space beyond the worker's
    start-up size) becomes a ParseError and its worker is replaced; so does a worker crash.
    """
    pending = deque(Path(p) for p in paths)
    if not pending:
        return
    pool_size = max(1, min(workers or _usable_cpus(), len(pending)))
    limits = _Limits(timeout_s=timeout_s, max_memory_mb=max_memory_mb)
    pool: list[_Worker] = []
    try:
        pool = _start_workers(pool_size, limits)
        while pending or any(worker.job for worker in pool):
            for worker in pool:
                if worker.job is None and pending:
                    worker.assign(pending.popleft(), limits.timeout_s)
            for path, result in _collect(pool, limits):
                if on_result is not None:
                    on_result(path, result)
                yield path, result
            lost = sum(1 for worker in pool if not worker.alive)
            pool = [worker for worker in pool if worker.alive]
            pool += _start_workers(min(lost, len(pending)), limits)
    finally:
        for worker in pool:
            worker.stop()


def _usable_cpus() -> int:
    # os.cpu_count() counts the host's CPUs, not the ones a container or taskset allows
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


POLL_S = 0.5  # how often busy workers' CPU time is checked
WALL_BACKSTOP_FACTOR = 10  # a file may take this many times its CPU limit in wall time


@dataclass(frozen=True)
class _Limits:
    timeout_s: float
    max_memory_mb: int


def _start_workers(count: int, limits: _Limits) -> list[_Worker]:
    """Start `count` workers and wait until each has imported its parsers, so that
    start-up time never counts against a file's time limit."""
    workers = [_Worker.spawn(limits) for _ in range(count)]
    try:
        for worker in workers:
            worker.wait_ready()
    except BaseException:
        for worker in workers:
            worker.kill()
        raise
    return workers


@dataclass
class _Worker:
    """One long-lived parser process: a path per line in on stdin, a JSON result per line
    out on stdout.

    A plain `python -c` child rather than multiprocessing: spawn/forkserver re-run the
    caller's main script in every worker (breaking `python - <script`, scripts without a
    __main__ guard), and fork would copy a parent's torch/faiss threads. JSON, not pickle,
    crosses the pipe.
    """

    process: subprocess.Popen
    job: Path | None = None
    started: float = 0.0
    cpu_at_start: float | None = None
    alive: bool = True

    @classmethod
    def spawn(cls, limits: _Limits) -> _Worker:
        package_root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
        process = subprocess.Popen(
            [sys.executable, "-c", _WORKER_COMMAND, str(limits.max_memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # pdfminer logs warnings per odd object; results carry the reasons
            env=env,
        )
        return cls(process=process)

    def wait_ready(self) -> None:
        if wait([self.process.stdout], timeout=WORKER_START_TIMEOUT_S):
            message = self.read()
            if message is not None and message.get("status") == _READY:
                return
        self.kill()
        raise GtindexError(
            f"a parser process failed to start (exit code {self.process.returncode}); "
            "check that gtindex is installed correctly"
        )

    def assign(self, path: Path, timeout_s: float) -> None:
        self.process.stdin.write(json.dumps(str(path)).encode() + b"\n")
        self.process.stdin.flush()
        self.job = path
        self.started = time.monotonic()
        self.cpu_at_start = _cpu_seconds(self.process.pid)

    def over_time(self, timeout_s: float) -> bool:
        """CPU time spent on the current file, so a busy machine does not skip good files;
        wall time only where /proc is missing, or as a backstop for a worker stuck without
        using the CPU."""
        wall = time.monotonic() - self.started
        cpu_now = _cpu_seconds(self.process.pid)
        if cpu_now is None or self.cpu_at_start is None:
            return wall > timeout_s
        return cpu_now - self.cpu_at_start > timeout_s or wall > timeout_s * WALL_BACKSTOP_FACTOR

    def read(self) -> dict | None:
        """The worker's next message; None when it died before finishing one."""
        line = self.process.stdout.readline()
        try:
            return json.loads(line)
        except ValueError:
            return None

    def finish(self) -> Path:
        path, self.job = self.job, None
        return path

    def kill(self) -> None:
        self.process.kill()
        self._close()

    def stop(self) -> None:
        if not self.alive:
            return
        try:
            self.process.stdin.close()  # end of input: the worker exits
            self.process.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
        self._close()

    def _close(self) -> None:
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.alive = False


def _collect(pool: list[_Worker], limits: _Limits) -> Iterator[ParseResult]:
    """Wait until a busy worker answers, dies or runs out of time; report each such job."""
    busy = [worker for worker in pool if worker.job is not None]
    ready = wait([worker.process.stdout for worker in busy], timeout=min(POLL_S, limits.timeout_s))
    for worker in busy:
        if worker.process.stdout in ready:
            path = worker.finish()
            yield path, _receive(worker, path, limits)
        elif worker.over_time(limits.timeout_s):
            worker.kill()
            path = worker.finish()
            yield path, ParseError(str(path), f"took longer than {limits.timeout_s:g}s; skipped")


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process, from /proc (None where unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _receive(worker: _Worker, path: Path, limits: _Limits) -> Document | ParseError:
    message = worker.read()
    if message is None:  # died without answering
        worker.kill()
        return ParseError(str(path), _crash_reason(worker.process.returncode))
    if message["status"] == _MEMORY:
        worker.stop()  # the worker exits after a MemoryError; its heap is suspect
        return ParseError(str(path), f"needed more than {limits.max_memory_mb} MB; skipped")
    if message["status"] == _ERROR:
        return ParseError(str(path), message["reason"])
    return document_from_dict(message["document"])


def _crash_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"parser crashed: killed by {name}{hint}; skipped"
    return f"parser crashed (exit code {exitcode}); skipped"


def document_from_dict(data: dict) -> Document:
    """The inverse of dataclasses.asdict(document)."""
    fields = dict(data)
    fields["lines"] = [Line(**line) for line in data["lines"]]
    fields["links"] = [Link(**link) for link in data["links"]]
    return Document(**fields)


# ----------------------------------------------------------------------------- worker side

_READY, _OK, _ERROR, _MEMORY = "ready", "ok", "error", "memory"
_WORKER_COMMAND = "import sys; from gtindex.sources.ingest import worker_main; worker_main(int(sys.argv[1]))"


def worker_main(max_memory_mb: int) -> None:
    """Body of a parser process: read JSON paths from stdin, write one JSON result each."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _import_parsers()
    _limit_memory(max_memory_mb)
    _send({"status": _READY})
    for line in sys.stdin.buffer:
        path = json.loads(line)
        try:
            _send({"status": _OK, "document": asdict(parse_file(path))})
        except ParseError as exc:
            _send({"status": _ERROR, "reason": exc.reason})
        except MemoryError:
            _send({"status": _MEMORY})
            return


def _send(message: dict) -> None:
    sys.stdout.buffer.write(json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n")
    sys.stdout.buffer.flush()


def _import_parsers() -> None:
    """Import the PDF stack before the memory cap, so the cap measures parsing only."""
    try:
        from . import pdf  # noqa: F401
    except ImportError:
        pass  # reported per file by parse_file


def _limit_memory(max_memory_mb: int) -> None:
    try:
        import resource

        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[0]) * resource.getpagesize()
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = current + max_memory_mb * 1024 * 1024
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, OSError, ValueError):
        pass  # no /proc or no RLIMIT_AS (macOS, Windows): only the time limit applies
