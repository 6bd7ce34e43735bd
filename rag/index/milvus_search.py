"""Search in Milvus: dense + BM25 candidates fused by Milvus's RRFRanker, mapped back to the rows of the index
version the app loaded (see `milvus_store` for the collections)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.index.faiss_index import FLAT_LIMIT, ivf_params
from rag.text import tokenize

if TYPE_CHECKING:
    from rag.index.milvus_store import MilvusStore

TERMS_BYTES = 65_000  # under the 65,535-byte VARCHAR limit


def bm25_terms(text: str) -> str:
    """The BM25 terms of a text as Milvus's standard analyzer will split them back: our tokens (stemmed,
    stopwords out) joined by spaces, with the apostrophe of "o'neil" written as a word character."""
    out = " ".join(t.replace("'", "_") for t in tokenize(text))
    if len(out) > TERMS_BYTES // 4:
        out = out.encode("utf-8")[:TERMS_BYTES].decode("utf-8", "ignore").rsplit(" ", 1)[0]
    return out



@dataclass
class MilvusSearch:
    """Dense + BM25 candidates fused by Milvus (RRF), as rows of the loaded index version."""

    store: MilvusStore
    rows: dict[str, int]  # primary key -> row in IndexData.chunks
    nprobe: int = 0

    def __post_init__(self) -> None:
        if self.store.lite and len(self.rows) > FLAT_LIMIT:
            self.nprobe = ivf_params(len(self.rows))[1]

    def fused(self, query: str, query_vector: np.ndarray, n: int, rrf_k: int) -> list[tuple[int, float]]:
        """(row, fused score), best first. Rows another process added since this version loaded are left out."""
        from pymilvus import AnnSearchRequest, RRFRanker

        if not self.rows:
            return []
        c = self.store.client
        dense_param: dict[str, Any] = {"params": {"nprobe": self.nprobe}} if self.nprobe else {}
        terms = bm25_terms(query)
        vec = np.asarray(query_vector, dtype=np.float32)
        if terms:
            hits = c.hybrid_search(self.store.chunks_name, [
                AnnSearchRequest(data=[vec], anns_field="vector", param=dense_param, limit=n),
                AnnSearchRequest(data=[terms], anns_field="sparse", param={}, limit=n),
            ], ranker=RRFRanker(rrf_k), limit=n, output_fields=[])
        else:
            hits = c.search(self.store.chunks_name, data=[vec], anns_field="vector", search_params=dense_param,
                            limit=n, output_fields=[])
            hits = [[{**h, "distance": 1.0 / (rrf_k + i + 1)} for i, h in enumerate(hits[0])]]
        out = []
        for h in hits[0]:
            row = self.rows.get(h["id"])
            if row is not None:
                out.append((row, float(h["distance"])))
        return out
