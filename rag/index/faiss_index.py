"""The FAISS side of the index: which index type for how many vectors (exact up to FLAT_LIMIT, IVF-Flat above),
building it on all cores, and its search parameters and memory, for the store, retrieval and `rag bench search`."""

from __future__ import annotations

import contextlib
import math
import os
from typing import Any

import numpy as np

# Exact search (IndexFlatIP) up to FLAT_LIMIT chunks: a brute-force scan of 100k x 384 floats takes ~10 ms on
# 2 cores and needs no training. Above it, IVF-Flat (k-means cells, full vectors, so scores stay exact inner
# products and recall depends only on how many cells are probed). HNSW would search a bit faster, but
# building it for a million chunks takes many minutes on 2 cores and every ingest rebuilds the index;
# IVF builds in about a minute. Parameters by size: see `ivf_params`; measured with `rag bench search`.
FLAT_LIMIT = 100_000
IVF_TRAIN_PER_LIST = 40  # k-means training points per cell (faiss warns below 39)


def ivf_params(n: int) -> tuple[int, int]:
    """(cells, cells probed per query) for n vectors: ~sqrt(n) cells (1000 at 1M), 1/16 of them probed.

    Probing 1/16 scans ~6% of the vectors. Measured at 1M chunks on 2 cores (`rag bench search`): recall@10
    against exact search 0.987 at 62 of 1000 cells (0.965 at 31, 0.996 at 125), ~6 ms per query.
    """
    nlist = int(min(4096, max(64, round(math.sqrt(max(n, 1))))))
    nlist = max(1, min(nlist, n // IVF_TRAIN_PER_LIST))  # tiny indexes (tests) get fewer, fuller cells
    return nlist, min(nlist, max(8, nlist // 16))


@contextlib.contextmanager
def faiss_threads(n: int | None = None):
    """All cores for building (k-means, adding); searches run single-threaded (see `retrieve`)."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n or os.cpu_count() or 1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def build_faiss(vectors: np.ndarray, flat_limit: int | None = None):
    """Exact inner-product search up to `flat_limit` (default FLAT_LIMIT) vectors; IVF-Flat above it."""
    with faiss_threads():
        return _build_faiss(vectors, flat_limit)


def _build_faiss(vectors: np.ndarray, flat_limit: int | None):
    import faiss

    n, dim = vectors.shape if vectors.ndim == 2 else (0, 0)
    limit = FLAT_LIMIT if flat_limit is None else flat_limit
    if n <= limit:
        index = faiss.IndexFlatIP(dim)
        if n:
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return index
    nlist, nprobe = ivf_params(n)
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = 1234
    index.cp.niter = 10
    # a deterministic, evenly spread training sample (faiss would otherwise subsample 256 points per cell)
    n_train = min(n, nlist * IVF_TRAIN_PER_LIST)
    rows = np.sort(np.random.default_rng(0).choice(n, size=n_train, replace=False))
    index.cp.max_points_per_centroid = IVF_TRAIN_PER_LIST + 1
    index.train(np.ascontiguousarray(vectors[rows], dtype=np.float32))
    step = 200_000  # add in blocks: a memory-mapped array is never copied whole
    for a in range(0, n, step):
        index.add(np.ascontiguousarray(vectors[a : a + step], dtype=np.float32))
    index.nprobe = nprobe
    return index


def describe_faiss(index) -> dict[str, Any]:
    """The index type and the search parameters that `apply_search_params` restores after a load."""
    import faiss

    if isinstance(index, faiss.IndexIVF):
        return {"type": "ivf_flat", "nlist": int(index.nlist), "nprobe": int(index.nprobe)}
    if isinstance(index, faiss.IndexHNSW):
        return {"type": "hnsw", "M": int(index.hnsw.nb_neighbors(1)), "efSearch": int(index.hnsw.efSearch)}
    return {"type": "flat"}


def apply_search_params(index, params: dict[str, Any] | None) -> None:
    """Set nprobe / efSearch from the manifest (the file format keeps them too; this makes it explicit)."""
    import faiss

    params = params or {}
    if isinstance(index, faiss.IndexIVF) and params.get("nprobe"):
        index.nprobe = int(params["nprobe"])
    elif isinstance(index, faiss.IndexHNSW) and params.get("efSearch"):
        index.hnsw.efSearch = int(params["efSearch"])


def faiss_nbytes(index) -> int:
    """Memory held by a FAISS index (vectors, ids, centroids or graph links), without copying it."""
    import faiss

    n, d = int(index.ntotal), int(index.d)
    if isinstance(index, faiss.IndexIVF):
        return n * (int(index.code_size) + 8) + int(index.nlist) * d * 4
    if isinstance(index, faiss.IndexHNSW):
        return n * d * 4 + n * int(index.hnsw.nb_neighbors(0)) * 4 * 3 // 2
    return n * d * 4
