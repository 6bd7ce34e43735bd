"""`rag bench search`: hybrid search latency, recall against exact search and memory at 10k to 1M synthetic chunks."""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.bench.common import (
    DEFAULT_QUESTIONS,
    Result,
    fmt,
    machine,
    md_table,
    percentile,
    progress_bar,
    release_memory,
    rss_bytes,
    spread,
)
from rag.bench.synthetic import SyntheticCorpus, sentence_pool

log = logging.getLogger(__name__)


def _queries(articles: list[list[str]], n: int, question_file: Path | None, seed: int) -> list[str]:
    qs: list[str] = []
    if question_file is not None and Path(question_file).is_file():
        from rag.evaluate import load_eval

        qs = [it.question for it in load_eval(question_file)][:n]
    rng = np.random.default_rng(seed + 7)
    flat = [s for a in articles for s in a]
    while len(qs) < n:
        words = flat[int(rng.integers(len(flat)))].split()
        m = int(rng.integers(5, 11))
        a = int(rng.integers(0, max(1, len(words) - m + 1)))
        qs.append(" ".join(words[a : a + m]))
    return qs


def _exact_topk(vectors: np.ndarray, queries: np.ndarray, k: int, block: int = 100_000) -> np.ndarray:
    """Exact inner-product top-k ids by blocked matrix products (works on a memory-mapped array)."""
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), k), dtype=np.int64)
    for a in range(0, len(vectors), block):
        s = queries @ np.asarray(vectors[a : a + block]).T
        kk = min(k, s.shape[1])
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        cand_s = np.concatenate([best_s, np.take_along_axis(s, part, axis=1)], axis=1)
        cand_i = np.concatenate([best_i, part + a], axis=1)
        order = np.argsort(-cand_s, axis=1, kind="stable")[:, :k]
        best_s = np.take_along_axis(cand_s, order, axis=1)
        best_i = np.take_along_axis(cand_i, order, axis=1)
    return best_i


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(f[f >= 0].tolist()) & set(t.tolist())) / k for f, t in zip(found, truth)]))


def _timed(fn, items, warm: int = 3) -> list[float]:
    for x in items[:warm]:
        fn(x)
    out = []
    for x in items:
        t = time.perf_counter()
        fn(x)
        out.append(1000 * (time.perf_counter() - t))
    return out


@dataclass
class SearchRow:
    chunks: int
    index: dict
    build_s: float  # FAISS index
    bm25_build_s: float
    corpus_s: float  # generating the synthetic corpus (context)
    dense_ms: dict  # FAISS search alone, query vector given
    exact_ms: dict  # exact search over the same vectors (the baseline)
    keyword_ms: dict
    hybrid_ms: dict  # Retriever.search: embed the query, FAISS, BM25, fusion, de-duplication
    embed_query_ms: dict
    recall_at_10: float  # approximate index against exact search
    index_bytes_per_chunk: float
    bm25_bytes_per_chunk: float
    rss_bytes_per_chunk: float  # resident memory growth for the whole in-memory index, per chunk
    sweep: list[dict] = field(default_factory=list)  # IVF: recall and latency at other nprobe values
    store: str = "faiss"  # faiss: FAISS + in-memory BM25 fused here; milvus: Milvus Lite, fused by Milvus


