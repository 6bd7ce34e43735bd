"""Keyword retrieval: BM25 (bm25s) over chunk texts, rebuilt in memory from the stored chunks.

Building scales to a million chunks: tokens are mapped to ids through a cache (the stemmer runs once per
distinct word, not once per occurrence) and the BM25 matrix is computed with vectorised numpy, then handed
to bm25s, which does the searching. The scores are bm25s's own "lucene" BM25 (k1=1.5, b=0.75), so results
match `bm25s.BM25().index(...)` exactly; `tests/test_bench.py` checks that.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Sequence

import numpy as np

from rag.text import TOKEN, TOKEN_CACHE, normalise, tokenize

log = logging.getLogger(__name__)

K1, B = 1.5, 0.75  # bm25s defaults
EMPTY = "\x00"  # stands in for a chunk without any content word


def _token_ids(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(token ids of all texts, concatenated; tokens per text; vocabulary). Same tokens as `tokenize`.

    The per-token work runs in C (`findall`, `map(dict.get)`, `array.extend`); Python code runs once per
    text and once per distinct raw word.
    """
    vocab: dict[str, int] = {}
    raw_ids: dict[str, int] = {}  # raw token -> vocabulary id, -1 for a stopword
    get = raw_ids.get
    ids = array("i")
    counts = np.empty(len(texts), dtype=np.int64)  # raw tokens per text, stopwords included
    cache = TOKEN_CACHE
    findall = TOKEN.findall
    for i, text in enumerate(texts):
        raws = findall(text)
        row = list(map(get, raws))
        if None in row:
            for raw in raws:
                if raw not in raw_ids:
                    tok, stop = cache.get(raw) or normalise(raw)
                    raw_ids[raw] = -1 if stop else vocab.setdefault(tok, len(vocab))
            row = list(map(get, raws))
        ids.extend(row)
        counts[i] = len(row)
    all_ids = np.frombuffer(ids, dtype=np.int32) if len(ids) else np.zeros(0, np.int32)
    keep = all_ids >= 0
    bounds = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    kept_before = np.zeros(len(all_ids) + 1, dtype=np.int64 if len(all_ids) >= 2**31 else np.int32)
    np.cumsum(keep, out=kept_before[1:])
    lengths = (kept_before[bounds[1:]] - kept_before[bounds[:-1]]).astype(np.int64)
    del kept_before
    kept = all_ids[keep]
    empty = np.flatnonzero(lengths == 0)
    if len(empty):  # a text without content words gets the EMPTY token, as `tokenize(t) or [EMPTY]`
        pos = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=pos[1:])
        kept = np.insert(kept, pos[empty], vocab.setdefault(EMPTY, len(vocab)))
        lengths[empty] = 1
    return kept.astype(np.int32), lengths, vocab


def bm25_matrix(ids: np.ndarray, lengths: np.ndarray, n_vocab: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BM25 ("lucene" variant, as bm25s computes it) as a CSC matrix: (data, indices = rows, indptr)."""
    n_docs = len(lengths)
    docs = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    # one key per (term, document) occurrence; sorting them gives the CSC order (by term, then document)
    keys = ids.astype(np.int64) * n_docs + docs
    del docs
    keys, tf = np.unique(keys, return_counts=True)
    terms = keys // n_docs
    rows = (keys - terms * n_docs).astype(np.int32)
    del keys
    df = np.bincount(terms, minlength=n_vocab)
    idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
    avg_len = lengths.mean()
    tf32 = tf.astype(np.float32)
    tfc = tf32 / (K1 * ((1 - B) + B * lengths[rows] / avg_len) + tf32)
    data = (idf[terms] * tfc).astype(np.float32)
    indptr = np.zeros(n_vocab + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    return data, rows, indptr


class BM25Index:
    def __init__(self, texts: Sequence[str]) -> None:
        import bm25s

        self.size = len(texts)
        self._bm25 = bm25s.BM25()
        if self.size:
            ids, lengths, vocab = _token_ids(texts)
            try:
                data, rows, indptr = bm25_matrix(ids, lengths, len(vocab))
                self._bm25.scores = {"data": data, "indices": rows, "indptr": indptr, "num_docs": self.size}
                self._bm25.vocab_dict = vocab
                self._bm25.unique_token_ids_set = set(vocab.values())
                self._bm25.nonoccurrence_array = None
            except MemoryError:
                raise
            except Exception:  # noqa: BLE001 - a bm25s without these attributes: let it build the index itself
                log.warning("fast BM25 build failed; using bm25s's own", exc_info=True)
                self._bm25 = bm25s.BM25()
                offsets = np.concatenate([[0], np.cumsum(lengths)])
                rows_ = [ids[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:])]
                self._bm25.index((rows_, vocab), show_progress=False)

    @property
    def nbytes(self) -> int:
        """Memory held by the BM25 matrix (not counting the vocabulary dict)."""
        s = getattr(self._bm25, "scores", None) or {}
        return int(sum(getattr(v, "nbytes", 0) for v in s.values()))

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """(row, score) pairs, best first; rows with score 0 are dropped."""
        if not self.size:
            return []
        q = tokenize(query)
        if not q:
            return []
        k = min(k, self.size)
        scores = self._scores(q)
        if scores is None:
            return []
        # the top k among the rows that have a score at all; ties go to the earlier row
        rows = np.flatnonzero(scores)
        if len(rows) > k:
            rows = rows[np.argpartition(scores[rows], -k)[-k:]]
        top = scores[rows]
        order = np.lexsort((rows, -top))
        return [(int(i), float(s)) for i, s in zip(rows[order], top[order])]

    def _scores(self, q: list[str]) -> np.ndarray | None:
        """BM25 scores of every row for the query tokens (None when no token is in the vocabulary).

        Sums the query terms' posting lists with one `np.bincount`: bm25s's `np.add.at` is ~10x slower, and at a
        million chunks a common word has hundreds of thousands of postings (p95 150 ms -> ~15 ms).
        """
        bm = self._bm25
        vocab = bm.vocab_dict
        ids = [vocab[t] for t in q if t in vocab]
        if not ids:
            return None
        s = bm.scores
        data, indices, indptr = s["data"], s["indices"], s["indptr"]
        rows = np.concatenate([indices[indptr[t] : indptr[t + 1]] for t in ids])
        weights = np.concatenate([data[indptr[t] : indptr[t + 1]] for t in ids])
        return np.bincount(rows, weights=weights, minlength=self.size).astype(np.float32)
