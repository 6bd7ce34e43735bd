"""Hybrid retrieval: dense (FAISS) and keyword (BM25) candidates fused by reciprocal rank fusion."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from rag.index.bm25 import BM25Index
from rag.index.embed import Embedder
from rag.index.store import IndexData
from rag.schema import Passage
from rag.text import tokenize

log = logging.getLogger(__name__)

DUPLICATE_JACCARD = 0.8
TOKEN_CACHE_ROWS = 50_000  # token sets kept for the near-duplicate check


@dataclass
class Candidate:
    row: int
    dense: float | None = None
    keyword: float | None = None
    fused: float = 0.0


def single_threaded_faiss() -> None:
    """FAISS searches one query at a time here, which one thread does best. More threads cost far more than
    they save: FAISS's OpenMP workers keep spinning after each search and starve the next PyTorch call (the
    query embedding, evidence scoring, generation). Measured on 2 cores: hybrid search 470 ms with FAISS's
    default threads, 17 ms with one. Index building raises the count again while it runs (`store.build_faiss`).
    """
    try:
        import faiss

        faiss.omp_set_num_threads(1)
    except ImportError:  # pragma: no cover - faiss is a dependency
        pass


class SearchEngine(Protocol):
    """Where fusion runs when it is not here: a database that searches dense and BM25 and fuses them (RRF)."""

    def fused(self, query: str, query_vector: np.ndarray, n: int, rrf_k: int) -> list[tuple[int, float]]: ...


class Retriever:
    """Holds one index version in memory plus its BM25 index (or the `engine` that searches for it, such as
    Milvus); immutable once built."""

    def __init__(self, data: IndexData, embedder: Embedder, candidates: int = 30, rrf_k: int = 60,
                 engine: SearchEngine | None = None) -> None:
        single_threaded_faiss()
        self.data = data
        self.embedder = embedder
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.engine = engine
        self.bm25 = BM25Index([c.text for c in data.chunks]) if engine is None else None
        self._tokens: dict[int, frozenset[str]] = {}

    def dense(self, query: str, n: int) -> list[tuple[int, float]]:
        if not self.data.chunks:
            return []
        qv = self.embedder.embed([query])
        scores, ids = self.data.faiss_index.search(np.ascontiguousarray(qv, dtype=np.float32),
                                                   min(n, len(self.data.chunks)))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def fused(self, query: str, n: int) -> list[Candidate]:
        """Dense and keyword candidates (n of each) fused by reciprocal rank fusion, best first."""
        if self.engine is not None:
            qv = self.embedder.embed([query])[0]
            found = [Candidate(row, fused=score) for row, score in self.engine.fused(query, qv, n, self.rrf_k)]
            return sorted(found, key=lambda c: (-c.fused, c.row))  # ties to the earlier row, as below
        cands: dict[int, Candidate] = {}
        for rank, (row, score) in enumerate(self.dense(query, n)):
            c = cands.setdefault(row, Candidate(row))
            c.dense = score
            c.fused += 1.0 / (self.rrf_k + rank + 1)
        for rank, (row, score) in enumerate(self.bm25.search(query, n)):
            c = cands.setdefault(row, Candidate(row))
            c.keyword = score
            c.fused += 1.0 / (self.rrf_k + rank + 1)
        return sorted(cands.values(), key=lambda c: (-c.fused, c.row))

    def search(self, query: str, k: int = 5) -> list[Passage]:
        kept: list[Candidate] = []
        for c in self.fused(query, max(self.candidates, k)):
            if any(self._near_duplicate(c.row, o.row) for o in kept):
                continue
            kept.append(c)
            if len(kept) == k:
                break
        return [self._passage(c, i + 1) for i, c in enumerate(kept)]

    def _near_duplicate(self, a: int, b: int) -> bool:
        ta, tb = self._token_set(a), self._token_set(b)
        if not ta or not tb:
            return False
        return len(ta & tb) / len(ta | tb) >= DUPLICATE_JACCARD

    def _token_set(self, row: int) -> frozenset[str]:
        if row not in self._tokens:
            if len(self._tokens) >= TOKEN_CACHE_ROWS:  # bounded: a million-chunk index must not grow forever
                self._tokens.clear()
            self._tokens[row] = frozenset(tokenize(self.data.chunks[row].text, keep_stopwords=True))
        return self._tokens[row]

    def _passage(self, c: Candidate, rank: int) -> Passage:
        chunk = self.data.chunks[c.row]
        doc = self.data.documents.get(chunk.doc)
        return Passage(
            chunk=chunk,
            title=doc.title if doc else "",
            outlet=doc.outlet if doc else "",
            published=doc.published if doc else "",
            score=c.fused,
            dense=c.dense,
            keyword=c.keyword,
            rank=rank,
            published_approx=doc.published_approx if doc else False,
        )