@dataclass
class SearchBench(Result):
    rows: list[SearchRow]
    queries: int
    embedder: str
    machine: str
    notes: list[str] = field(default_factory=list)

    def targets(self) -> list[tuple[str, str, bool]]:
        out = []
        for r in self.rows:
            if r.chunks >= 1_000_000 and r.store == "faiss":  # the default store; Milvus Lite rows are context
                out.append((f"hybrid p50 <= 50 ms at {r.chunks:,} chunks", f"{r.hybrid_ms['p50']:.1f} ms",
                            r.hybrid_ms["p50"] <= 50))
                out.append((f"recall@10 >= 0.95 at {r.chunks:,} chunks", f"{r.recall_at_10:.3f}",
                            r.recall_at_10 >= 0.95))
        return out

    def table(self) -> str:
        def idx(r: SearchRow) -> str:
            i = r.index
            return i["type"] + (f" {i['nlist']}/{i['nprobe']}" if "nlist" in i else "")

        rows = [[r.store, f"{r.chunks:,}", idx(r), fmt(r.build_s, 1), fmt(r.bm25_build_s, 1),
                 f"{fmt(r.dense_ms['p50'], 2)} / {fmt(r.dense_ms['p95'], 2)}",
                 f"{fmt(r.exact_ms['p50'], 1)}",
                 f"{fmt(r.keyword_ms['p50'], 1)} / {fmt(r.keyword_ms['p95'], 1)}",
                 f"{fmt(r.hybrid_ms['p50'], 1)} / {fmt(r.hybrid_ms['p95'], 1)}",
                 f"{r.recall_at_10:.3f}", fmt(r.index_bytes_per_chunk), fmt(r.bm25_bytes_per_chunk),
                 fmt(r.rss_bytes_per_chunk)] for r in self.rows]
        out = [f"rag bench search: {self.queries} queries; embedder {self.embedder}; {self.machine}", "",
               md_table(["store", "chunks", "index (cells/probed)", "index build s", "BM25 build s", "dense p50/p95 ms",
                         "exact p50 ms", "keyword p50/p95 ms", "hybrid p50/p95 ms", "recall@10",
                         "index B/chunk", "BM25 B/chunk", "RSS B/chunk"], rows)]
        for r in self.rows:
            if r.sweep:
                out += ["", f"{r.store} nprobe sweep at {r.chunks:,} chunks ({r.index['nlist']} cells):",
                        md_table(["nprobe", "recall@10", "dense p50 ms"],
                                 [[s["nprobe"], f"{s['recall_at_10']:.3f}", fmt(s["dense_ms_p50"], 2)]
                                  for s in r.sweep])]
        if self.targets():
            out += ["", self.targets_table()]
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)


