"""Hybrid retrieval: dense (FAISS) and keyword (BM25) candidates fused by reciprocal rank fusion.

Syndicated copies (the same wire story from several outlets, `rag.ingest.syndication`) yield one passage: a chunk
of a copy stands for the representative's chunk that carries the same text (the earliest publication), and the
passage names the other outlets in `also_published_by`. A paragraph only one outlet ran keeps its own chunk.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from rag.index.bm25 import BM25Index
from rag.index.embed import Embedder
from rag.index.store import IndexData
from rag.ingest.syndication import Group, also_published_by, find_groups
from rag.schema import DateRange, Passage
from rag.text import tokenize

log = logging.getLogger(__name__)

DUPLICATE_JACCARD = 0.8
SAME_TEXT_JACCARD = 0.5  # a copy's chunk and the representative's chunk that carry the same text (token sets)
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
        self._groups: dict[str, Group] | None = None
        self._groups_lock = threading.Lock()

    @property
    def groups(self) -> dict[str, Group]:
        """Syndicated copies among this version's documents (doc id -> its group), found on the first search
        rather than at open: from the signatures ingest stored, ~1.5 s for 10,000 documents."""
        if self._groups is None:
            with self._groups_lock:
                if self._groups is None:
                    self._groups = find_groups(self.data.documents)
        return self._groups

    def also_published_by(self, doc: str) -> list[str]:
        """The other outlets that ran `doc`'s story (a citation's "also published by")."""
        return also_published_by(doc, self.data.documents, self.groups) if doc in self.data.documents else []

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

    def search(self, query: str, k: int = 5, dates: DateRange | None = None) -> list[Passage]:
        """The best `k` passages; with `dates`, only from articles published in that range (the candidate pool
        widens until `k` are found or every chunk was looked at)."""
        n = max(self.candidates, k)
        allowed = self._docs_in(dates) if dates else None
        if allowed is not None and not allowed:
            return []
        while True:
            kept = self._pick(self.fused(query, n), k, allowed)
            if allowed is None or len(kept) == k or n >= len(self.data.chunks):
                return [self._passage(c, i + 1) for i, c in enumerate(kept)]
            n *= 4

    def _docs_in(self, dates: DateRange) -> set[str]:
        return {d.doc for d in self.data.documents.values() if dates.contains(d.published, d.published_approx)}

    def _pick(self, found: list[Candidate], k: int, allowed: set[str] | None) -> list[Candidate]:
        kept: list[Candidate] = []
        rows: set[int] = set()
        for c in found:
            if allowed is not None and self.data.chunks[c.row].doc not in allowed:
                continue
            r = self._representative(c)
            c = r if allowed is None or self.data.chunks[r.row].doc in allowed else c
            if c.row in rows or any(self._near_duplicate(c.row, o.row) for o in kept):
                continue  # one passage per chunk, and one per text
            kept.append(c)
            rows.add(c.row)
            if len(kept) == k:
                break
        return kept

    def _representative(self, c: Candidate) -> Candidate:
        """A candidate from a syndicated copy as the representative's chunk with the same text, with its scores;
        as it is when it is the representative's, or when the representative has no such chunk (a paragraph
        only this outlet ran)."""
        doc = self.data.chunks[c.row].doc
        group = self.groups.get(doc)
        if group is None or group.representative == doc:
            return c
        best, best_row = -1.0, -1
        for row in self.data.by_doc.get(group.representative, []):
            j = self._jaccard(c.row, row)
            if j > best:  # ties: the earlier chunk
                best, best_row = j, row
                if j == 1.0:
                    break
        return replace(c, row=best_row) if best >= SAME_TEXT_JACCARD else c

    def _near_duplicate(self, a: int, b: int) -> bool:
        return self._jaccard(a, b) >= DUPLICATE_JACCARD

    def _jaccard(self, a: int, b: int) -> float:
        ta, tb = self._token_set(a), self._token_set(b)
        if not ta or not tb:
            return 0.0
        return len(ta & tb) / len(ta | tb)

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
            url=str(doc.meta.get("url") or "") if doc else "",
            author=doc.author if doc else "",
            also_published_by=self.also_published_by(chunk.doc),
        )
