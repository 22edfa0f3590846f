"""Generations: the live one CURRENT names, publishing a new one atomically, recovery.

Layout (see ARCHITECTURE.md; readable with sqlite3, faiss and json alone, no pickle):

    DIR/CURRENT              name of the live generation (one line)
    DIR/LOCK                 flock()ed by a writer
    DIR/gen-NNNNNN/          manifest.json, index.sqlite, vectors.faiss, model/

A writer builds a complete generation in `gen-new-XXXX`, fsyncs it, renames it to the
next `gen-NNNNNN` and then replaces CURRENT atomically, so a reader sees the old or the
new index, never a mix. The previous generation is kept (a reader may still hold it open
and the next build reuses its parsed lines and embeddings); older ones are deleted.

A writer killed at any moment leaves CURRENT pointing at a complete generation; what it
left behind (a `gen-new-*` directory, a numbered generation CURRENT never named, the
pointer's temporary file) is removed by the next writer (`recover`). The lock is an
flock(), which the kernel releases when its holder dies, so it can never go stale.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import IndexError_
from .manifest import incompatibility, read_manifest

CURRENT_FILE = "CURRENT"
SQLITE_FILE = "index.sqlite"
VECTORS_FILE = "vectors.faiss"
SPANS_FILE = "spans.faiss"
MODEL_DIR = "model"
GENERATION = re.compile(r"^gen-(\d{6})$")
POINTER_TMP = f".{CURRENT_FILE}.tmp"


@dataclass(frozen=True)
class Generation:
    """One complete, live index generation on disk."""

    path: Path
    manifest: dict

    @property
    def sqlite_path(self) -> Path:
        return self.path / SQLITE_FILE

    @property
    def vectors_path(self) -> Path:
        return self.path / VECTORS_FILE

    @property
    def spans_path(self) -> Path:
        return self.path / SPANS_FILE

    @property
    def model_dir(self) -> Path:
        return self.path / MODEL_DIR


# --------------------------------------------------------------------------- reading


def current_generation(index_dir: Path) -> Path | None:
    """The live generation directory, or None when the index has never been built."""
    pointer = Path(index_dir) / CURRENT_FILE
    if not pointer.is_file():
        return None
    try:
        name = pointer.read_bytes().decode("utf-8").strip()
    except UnicodeDecodeError:
        raise IndexError_(f"{pointer} holds bytes that are not text, not a generation name; "
                          "rebuild with `gtindex build --rebuild`") from None
    if not GENERATION.match(name):
        raise IndexError_(f"{pointer} names {name!r}, not a generation; rebuild with `gtindex build --rebuild`")
    return Path(index_dir) / name


def open_generation(index_dir: Path, model_name: str, dim: int) -> Generation:
    """The live generation, checked against what this gtindex expects.

    Checks format version, model and dimension, and that every file the manifest lists
    is present with its recorded size (a truncated copy fails here, not mid-search).
    CURRENT is read once; should that generation vanish before it is opened (two updates
    finished in between), the new CURRENT is tried once more.
    """
    index_dir = Path(index_dir)
    for attempt in range(2):
        path = current_generation(index_dir)
        if path is None:
            raise IndexError_(f"no index at {index_dir}; build one with `gtindex build --index {index_dir}`")
        if path.is_dir() or attempt == 1:
            break
    manifest = read_manifest(path)
    problem = incompatibility(manifest, model_name, dim)
    if problem:
        raise IndexError_(f"index {index_dir} {problem}")
    problem = damaged_file(path, manifest)
    if problem:
        raise IndexError_(f"{problem}; rebuild with `gtindex build --rebuild`")
    return Generation(path, manifest)


def damaged_file(path: Path, manifest: dict) -> str | None:
    """The first file the manifest lists that is missing or not its recorded size, said."""
    for name, size in manifest.get("files", {}).items():
        file = path / name
        if not file.is_file():
            return f"{file} is missing"
        if file.stat().st_size != size:
            return f"{file} is truncated or altered"
    return None


def holds_generations(index_dir: Path) -> bool:
    """The folder holds an index, damaged or not: a CURRENT pointer or a numbered generation."""
    index_dir = Path(index_dir)
    if (index_dir / CURRENT_FILE).exists():
        return True
    return index_dir.is_dir() and any(GENERATION.match(path.name) for path in index_dir.iterdir())


def recover(index_dir: Path) -> list[str]:
    """Remove what killed writers left behind; call with the writer lock held.

    Holding the lock, no other writer is running, so every `gen-new-*` is abandoned, and
    a numbered generation newer than CURRENT was renamed but never published (no reader
    can have opened it). Generations older than the one before CURRENT are dropped too.
    Returns the names removed.
    """
    index_dir = Path(index_dir)
    removed = []
    live = current_generation(index_dir) if (index_dir / CURRENT_FILE).is_file() else None
    for path in sorted(index_dir.iterdir()):
        if path.name.startswith("gen-new-") or path.name == POINTER_TMP:
            removed.append(path.name)
        elif GENERATION.match(path.name) and live is not None and path.name > live.name:
            removed.append(path.name)
    for name in removed:
        _remove(index_dir / name)
    if live is not None:
        removed += _delete_old_generations(index_dir, keep=[live, _previous_generation(index_dir, live)])
    return sorted(removed)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def pause_point(stage: str) -> None:
    """Test hook: stop here (until killed) when GTINDEX_TEST_PAUSE_AT names this stage.

    Lets the crash tests kill a build at exact points (after the rename of the new
    generation, before CURRENT is replaced, ...) instead of after random delays only.
    """
    if os.environ.get("GTINDEX_TEST_PAUSE_AT") == stage:
        print(f"gtindex: paused at {stage}", file=sys.stderr, flush=True)
        time.sleep(3600)


def new_generation_dir(index_dir: Path) -> Path:
    path = Path(tempfile.mkdtemp(prefix="gen-new-", dir=index_dir))
    path.chmod(0o755)  # mkdtemp makes it private; an index is read by everyone who may search
    return path


def link_tree(source: Path, target: Path) -> None:
    """Hard-link an immutable directory of a previous generation (copy where links fail)."""
    shutil.copytree(source, target, copy_function=_link_or_copy)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def fsync_tree(path: Path) -> None:
    for root, _dirs, files in os.walk(path):
        for name in files:
            with open(os.path.join(root, name), "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(Path(root))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_generation(index_dir: Path, staged: Path) -> Path:
    """fsync the staged generation, give it the next number and point CURRENT at it.

    The generation CURRENT named until now is kept: a search that resolved CURRENT a
    moment ago may still be opening its files.
    """
    index_dir = Path(index_dir)
    fsync_tree(staged)
    try:
        before = current_generation(index_dir)
    except IndexError_:
        before = None  # CURRENT was damaged; `gtindex build --rebuild` replaces it
    numbers = [int(m.group(1)) for p in index_dir.iterdir() if (m := GENERATION.match(p.name))]
    final = index_dir / f"gen-{max(numbers, default=0) + 1:06d}"
    os.rename(staged, final)
    pointer_tmp = index_dir / POINTER_TMP
    try:
        _fsync_dir(index_dir)
        pause_point("renamed")
        with open(pointer_tmp, "w", encoding="utf-8") as handle:
            handle.write(final.name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        pause_point("pointer-written")
    except BaseException:
        # A full disk, Ctrl-C, SIGTERM: CURRENT still names the old generation; free the new
        # one's space now rather than at the next writer's recover().
        pointer_tmp.unlink(missing_ok=True)
        shutil.rmtree(final, ignore_errors=True)
        raise
    os.replace(pointer_tmp, index_dir / CURRENT_FILE)
    _fsync_dir(index_dir)
    pause_point("published")
    _delete_old_generations(index_dir, keep=[final, before])
    return final


def _previous_generation(index_dir: Path, live: Path) -> Path | None:
    """The newest numbered generation older than `live` (what CURRENT named before it)."""
    older = sorted(p for p in index_dir.iterdir() if GENERATION.match(p.name) and p.name < live.name)
    return older[-1] if older else None


def _delete_old_generations(index_dir: Path, keep: list[Path | None]) -> list[str]:
    """Drop every numbered generation not in `keep`, and abandoned staging directories."""
    kept = {path.name for path in keep if path is not None}
    doomed = [
        p for p in index_dir.iterdir()
        if (GENERATION.match(p.name) and p.name not in kept) or p.name.startswith("gen-new-")
    ]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    return sorted(p.name for p in doomed)