def bench_search(sizes: Sequence[int] = (10_000, 100_000, 1_000_000), *, settings=None, embedder=None,
                 source: Path | None = None, queries: int = 100, question_file: Path | None = None,
                 flat_limit: int | None = None, noise: float = 0.3, seed: int = 0, sweep: bool = True,
                 workdir: Path | None = None, progress: bool = False,
                 stores: Sequence[str] = ("faiss",)) -> SearchBench:
    """Build the production index (type chosen by size) and BM25 over synthetic corpora of each size, and
    measure build times, latencies, recall against exact search and memory per chunk."""
    import faiss

    from rag.index.embed import make_embedder
    from rag.index.faiss_index import build_faiss, describe_faiss, faiss_nbytes
    from rag.index.retrieve import Retriever, single_threaded_faiss
    from rag.index.store import IndexData
    from rag.schema import Chunk
    from rag.settings import Settings

    settings = settings or Settings.from_env()
    source = Path(source or settings.data_dir)
    embedder = embedder if embedder is not None else make_embedder(settings)
    articles = sentence_pool(source)
    sentences = [s for a in articles for s in a]
    corpus = SyntheticCorpus(sentences, embedder.embed(sentences), noise=noise, seed=seed)
    qfile = question_file if question_file is not None else (DEFAULT_QUESTIONS if DEFAULT_QUESTIONS.is_file()
                                                             else None)
    q_texts = _queries(articles, queries, qfile, seed)
    q_vecs = np.ascontiguousarray(embedder.embed(q_texts), dtype=np.float32)
    k, candidates = 10, settings.candidates
    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="rag-bench-search-"))
    rows: list[SearchRow] = []
    notes = [
        f"synthetic corpus: each chunk vector is the normalised mean of the real embeddings of 3-5 of the "
        f"{len(sentences)} sentences in {source}, plus Gaussian noise (norm {noise}); its text is the same "
        "sentences after a dateline of pseudo-words (Zipf-distributed places, a growing set of names)",
        f"queries: {min(queries, len(q_texts))} = dev questions and 5-10 word fragments of those sentences, "
        "embedded by the real model (hybrid latency includes embedding the query)",
        "exact = brute-force inner product over the same vectors (faiss.knn, one thread like every search here); recall@10 = share of the exact "
        "top 10 that the index returns",
        "RSS B/chunk: resident memory growth while the FAISS index, BM25 and chunk objects are built (vectors "
        "memory-mapped, as `IndexStore.load` does)",
    ]
    if "milvus" in stores:
        notes.append("milvus rows: Milvus Lite (pure Python, in this process) with the collection RAG_STORE=milvus "
                     "uses; index build s = inserting the vectors and BM25 terms, flushing and loading (Milvus "
                     "computes BM25 on insert, so no separate BM25 build); index B/chunk = its files on disk; RSS "
                     "B/chunk = memory growth from inserting to loaded (chunk objects not counted); hybrid = "
                     "embedding the query + one hybrid_search (RRF in Milvus) + de-duplication")
    try:
        for n in sizes:
            release_memory()
            rss0 = rss_bytes()
            log.info("bench search: %d chunks", n)
            t = time.perf_counter()
            vec_path = root / f"vectors-{n}.npy"
            vectors = np.lib.format.open_memmap(vec_path, mode="w+", dtype=np.float32,
                                                shape=(n, corpus.E.shape[1]))
            texts: list[str] = []
            step = 50_000
            with progress_bar(n, f"corpus {n:,}", progress) as bar:
                for a in range(0, n, step):
                    v, tx = corpus.block(a, min(step, n - a))
                    vectors[a : a + len(v)] = v
                    texts.extend(tx)
                    bar.update(len(v))
            vectors.flush()
            corpus_s = time.perf_counter() - t

            t = time.perf_counter()
            index = build_faiss(vectors, flat_limit=flat_limit) if "faiss" in stores else None
            build_s = time.perf_counter() - t
            truth = _exact_topk(vectors, q_vecs, k)
            single_threaded_faiss()  # searches run on one thread in the app (see rag.index.retrieve)
            exact_ms = _timed(lambda i: faiss.knn(q_vecs[i : i + 1], vectors, k, metric=faiss.METRIC_INNER_PRODUCT),
                              list(range(min(10, len(q_vecs)))), warm=1)
            del vectors
            release_memory()
            vectors = np.load(vec_path, mmap_mode="r", allow_pickle=False)

            chunks = [Chunk(str(i), f"synthetic-{i // 4}", tx, 0, len(tx)) for i, tx in enumerate(texts)]
            del texts
            if "milvus" in stores:
                from rag.bench.search_milvus import milvus_row

                rows.append(milvus_row(n, vectors, chunks, q_texts, q_vecs, truth, exact_ms, embedder=embedder,
                                       settings=settings, root=root, timed=_timed, recall=_recall,
                                       corpus_s=corpus_s, progress=progress))
                release_memory()
            if index is None:
                del chunks, vectors
                continue
            data = IndexData({"synthetic": True}, {}, chunks, vectors, index)
            t = time.perf_counter()
            retriever = Retriever(data, embedder, candidates=candidates, rrf_k=settings.rrf_k)
            bm25_s = time.perf_counter() - t
            release_memory()
            rss1 = rss_bytes()

            qi = list(range(len(q_texts)))
            found = index.search(q_vecs, k)[1]
            recall = _recall(found, truth)
            dense = _timed(lambda i: index.search(q_vecs[i : i + 1], candidates), qi)
            keyword = _timed(lambda i: retriever.bm25.search(q_texts[i], candidates), qi)
            hybrid = _timed(lambda i: retriever.search(q_texts[i], settings.top_k), qi)
            embed_q = _timed(lambda i: embedder.embed([q_texts[i]]), qi[:30])
            sweeps = []
            if sweep and isinstance(index, faiss.IndexIVF):
                chosen = index.nprobe
                for npb in sorted({max(1, chosen // 4), max(1, chosen // 2), chosen, chosen * 2}):
                    index.nprobe = npb
                    sweeps.append({"nprobe": npb, "recall_at_10": _recall(index.search(q_vecs, k)[1], truth),
                                   "dense_ms_p50": percentile(_timed(lambda i: index.search(q_vecs[i: i + 1],
                                                                                            candidates), qi), 50)})
                index.nprobe = chosen
            rows.append(SearchRow(
                chunks=n, index=describe_faiss(index), build_s=build_s, bm25_build_s=bm25_s, corpus_s=corpus_s,
                dense_ms=spread(dense), exact_ms=spread(exact_ms), keyword_ms=spread(keyword), hybrid_ms=spread(hybrid),
                embed_query_ms=spread(embed_q), recall_at_10=recall,
                index_bytes_per_chunk=faiss_nbytes(index) / n,
                bm25_bytes_per_chunk=retriever.bm25.nbytes / n if hasattr(retriever.bm25, "nbytes") else float("nan"),
                rss_bytes_per_chunk=(rss1 - rss0) / n, sweep=sweeps,
            ))
            if "milvus" in stores:  # the same table order at every size: FAISS first
                rows[-2:] = rows[-1:] + rows[-2:-1]
            log.info("bench search %d: %s", n, rows[-1])
            del retriever, data, chunks, index, vectors
            release_memory()
            with contextlib.suppress(OSError):
                vec_path.unlink()
    finally:
        if not workdir:
            shutil.rmtree(root, ignore_errors=True)
    return SearchBench(rows=rows, queries=len(q_texts), embedder=embedder.name, machine=machine(), notes=notes)
