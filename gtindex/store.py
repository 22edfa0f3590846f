"""The index directory on disk: generations, manifest, SQLite schema, lock.

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

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import numpy as np

from .documents import Document, Line, Link
from .errors import IndexError_

INDEX_FORMAT = 5  # 2: doc_names.path, versions table; 3: sentence vectors (spans.faiss), spans_fts; 4: acronyms;
# 5: bm25 postings (passages_bm25, spans_bm25), span_passages, layout; ids = vector_row + 1
CURRENT_FILE = "CURRENT"
LOCK_FILE = "LOCK"
MANIFEST_FILE = "manifest.json"
SQLITE_FILE = "index.sqlite"
VECTORS_FILE = "vectors.faiss"
SPANS_FILE = "spans.faiss"
MODEL_DIR = "model"
GENERATION = re.compile(r"^gen-(\d{6})$")

SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents(
    doc_id INTEGER PRIMARY KEY,
    doc TEXT NOT NULL UNIQUE,           -- file name used in citations (first of doc_names)
    sha256 TEXT NOT NULL UNIQUE,        -- identical content under two names is indexed once
    source_type TEXT NOT NULL,
    title TEXT NOT NULL, status TEXT NOT NULL, date TEXT NOT NULL, year INTEGER,
    center TEXT NOT NULL, pages INTEGER NOT NULL, line_kind TEXT NOT NULL,
    parser_version TEXT NOT NULL, added_at TEXT NOT NULL
);
CREATE TABLE doc_names(
    name TEXT PRIMARY KEY, doc_id INTEGER NOT NULL REFERENCES documents,
    path TEXT NOT NULL                  -- absolute path the file was read from
);
CREATE TABLE lines(
    doc_id INTEGER NOT NULL REFERENCES documents, seq INTEGER NOT NULL,
    page INTEGER NOT NULL, page_label TEXT, line INTEGER, line_on_page INTEGER NOT NULL,
    kind TEXT NOT NULL, section TEXT NOT NULL, text TEXT NOT NULL, footnote INTEGER,
    PRIMARY KEY (doc_id, seq)
) WITHOUT ROWID;
CREATE TABLE links(
    doc_id INTEGER NOT NULL REFERENCES documents, seq INTEGER NOT NULL,
    text TEXT NOT NULL, url TEXT NOT NULL, section TEXT NOT NULL,
    PRIMARY KEY (doc_id, seq)
) WITHOUT ROWID;
CREATE TABLE passages(
    passage_id INTEGER PRIMARY KEY,
    doc_id INTEGER NOT NULL REFERENCES documents,
    seq_start INTEGER NOT NULL, seq_end INTEGER NOT NULL,   -- 0-based, inclusive, into lines.seq
    section TEXT NOT NULL, text TEXT NOT NULL, footnote INTEGER NOT NULL,
    content_hash TEXT NOT NULL,                             -- sha256 of section + newline + text
    vector_row INTEGER NOT NULL UNIQUE                      -- row in vectors.faiss
        CHECK (vector_row = passage_id - 1)
);
CREATE INDEX passages_doc ON passages(doc_id, seq_start);
CREATE VIRTUAL TABLE passages_fts USING fts5(
    section, text, content='passages', content_rowid='passage_id', tokenize='porter unicode61'
);
CREATE TABLE spans(                                         -- sentences: what a hit cites
    span_id INTEGER PRIMARY KEY,
    doc_id INTEGER NOT NULL REFERENCES documents,
    seq_start INTEGER NOT NULL, seq_end INTEGER NOT NULL,
    text TEXT NOT NULL, content_hash TEXT NOT NULL,         -- sha256 of text
    vector_row INTEGER NOT NULL UNIQUE                      -- row in spans.faiss
        CHECK (vector_row = span_id - 1)
);
CREATE INDEX spans_doc ON spans(doc_id, seq_start);
CREATE VIRTUAL TABLE spans_fts USING fts5(
    text, content='spans', content_rowid='span_id', tokenize='porter unicode61'
);
CREATE TABLE span_passages(                                 -- the passages holding each sentence (passages.span_holders)
    span_id INTEGER NOT NULL REFERENCES spans, passage_id INTEGER NOT NULL REFERENCES passages,
    PRIMARY KEY (span_id, passage_id)
) WITHOUT ROWID;
-- Layout: spans' doc_id, seq_start, seq_end, passages' doc_id and span_passages both
-- ways, as little-endian int32 arrays indexed by id (see Layout), for search.
CREATE TABLE layout(name TEXT PRIMARY KEY, data BLOB NOT NULL);
-- lexical.py: per FTS5 term (porter stem), the rows holding it and the term's bm25 score
-- in each, as FTS5 computes it: rowids little-endian int32, impacts little-endian float32.
CREATE TABLE passages_bm25(term TEXT PRIMARY KEY, rowids BLOB NOT NULL, impacts BLOB NOT NULL);
CREATE TABLE spans_bm25(term TEXT PRIMARY KEY, rowids BLOB NOT NULL, impacts BLOB NOT NULL);
CREATE TABLE embeddings(content_hash TEXT PRIMARY KEY, vector BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE acronyms(                                      -- acronyms.py: defined in the corpus, for query expansion
    short TEXT PRIMARY KEY, long TEXT NOT NULL,
    documents INTEGER NOT NULL                              -- documents using the short form
) WITHOUT ROWID;
CREATE TABLE versions(                                      -- versions.py, computed by every build
    doc_id INTEGER PRIMARY KEY REFERENCES documents,
    family INTEGER NOT NULL REFERENCES documents,           -- doc_id of the family's current version
    role TEXT NOT NULL,                                     -- current | superseded | proposed-revision
    related INTEGER REFERENCES documents                    -- superseded by / proposed revision of
);
"""


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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    for name, size in manifest.get("files", {}).items():
        file = path / name
        if not file.is_file():
            raise IndexError_(f"{file} is missing; rebuild with `gtindex build --rebuild`")
        if file.stat().st_size != size:
            raise IndexError_(f"{file} is truncated or altered; rebuild with `gtindex build --rebuild`")
    return Generation(path, manifest)


