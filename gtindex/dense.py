"""Dense vectors in FAISS: build, save, load and search an inner-product index.

Vectors are L2-normalised (see embedding.py), so inner product is cosine similarity.
Row i of the index is the vector added i-th; index/schema.py maps rows to passages (vector_row = id - 1).

Up to FLAT_LIMIT vectors the index is exact (IndexFlatIP: a few ms per query at 100k
vectors of 384 floats); above that an HNSW graph keeps queries fast (recall@10 0.97 at 113k vectors, see HNSW_EF_SEARCH).
Files are written with faiss.write_index (FAISS's own format, no pickle).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from .errors import IndexError_

FLAT_LIMIT = 100_000
HNSW_M = 32  # neighbours per node
HNSW_EF_CONSTRUCTION = 80
# Candidates kept while searching: recall vs speed. Measured by `make bench` (synthetic 10x,
# 113k vectors): efSearch 128 -> recall@10 0.88, 256 -> 0.94, 512 -> 0.97, at 0.3 / 0.5 / 0.8 ms
# for a top-100; the dense search is a small part of a query, so recall wins.
HNSW_EF_SEARCH = 512
EXACT_SUBSET = 20_000  # a filtered HNSW search over at most this many rows rescores them exactly

KIND_FLAT = "flat"
KIND_HNSW = "hnsw"
KIND_AUTO = "auto"


@dataclass
class DenseHits:
    scores: np.ndarray  # (k,) float32 inner products, best first
    rows: np.ndarray  # (k,) int64 vector row ids; -1 where fewer than k vectors exist


class DenseIndex:
    def __init__(self, index: faiss.Index, kind: str):
        self._index = index
        self.kind = kind
        if kind == KIND_HNSW:
            # efSearch is a search-time setting; set it here so built and loaded indexes agree.
            faiss.downcast_index(index).hnsw.efSearch = HNSW_EF_SEARCH

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str = KIND_AUTO) -> "DenseIndex":
        """Index (n, dim) normalised vectors; auto: flat up to FLAT_LIMIT, HNSW above."""
        vectors = _as_matrix(vectors)
        if kind == KIND_AUTO:
            kind = KIND_FLAT if len(vectors) <= FLAT_LIMIT else KIND_HNSW
        dim = vectors.shape[1]
        if kind == KIND_FLAT:
            index = faiss.IndexFlatIP(dim)
        elif kind == KIND_HNSW:
            index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        else:
            raise ValueError(f"unknown dense index kind {kind!r}")
        index.add(vectors)
        return cls(index, kind)

    def save(self, path: Path) -> None:
        """Write atomically: readers see the old file or the complete new one."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        faiss.write_index(self._index, str(tmp))
        with open(tmp, "rb+") as handle:  # on disk before it replaces the old file
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, mmap: bool = True) -> "DenseIndex":
        """Read a saved index; mmap maps the vectors instead of reading them into memory."""
        path = Path(path)
        if not path.is_file():
            raise IndexError_(f"dense index {path} is missing; rebuild the index")
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
        try:
            index = faiss.read_index(str(path), flags)
        except RuntimeError as exc:  # FAISS reports truncated or garbled files this way
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
            raise IndexError_(
                f"dense index {path} is damaged ({reason}); rebuild the index"
            ) from None
        return cls(index, _kind_of(index, path))

    def search(self, query: np.ndarray, k: int, rows: np.ndarray | None = None,
               ef_search: int | None = None) -> DenseHits:
        """The k rows with the highest inner product with query ((dim,) or (1, dim)).

        rows: search only these rows (a filter, e.g. the passages of some documents). FAISS
        skips the others while it searches, ~15x faster than rescoring every allowed row
        (10.5k passages: 24 -> 1.5 ms); exact on a flat index. An HNSW walk may miss rows of
        a small subset, so up to EXACT_SUBSET rows are rescored exactly instead.
        ef_search: HNSW candidate list [HNSW_EF_SEARCH], to measure recall against speed.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if rows is not None and self.kind == KIND_HNSW and len(rows) <= EXACT_SUBSET:
            return self._exact_top(query, k, np.asarray(rows, dtype=np.int64))
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(rows, dtype=np.int64)) if rows is not None else None
        params = None
        if self.kind == KIND_HNSW and (selector is not None or ef_search is not None):
            params = faiss.SearchParametersHNSW(efSearch=max(ef_search or HNSW_EF_SEARCH, k))
            if selector is not None:
                params.sel = selector
        elif selector is not None:
            params = faiss.SearchParameters(sel=selector)
        with _one_thread():
            scores, found = self._index.search(self._query_row(query), k, params=params)
        return DenseHits(scores=scores[0], rows=found[0])

    def _exact_top(self, query: np.ndarray, k: int, rows: np.ndarray) -> DenseHits:
        scores = self.search_subset(query, rows)
        order = np.argsort(-scores, kind="stable")[:k]
        padding = k - len(order)  # fewer rows than k: pad like FAISS does
        return DenseHits(scores=np.concatenate([scores[order], np.full(padding, -np.inf, np.float32)]),
                         rows=np.concatenate([rows[order], np.full(padding, -1, np.int64)]))

    def search_subset(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Exact inner products of query with the given rows (to rescore filtered candidates)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows) == 0:
            return np.zeros(0, dtype=np.float32)
        if rows.min() < 0 or rows.max() >= self.ntotal:
            raise IndexError_(
                f"vector row {int(rows.max() if rows.max() >= self.ntotal else rows.min())} "
                f"is outside the dense index ({self.ntotal} vectors); rebuild the index"
            )
        vectors = self._index.reconstruct_batch(rows)
        return vectors @ self._query_row(query)[0]

    def vectors(self) -> np.ndarray:
        """A (ntotal, dim) float32 copy of every stored vector (e.g. for an exact search to compare with)."""
        return np.asarray(self._index.reconstruct_n(0, self.ntotal), dtype=np.float32).reshape(self.ntotal, self.dim)

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def _query_row(self, query: np.ndarray) -> np.ndarray:
        query = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(1, -1))
        if query.shape[1] != self.dim:
            raise ValueError(f"query has {query.shape[1]} dimensions, the index {self.dim}")
        return query


@contextmanager
def _one_thread():
    """Search one query on one OpenMP thread.

    FAISS splits even a single query over its OpenMP threads, which then spin-wait; on a
    2-core machine that costs more than it gains (flat, 10.5k vectors, k=100: 8.8 -> 3.6 ms
    per query, CPU 7.3 -> 3.5 ms). Builds keep every thread.
    """
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def _as_matrix(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[1] == 0:
        raise ValueError(f"vectors must be a (n, dim) matrix, got shape {vectors.shape}")
    return np.ascontiguousarray(vectors, dtype=np.float32)


def _kind_of(index: faiss.Index, path: Path) -> str:
    index = faiss.downcast_index(index)
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise IndexError_(f"dense index {path} does not use inner product; rebuild the index")
    if isinstance(index, faiss.IndexHNSWFlat):
        return KIND_HNSW
    if isinstance(index, faiss.IndexFlatIP):
        return KIND_FLAT
    raise IndexError_(f"dense index {path} has unexpected type {type(index).__name__}; rebuild the index")

