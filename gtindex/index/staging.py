"""The one way to write an index: a staged generation.

    with StagedGeneration.open(index_dir, model=..., dim=..., parser_version=...) as staged:
        staged.write_documents(documents, names, added_at)   # documents, names, lines, links, acronyms
        staged.write_passages(passages, spans)               # passages, sentences, FTS5, holders, layout
        staged.write_versions(links)                         # optional
        staged.write_vectors(vectors)                        # embedding cache, vectors.faiss, spans.faiss
        staged.commit()                                      # FTS5 merged, bm25 postings; rows done
        staged.link_model(previous_model_dir)                # or export the model into staged.model_dir
        final = staged.publish(manifest)                     # manifest, fsync, rename, CURRENT

It is written in a `gen-new-*` directory beside the live generation, which readers never
see until `publish` points CURRENT at it (generations.py). Leaving the block without
publishing (an error, an interrupt) abandons it: its directory is removed and the live
generation is as it was. Call it with the writer lock held (lock.py).
"""
from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..acronyms import collect as collect_acronyms
from ..documents import Document
from ..passages import Passage, Span, span_holders
from . import schema
from .generations import MODEL_DIR, SPANS_FILE, SQLITE_FILE, VECTORS_FILE, link_tree, new_generation_dir, \
    pause_point, publish_generation
from .layout import Layout
from .manifest import write_manifest


class StagedGeneration:
    """A new generation being written; see the module docstring for the order of calls."""

    def __init__(self, index_dir: Path, path: Path, conn: sqlite3.Connection, dim: int, parser_version: str):
        self.index_dir = Path(index_dir)
        self.path = path
        self.dim = dim
        self.parser_version = parser_version
        self._conn: sqlite3.Connection | None = conn
        self._doc_ids: dict[str, int] = {}
        self._passages: list[Passage] = []
        self._spans: list[Span] = []
        self.published: Path | None = None

    @classmethod
    def open(cls, index_dir: Path, *, model: str, dim: int, parser_version: str) -> "StagedGeneration":
        """An empty generation in a new `gen-new-*` directory of `index_dir`."""
        path = new_generation_dir(Path(index_dir))
        try:
            conn = schema.create_database(path / SQLITE_FILE)
            schema.insert_meta(conn, {"model": model, "dim": str(dim), "parser_version": parser_version})
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        return cls(index_dir, path, conn, dim, parser_version)

    def __enter__(self) -> "StagedGeneration":
        return self

    def __exit__(self, *exc) -> None:
        if self.published is None:
            self.abandon()

    @property
    def model_dir(self) -> Path:
        return self.path / MODEL_DIR

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the staged generation's rows are committed; nothing more can be written")
        return self._conn

    # ------------------------------------------------------------------ rows

    def write_documents(self, documents: Iterable[Document], names: Mapping[str, Mapping[str, str]],
                        added_at: Mapping[str, str]) -> dict[str, int]:
        """Documents with their lines, links and file names ({doc: {name: absolute path}}),
        and the acronyms they define; `added_at`: sha256 → when that content was first
        indexed (now where missing). Returns doc_id by document name."""
        documents = list(documents)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for doc in documents:
            self._doc_ids[doc.doc] = schema.insert_document(
                self.conn, doc, names[doc.doc], self.parser_version, added_at.get(doc.sha256, now)
            )
        defined = collect_acronyms(" ".join(line.text for line in doc.lines) for doc in documents)
        schema.insert_acronyms(self.conn, defined)
        return dict(self._doc_ids)

    def write_passages(self, passages: list[Passage], spans: list[Span]) -> None:
        """Passages and sentences of the documents written (in vector-row order), their
        FTS5 indexes, the passages holding each sentence, and the layout."""
        doc_ids = self._doc_ids
        schema.insert_passages(self.conn, passages, [doc_ids[p.doc] for p in passages])
        schema.index_passages(self.conn)
        schema.insert_spans(self.conn, spans, [doc_ids[s.doc] for s in spans])
        held = [(span + 1, passage + 1) for span, passage in span_holders(passages, spans)]
        schema.insert_span_passages(self.conn, held)
        Layout.of([(doc_ids[s.doc], s.seq_start, s.seq_end) for s in spans], held,
                  [doc_ids[p.doc] for p in passages]).write(self.conn)
        self._passages, self._spans = list(passages), list(spans)

    def write_versions(self, links: Iterable) -> None:
        """versions.VersionLink per document: its family, role and related version."""
        doc_ids = self._doc_ids
        schema.insert_versions(self.conn, [
            (doc_ids[link.doc], doc_ids[link.family], link.role, doc_ids.get(link.related)) for link in links
        ])

    def write_vectors(self, vectors: Mapping[str, np.ndarray]) -> None:
        """content_hash → vector for every passage and sentence written: the embedding cache
        (the next build's), and the FAISS files, row i holding id i + 1."""
        from ..dense import DenseIndex

        schema.insert_embeddings(self.conn, vectors)
        passages = np.zeros((len(self._passages), self.dim), dtype=np.float32)
        for row, passage in enumerate(self._passages):
            passages[row] = vectors[passage.content_hash]
        DenseIndex.build(passages).save(self.path / VECTORS_FILE)
        spans = np.zeros((len(self._spans), self.dim), dtype=np.float32)
        for row, span in enumerate(self._spans):
            spans[row] = vectors[span.context_hash]  # read in its passage (passages.reading_places)
        DenseIndex.build(spans).save(self.path / SPANS_FILE)

    def commit(self) -> None:
        """Finish the rows: FTS5 indexes merged, bm25 postings stored, database closed."""
        conn = self.conn
        schema.finish_lexical(conn)
        conn.commit()
        conn.close()
        self._conn = None

    # ------------------------------------------------------------------ files and publishing

    def link_model(self, source: Path) -> None:
        """The query model, hard-linked from a verified previous generation's (or copied)."""
        link_tree(Path(source), self.model_dir)

    def publish(self, manifest: dict, known_sha256: dict[str, str] | None = None) -> Path:
        """Write manifest.json (`known_sha256`: hashes of linked files already verified), then
        make this the live generation atomically. Returns its final directory."""
        if self._conn is not None:
            self.commit()
        write_manifest(self.path, manifest, known_sha256)
        pause_point("staged")
        self.published = publish_generation(self.index_dir, self.path)
        return self.published

    def abandon(self) -> None:
        """Throw the staged generation away (the live one is untouched)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        shutil.rmtree(self.path, ignore_errors=True)