def read_manifest(generation: Path) -> dict:
    manifest_path = Path(generation) / MANIFEST_FILE
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexError_(f"{manifest_path} is missing; rebuild with `gtindex build --rebuild`") from None
    except (OSError, ValueError):
        raise IndexError_(f"{manifest_path} is damaged; rebuild with `gtindex build --rebuild`") from None
    if not isinstance(manifest, dict):
        raise IndexError_(f"{manifest_path} is damaged; rebuild with `gtindex build --rebuild`")
    problem = _manifest_shape_problem(manifest)
    if problem:
        raise IndexError_(f"{manifest_path} is damaged ({problem}); rebuild with `gtindex build --rebuild`")
    return manifest


# What readers take from a manifest, by key: the JSON type each must have when present.
MANIFEST_SHAPE = {"files": dict, "sha256": dict, "counts": dict, "sources": list, "excluded": list, "skipped": list}


def _manifest_shape_problem(manifest: dict) -> str:
    """Why the manifest's fields cannot be read as this gtindex writes them ("" if they can)."""
    for key, kind in MANIFEST_SHAPE.items():
        if key in manifest and not isinstance(manifest[key], kind):
            found = type(manifest[key]).__name__.replace("dict", "object").replace("list", "array")
            return f"its {key!r} is a JSON {found}, not {'an object' if kind is dict else 'an array'}"
    for name, size in manifest.get("files", {}).items():
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            return f"its 'files' gives {name!r} a size that is not a number of bytes"
    return ""


def incompatibility(manifest: dict, model_name: str, dim: int) -> str:
    """Why an index with this manifest cannot be read or extended by this gtindex ("" if it can).

    Vectors of two models (or dimensions) must never be mixed in one index, and an older
    format lacks tables this version reads, so either means a rebuild from the sources.
    """
    expected = {"index_format": INDEX_FORMAT, "model": model_name, "dim": dim}
    found = {key: manifest.get(key) for key in expected}
    if found == expected:
        return ""
    built = ", ".join(f"{key} {value}" for key, value in found.items())
    wanted = ", ".join(f"{key} {value}" for key, value in expected.items())
    return f"was built with {built}; this gtindex needs {wanted}; rebuild with `gtindex build --rebuild`"


def sqlite_uri(path: Path, mode: str = "ro") -> str:
    """A SQLite URI for `path`: every byte of the path that is special in a URI (`#`, `?`,
    `%`, spaces, non-ASCII) percent-encoded, so that SQLite opens exactly that file."""
    absolute = os.fsencode(os.path.abspath(path))  # bytes: a file name need not be UTF-8
    return f"file:{quote(absolute, safe='/')}?mode={mode}"


