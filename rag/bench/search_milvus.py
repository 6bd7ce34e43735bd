"""`rag bench search --store milvus`: the same synthetic chunks, queries and exact baseline as the FAISS rows, in a
Milvus Lite database (the collections and hybrid search `RAG_STORE=milvus` uses)."""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

import numpy as np

from rag.bench.common import progress_bar, release_memory, rss_bytes, spread
from rag.schema import Chunk

log = logging.getLogger(__name__)


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def milvus_row(n: int, vectors: np.ndarray, chunks: list[Chunk], q_texts: list[str], q_vecs: np.ndarray,
               truth: np.ndarray, exact_ms: list[float], *, embedder, settings, root: Path, timed, recall,
               corpus_s: float, progress: bool):
    """Insert the chunks (vectors and BM25 terms) into a fresh Milvus Lite collection, load it, and time dense,
    BM25 and hybrid search the way the app runs them; recall@10 of its dense index against exact search."""
    from rag.bench.search import SearchRow
    from rag.index.milvus_search import MilvusSearch, bm25_terms
    from rag.index.milvus_store import BATCH, MilvusStore, key
    from rag.index.retrieve import Retriever
    from rag.index.store import IndexData
    from rag.settings import MILVUS_SERVER_SCHEMES

    server = settings.store == "milvus" and settings.milvus_uri.startswith(MILVUS_SERVER_SCHEMES)
    db = root / f"milvus-{n}.db"  # Milvus Lite, unless RAG_MILVUS_URI names a server: then its collections
    store = MilvusStore(settings.milvus_uri if server else str(db), token=settings.milvus_token,
                        collection=f"rag_bench_{n}", local_dir=root / f"milvus-{n}")
    k, candidates = truth.shape[1], settings.candidates
    try:
        release_memory()
        rss0 = rss_bytes()
        t = time.perf_counter()
        store._create({"dim": int(vectors.shape[1]), "embed_model": embedder.name,
                       "documents": {"synthetic": {"chunks": n}}})
        with progress_bar(n, f"milvus insert {n:,}", progress) as bar:
            for a in range(0, n, BATCH):
                store._insert_chunks(chunks[a : a + BATCH], np.asarray(vectors[a : a + BATCH], dtype=np.float32))
                bar.update(min(BATCH, n - a))
        store.client.flush(store.chunks_name)
        insert_s = time.perf_counter() - t
        t = time.perf_counter()
        store.client.release_collection(store.chunks_name)
        store.client.load_collection(store.chunks_name)  # segment indexes (dense and BM25) are ready after this
        load_s = time.perf_counter() - t
        release_memory()
        rss1 = rss_bytes()

        engine = MilvusSearch(store, {key(c.id): i for i, c in enumerate(chunks)})
        retriever = Retriever(IndexData({}, {}, chunks, np.zeros((0, vectors.shape[1]), np.float32)), embedder,
                              candidates=candidates, rrf_k=settings.rrf_k, engine=engine)
        params = {"params": {"nprobe": engine.nprobe}} if engine.nprobe else {}
        c = store.client

        def dense(i: int, limit: int = candidates) -> list[dict]:
            return c.search(store.chunks_name, data=[q_vecs[i]], anns_field="vector", search_params=params,
                            limit=limit, output_fields=[])[0]

        def keyword(i: int) -> list[dict]:
            return c.search(store.chunks_name, data=[bm25_terms(q_texts[i])], anns_field="sparse", limit=candidates,
                            output_fields=[])[0]

        qi = list(range(len(q_texts)))
        found = np.full((len(qi), k), -1, dtype=np.int64)
        for i in qi:
            hits = [engine.rows.get(h["id"], -1) for h in dense(i, k)]
            found[i, : len(hits)] = hits
        spec = store._dense_index(n)
        index = {"type": "milvus " + spec["index_type"].lower()}
        if engine.nprobe:
            index.update(nlist=spec["params"]["nlist"], nprobe=engine.nprobe)
        row = SearchRow(
            chunks=n, index=index,
            build_s=insert_s + load_s, bm25_build_s=float("nan"), corpus_s=corpus_s,
            dense_ms=spread(timed(dense, qi)), exact_ms=spread(exact_ms), keyword_ms=spread(timed(keyword, qi)),
            hybrid_ms=spread(timed(lambda i: retriever.search(q_texts[i], settings.top_k), qi)),
            embed_query_ms=spread(timed(lambda i: embedder.embed([q_texts[i]]), qi[:30])),
            recall_at_10=recall(found, truth),
            index_bytes_per_chunk=float("nan") if server else _folder_bytes(db) / n,
            bm25_bytes_per_chunk=float("nan"), rss_bytes_per_chunk=(rss1 - rss0) / n, store="milvus",
        )
        log.info("bench search milvus %d: %s", n, row)
        return row
    finally:
        if server:  # the bench's collections are not left on a shared server
            for name in (store.chunks_name, store.docs_name, store.meta_name):
                with contextlib.suppress(Exception):
                    store.client.drop_collection(name)
        store.close()
