"""The index's SQLite database: its schema, and every row gtindex writes or reads back
to rebuild what it wrote (documents and lines, passages, sentences, the embedding cache).

Readers elsewhere query the tables (see SCHEMA); rows are written only here, through a
staged generation (staging.py). Passage and sentence ids run from 1, and the vector of
id i is row i - 1 of its FAISS file: `vector_rows` and `ids_of_rows` are that rule.
"""
from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

import numpy as np

from .. import lexical
from ..acronyms import glossary
from ..documents import Document, Line, Link
from ..errors import IndexError_
from ..passages import Passage, Span
from ..sql import batches

INDEX_FORMAT = 8  # 2: doc_names.path, versions table; 3: sentence vectors (spans.faiss), spans_fts; 4: acronyms;
# 5: bm25 postings (passages_bm25, spans_bm25), span_passages, layout; ids = vector_row + 1;
# 6: passages carry their document's title (embedded, and a column of passages_fts); a
# sentence's vector is the mean of its embeddings alone and in context (spans.context_hash);
# embeddings is a rowid table; 7: the text embedded for a passage or sentence is followed by
# the long forms of the acronyms it uses (passages.glossary_of), and its content hash is
# that text's; 8: a sentence's vector is read inside the passage around it (late chunking,
# passages.reading_places), cached under spans.context_hash

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
    title TEXT NOT NULL,                                    -- the document's title, for passages_fts
    section TEXT NOT NULL, text TEXT NOT NULL, footnote INTEGER NOT NULL,
    content_hash TEXT NOT NULL,                             -- sha256 of title, section, text, newline-joined, + gloss
    vector_row INTEGER NOT NULL UNIQUE                      -- row in vectors.faiss
        CHECK (vector_row = passage_id - 1)
);
CREATE INDEX passages_doc ON passages(doc_id, seq_start);
CREATE VIRTUAL TABLE passages_fts USING fts5(
    title, section, text, content='passages', content_rowid='passage_id', tokenize='porter unicode61'
);
CREATE TABLE spans(                                         -- sentences: what a hit cites
    span_id INTEGER PRIMARY KEY,
    doc_id INTEGER NOT NULL REFERENCES documents,
    seq_start INTEGER NOT NULL, seq_end INTEGER NOT NULL,
    text TEXT NOT NULL, content_hash TEXT NOT NULL,         -- sha256 of text + gloss (Span.embed_text)
    context_hash TEXT NOT NULL,                             -- key of its vector in embeddings (passages.Span.context_hash)
    vector_row INTEGER NOT NULL UNIQUE                      -- row in spans.faiss: its vector (embeddings[context_hash])
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
-- A rowid table: WITHOUT ROWID would keep at most ~1,000 bytes of a row in its page and
-- give each 1,536-byte vector an overflow page of its own (4.7 KB a vector, 236 MB of the
-- default corpus's 276 MB database, against 107 MB stored this way).
CREATE TABLE embeddings(content_hash TEXT PRIMARY KEY, vector BLOB NOT NULL);
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


def vector_rows(ids: Iterable[int]) -> np.ndarray:
    """Rows of the FAISS file holding these passage or sentence ids (vector_row = id - 1)."""
    return np.asarray(list(ids), dtype=np.int64) - 1


def ids_of_rows(rows: Iterable[int]) -> list[int]:
    """Passage or sentence ids of these FAISS rows (id = vector_row + 1)."""
    return [int(row) + 1 for row in rows]


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
        raise IndexError_(f"{path} cannot be read ({exc}); rebuild with `gtindex build --rebuild`") from None
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



def parsed_documents(conn: sqlite3.Connection) -> list[tuple[str, int, str]]:
    """(sha256, doc_id, parser_version) of every document, to reuse parses from."""
    return conn.execute("SELECT sha256, doc_id, parser_version FROM documents").fetchall()


def added_at(conn: sqlite3.Connection) -> dict[str, str]:
    """sha256 -> when that content was first indexed."""
    return dict(conn.execute("SELECT sha256, added_at FROM documents").fetchall())


def glossaries(conn: sqlite3.Connection) -> dict[int, dict[str, str]]:
    """doc_id → the acronyms its stored lines define (passages.glossary_of, read back)."""
    texts: dict[int, list[str]] = {}
    for doc_id, text in conn.execute("SELECT doc_id, text FROM lines ORDER BY doc_id, seq"):
        texts.setdefault(doc_id, []).append(text)
    return {doc_id: glossary(" ".join(lines)) for doc_id, lines in texts.items()}


def cached_vectors(conn: sqlite3.Connection, hashes: Iterable[str]) -> dict[str, np.ndarray]:
    """Embeddings already computed for these content hashes (missing ones are left out)."""
    found: dict[str, np.ndarray] = {}
    wanted = list(dict.fromkeys(hashes))
    for chunk in batches(wanted):
        marks = ",".join("?" * len(chunk))
        query = f"SELECT content_hash, vector FROM embeddings WHERE content_hash IN ({marks})"
        for content_hash, blob in conn.execute(query, chunk):
            found[content_hash] = np.frombuffer(blob, dtype=np.float32)
    return found



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



def insert_passages(conn: sqlite3.Connection, passages: Sequence[Passage], doc_ids: Sequence[int],
                    first_row: int = 0) -> None:
    """Passages (doc_ids[i]: document of passages[i]) at vector rows first_row, first_row + 1, ..."""
    conn.executemany(
        "INSERT INTO passages(passage_id, doc_id, seq_start, seq_end, title, section, text, footnote,"
        " content_hash, vector_row) VALUES (?,?,?,?,?,?,?,?,?,?)",
        [
            (row + 1, doc_id, p.seq_start, p.seq_end, p.title, p.section, p.text, int(p.footnote), p.content_hash,
             row)
            for row, (p, doc_id) in enumerate(zip(passages, doc_ids), start=first_row)
        ],
    )


def index_passages(conn: sqlite3.Connection) -> None:
    """The FTS5 index over every passage written."""
    conn.execute("INSERT INTO passages_fts(rowid, title, section, text)"
                 " SELECT passage_id, title, section, text FROM passages")


def insert_spans(conn: sqlite3.Connection, spans: Sequence[Span], doc_ids: Sequence[int]) -> None:
    """Sentences (doc_ids[i]: document of spans[i]) at vector rows 0, 1, ..., and their FTS5 index."""
    conn.executemany(
        "INSERT INTO spans(span_id, doc_id, seq_start, seq_end, text, content_hash, context_hash, vector_row)"
        " VALUES (?,?,?,?,?,?,?,?)",
        [
            (row + 1, doc_id, s.seq_start, s.seq_end, s.text, s.content_hash, s.context_hash, row)
            for row, (s, doc_id) in enumerate(zip(spans, doc_ids))
        ],
    )
    conn.execute("INSERT INTO spans_fts(rowid, text) SELECT span_id, text FROM spans")


def insert_span_passages(conn: sqlite3.Connection, pairs: Sequence[tuple[int, int]]) -> None:
    """(span_id, passage_id): the passages holding each sentence."""
    conn.executemany("INSERT INTO span_passages(span_id, passage_id) VALUES (?, ?)", pairs)


def insert_versions(conn: sqlite3.Connection, rows: Iterable[tuple[int, int, str, int | None]]) -> None:
    """(doc_id, family, role, related) per document (versions.py)."""
    conn.executemany("INSERT INTO versions(doc_id, family, role, related) VALUES (?,?,?,?)", list(rows))


def insert_acronyms(conn: sqlite3.Connection, defined: Iterable) -> None:
    """acronyms.Acronym rows: short form, long form, documents using it."""
    conn.executemany("INSERT INTO acronyms(short, long, documents) VALUES (?,?,?)",
                     [(a.short, a.long, a.documents) for a in defined])


def insert_meta(conn: sqlite3.Connection, values: Mapping[str, str]) -> None:
    conn.executemany("INSERT INTO meta VALUES (?, ?)", list(values.items()))


def finish_lexical(conn: sqlite3.Connection,
                   tables: Sequence[lexical.RankedTable] = (lexical.PASSAGES, lexical.SPANS)) -> None:
    """Merge each FTS5 index into one segment and store its bm25 postings (lexical.py)."""
    for ranked in tables:
        conn.execute(f"INSERT INTO {ranked.table}_fts({ranked.table}_fts) VALUES ('optimize')")
    for ranked in tables:
        lexical.write_postings(conn, ranked)