def connect_readonly(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(sqlite_uri(path), uri=True, check_same_thread=False)
        conn.execute("SELECT count(*) FROM meta").fetchone()
    except sqlite3.DatabaseError as exc:
        raise IndexError_(f"{path} cannot be read ({exc}); rebuild with `gtindex build`") from None
    conn.row_factory = sqlite3.Row
    return conn


def load_document(conn: sqlite3.Connection, doc_id: int) -> Document:
    """Rebuild a parsed Document from the index (a build reuses it instead of re-parsing)."""
    row = conn.execute("SELECT * FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
    lines = [
        Line(
            page=r["page"], page_label=r["page_label"], line=r["line"], line_on_page=r["line_on_page"],
            kind=r["kind"], section=r["section"], text=r["text"], footnote=r["footnote"],
        )
        for r in conn.execute("SELECT * FROM lines WHERE doc_id = ? ORDER BY seq", (doc_id,))
    ]
    links = [
        Link(text=r["text"], url=r["url"], section=r["section"])
        for r in conn.execute("SELECT * FROM links WHERE doc_id = ? ORDER BY seq", (doc_id,))
    ]
    return Document(
        doc=row["doc"], source_type=row["source_type"], sha256=row["sha256"], title=row["title"],
        status=row["status"], date=row["date"], center=row["center"], pages=row["pages"],
        line_kind=row["line_kind"], lines=lines, links=links,
    )


@dataclass(frozen=True)
class Layout:
    """Which document and lines each sentence and passage covers, and which passages hold
    each sentence, as int32 arrays indexed by id (element 0 unused; ids run from 1).

    Search maps ~700 candidate sentences a query to their places and passages, and turns
    a document filter into the rows it keeps: from these arrays that is well under a
    millisecond; as SQL lookups, ~10 ms a query and ~100 ms for a fresh process's first
    filter. Stored as blobs (table `layout`, one row per field, little-endian int32), so
    loading costs one read, not a row scan.
    """

    doc: np.ndarray  # span_id -> doc_id
    seq_start: np.ndarray  # span_id -> first line (lines.seq)
    seq_end: np.ndarray  # span_id -> last line
    holder_offsets: np.ndarray  # span_id -> slice of holder_passages
    holder_passages: np.ndarray
    held_offsets: np.ndarray  # passage_id -> slice of held_spans
    held_spans: np.ndarray
    passage_doc: np.ndarray  # passage_id -> doc_id

    @classmethod
    def of(cls, spans: list[tuple[int, int, int]], pairs: list[tuple[int, int]], passage_docs: list[int]) -> "Layout":
        """spans: (doc_id, seq_start, seq_end) of span ids 1..n; pairs: (span_id, passage_id);
        passage_docs: doc_id of passage ids 1..m."""
        places = np.zeros((len(spans) + 1, 3), dtype=np.int64)
        if spans:
            places[1:] = spans
        pairs_array = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        by_span = pairs_array[np.lexsort((pairs_array[:, 1], pairs_array[:, 0]))]
        by_passage = pairs_array[np.lexsort((pairs_array[:, 0], pairs_array[:, 1]))]
        return cls(
            places[:, 0].astype("<i4"), places[:, 1].astype("<i4"), places[:, 2].astype("<i4"),
            _offsets(by_span[:, 0], len(spans) + 1), by_span[:, 1].astype("<i4"),
            _offsets(by_passage[:, 1], len(passage_docs) + 1), by_passage[:, 0].astype("<i4"),
            np.asarray([0, *passage_docs], dtype="<i4"),
        )

    @property
    def span_count(self) -> int:
        return len(self.doc) - 1

    @property
    def passage_count(self) -> int:
        return len(self.passage_doc) - 1

    def holders(self, span_id: int) -> np.ndarray:
        return self.holder_passages[self.holder_offsets[span_id]:self.holder_offsets[span_id + 1]]

    def held(self, passage_ids: Iterable[int]) -> np.ndarray:
        """Every sentence these passages hold."""
        parts = [self.held_spans[self.held_offsets[p]:self.held_offsets[p + 1]] for p in passage_ids]
        return np.concatenate(parts) if parts else np.zeros(0, dtype="<i4")

    def in_documents(self, table: str, doc_ids: list[int]) -> np.ndarray:
        """Boolean array by span_id ("spans") or passage_id ("passages"): in these documents?"""
        allowed = np.isin(self.doc if table == "spans" else self.passage_doc, doc_ids)
        allowed[0] = False
        return allowed

    def write(self, conn: sqlite3.Connection) -> None:
        conn.executemany("INSERT INTO layout(name, data) VALUES (?, ?)",
                         [(name, getattr(self, name).astype("<i4").tobytes()) for name in LAYOUT_FIELDS])

    @classmethod
    def read(cls, conn: sqlite3.Connection) -> "Layout":
        stored = dict(conn.execute("SELECT name, data FROM layout"))
        missing = [name for name in LAYOUT_FIELDS if name not in stored]
        if missing:
            raise IndexError_(f"the index has no layout ({', '.join(missing)}); rebuild with `gtindex build --rebuild`")
        return cls(**{name: np.frombuffer(stored[name], dtype="<i4") for name in LAYOUT_FIELDS})


LAYOUT_FIELDS = tuple(field.name for field in dataclass_fields(Layout))


def _offsets(ids: np.ndarray, size: int) -> np.ndarray:
    """CSR offsets: entries of id i are [offsets[i], offsets[i + 1]) of an array sorted by id."""
    return np.concatenate([[0], np.cumsum(np.bincount(ids, minlength=size))]).astype("<i4")


def cached_vectors(conn: sqlite3.Connection, hashes: Iterable[str]) -> dict[str, np.ndarray]:
    """Embeddings already computed for these content hashes (missing ones are left out)."""
    found: dict[str, np.ndarray] = {}
    wanted = list(dict.fromkeys(hashes))
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        query = f"SELECT content_hash, vector FROM embeddings WHERE content_hash IN ({marks})"
        for content_hash, blob in conn.execute(query, chunk):
            found[content_hash] = np.frombuffer(blob, dtype=np.float32)
    return found


# --------------------------------------------------------------------------- writing


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


def create_database(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = OFF")  # a half-written generation is thrown away anyway
    conn.execute("PRAGMA synchronous = OFF")
    conn.executescript(SCHEMA)
    conn.execute("INSERT INTO meta VALUES ('index_format', ?)", (str(INDEX_FORMAT),))
    return conn


def insert_document(
    conn: sqlite3.Connection, document: Document, names: dict[str, str], parser_version: str, added_at: str
) -> int:
    """Insert a parsed document with its file names ({name: absolute path}); returns its doc_id."""
    cursor = conn.execute(
        "INSERT INTO documents(doc, sha256, source_type, title, status, date, year, center, pages,"
        " line_kind, parser_version, added_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            document.doc, document.sha256, document.source_type, document.title, document.status,
            document.date, document.year, document.center, document.pages, document.line_kind,
            parser_version, added_at,
        ),
    )
    doc_id = cursor.lastrowid
    paths = names if isinstance(names, dict) else dict.fromkeys(names, "")
    conn.executemany("INSERT INTO doc_names VALUES (?, ?, ?)", [(name, doc_id, path) for name, path in paths.items()])
    conn.executemany(
        "INSERT INTO lines VALUES (?,?,?,?,?,?,?,?,?,?)",
        [
            (doc_id, seq, l.page, l.page_label, l.line, l.line_on_page, l.kind, l.section, l.text, l.footnote)
            for seq, l in enumerate(document.lines)
        ],
    )
    conn.executemany(
        "INSERT INTO links VALUES (?,?,?,?,?)",
        [(doc_id, seq, link.text, link.url, link.section) for seq, link in enumerate(document.links)],
    )
    return doc_id


def insert_embeddings(conn: sqlite3.Connection, vectors: dict[str, np.ndarray]) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO embeddings VALUES (?, ?)",
        ((key, np.asarray(vector, dtype=np.float32).tobytes()) for key, vector in vectors.items()),
    )


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


def write_manifest(gen_dir: Path, manifest: dict, known_sha256: dict[str, str] | None = None) -> dict:
    """Record every file's size and sha256, then write manifest.json.

    `known_sha256`: hashes of files hard-linked from a verified previous generation, so
    that the 90 MB query model is not hashed again by every update.
    """
    files = sorted(p for p in gen_dir.rglob("*") if p.is_file() and p.name != MANIFEST_FILE)
    known = known_sha256 or {}
    manifest = dict(manifest)
    manifest["index_format"] = INDEX_FORMAT
    manifest["created_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    manifest["files"] = {str(p.relative_to(gen_dir)): p.stat().st_size for p in files}
    manifest["sha256"] = {
        str(p.relative_to(gen_dir)): known.get(str(p.relative_to(gen_dir))) or file_sha256(p) for p in files
    }
    (gen_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


POINTER_TMP = f".{CURRENT_FILE}.tmp"


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
    _fsync_dir(index_dir)
    pause_point("renamed")
    pointer_tmp = index_dir / POINTER_TMP
    try:
        with open(pointer_tmp, "w", encoding="utf-8") as handle:
            handle.write(final.name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:  # a full disk: CURRENT still names the old generation; free the new one's space
        pointer_tmp.unlink(missing_ok=True)
        shutil.rmtree(final, ignore_errors=True)
        raise
    pause_point("pointer-written")
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
