"""One writer at a time per index directory, and what a failed write means.

The lock is an flock() on DIR/LOCK, which the kernel releases when its holder dies, so it
can never go stale. `write_fault` tells a read-only, forbidden or full disk apart from a
bug, however the OS, SQLite or FAISS said it.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import GtindexError, IndexError_
from .generations import MODEL_DIR, current_generation
from .manifest import read_manifest

LOCK_FILE = "LOCK"


READ_ONLY, NO_PERMISSION, DISK_FULL = "read-only", "permission", "full"
_FAULT_ERRNOS = {errno.EROFS: READ_ONLY, errno.EACCES: NO_PERMISSION, errno.EPERM: NO_PERMISSION,
                 errno.ENOSPC: DISK_FULL, errno.EDQUOT: DISK_FULL, errno.EFBIG: DISK_FULL}
_FAULT_WORDS = (  # how SQLite and FAISS (a RuntimeError holding strerror) say the same
    ("database or disk is full", DISK_FULL), ("no space left on device", DISK_FULL),
    ("disk quota exceeded", DISK_FULL), ("read-only file system", READ_ONLY),
    ("attempt to write a readonly database", READ_ONLY), ("permission denied", NO_PERMISSION),
)


def write_fault(exc: BaseException) -> str | None:
    """READ_ONLY, NO_PERMISSION or DISK_FULL when `exc` says the index cannot be written
    (from the OS, SQLite or FAISS), else None."""
    if isinstance(exc, OSError) and exc.errno in _FAULT_ERRNOS:
        return _FAULT_ERRNOS[exc.errno]
    if isinstance(exc, (OSError, sqlite3.Error, RuntimeError)):
        text = str(exc).lower()
        for words, fault in _FAULT_WORDS:
            if words in text:
                return fault
    return None


def free_bytes(path: Path) -> int | None:
    """Free space (for this user) on the file system holding `path` or its nearest parent."""
    path = Path(os.path.abspath(path))
    for folder in (path, *path.parents):
        try:
            return shutil.disk_usage(folder).free
        except OSError:
            continue
    return None



@contextlib.contextmanager
def writer_lock(index_dir: Path, wait: bool = False, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """One writer at a time per index directory (readers never lock).

    A second writer waits for the first (`wait`, after telling `on_wait` why) or refuses.
    The holder's pid is written into LOCK so that the message can name it.
    """
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            who = f"process {holder}" if holder.isdigit() else "another gtindex process"
            if not wait:
                raise IndexError_(
                    f"{who} is updating {index_dir}; try again when it has finished (or leave out --no-wait to wait)"
                ) from None
            if on_wait is not None:
                on_wait(f"{who} is updating {index_dir}; waiting for it to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_fault_message(fault: str, index_dir: Path, filename: str | None = None, needed: int | None = None) -> str:
    """One line for a write fault (write_fault): what is wrong and what to do."""
    unchanged = "the index was left unchanged"
    if fault == READ_ONLY:
        return (f"{index_dir} is on a read-only file system; {unchanged}: "
                "remount it read-write, or build a copy with --index DIR elsewhere")
    if fault == NO_PERMISSION:
        return (f"permission denied writing {filename or index_dir}; {unchanged}: "
                f"run gtindex as the owner of {index_dir} or make it writable")
    free = free_bytes(index_dir)
    have = f"{free / 1e6:.1f} MB free" if free is not None else "no free space"
    need = f", this update needs about {max(needed, 1e5) / 1e6:.1f} MB" if needed else ""
    return f"no space left on the disk holding {index_dir} ({have}{need}); {unchanged}: free some space and run it again"


BYTES_PER_TEXT = 7_000  # a new index: SQLite rows, FTS5, cached embedding and FAISS row per passage or sentence
QUERY_MODEL_BYTES = 91_000_000  # model/ of a generation with no previous one to link it from


@contextlib.contextmanager
def write_faults(index_dir: Path, texts: Callable[[], int]) -> Iterator[None]:
    """A read-only index or file system, or a full disk, as one line saying so (the OS,
    SQLite and FAISS each say it their own way). The live generation is untouched: the
    new one is written beside it, and what was written of it is gone by now. `texts`:
    how many texts the update embeds, read when a fault comes, to say the space needed."""
    try:
        yield
    except (OSError, sqlite3.Error, RuntimeError) as exc:
        fault = write_fault(exc)
        if fault is None:
            raise
        needed = space_needed(index_dir, texts())
        raise GtindexError(write_fault_message(fault, index_dir, getattr(exc, "filename", None), needed)) from None


def space_needed(index_dir: Path, texts: int) -> int | None:
    """About how many bytes a new generation of `texts` passages and sentences takes: the
    live one's, scaled by the texts it will hold (its query model is hard-linked, free);
    for a first build, a figure per text."""
    try:
        live = current_generation(index_dir)
        manifest = read_manifest(live) if live is not None and live.is_dir() else None
    except IndexError_:
        manifest = None
    if manifest is None:
        return texts * BYTES_PER_TEXT + QUERY_MODEL_BYTES if texts else None
    try:
        sizes = manifest.get("files", {})
        data = sum(size for name, size in sizes.items() if not name.startswith(f"{MODEL_DIR}/"))
        counts = manifest.get("counts", {})
        before = int(counts.get("passages") or 0) + int(counts.get("spans") or 0)
    except (TypeError, ValueError, AttributeError):  # a damaged manifest: no estimate
        return None
    return int(data * texts / before) if texts and before else data
