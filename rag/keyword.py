"""Keyword retrieval: BM25 (bm25s) over chunk texts, rebuilt in memory from the stored chunks."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_TOKEN = re.compile(r"[\w]+(?:[’'][\w]+)?", re.UNICODE)

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not now of off on once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours yourself yourselves
    s t don say says said tell told also us""".split()
)


def stem(token: str) -> str:
    """A light English stemmer: enough to match "strikes"/"strike", "bombing"/"bomb", "sanctions"/"sanction"."""
    t = token
    for suffix, repl in (("’s", ""), ("'s", ""), ("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if t.endswith(suffix) and len(t) - len(suffix) >= 3:
            t = t[: len(t) - len(suffix)] + repl
            break
    return t


def tokenize(text: str, keep_stopwords: bool = False) -> list[str]:
    toks = [t.lower().replace("’", "'") for t in _TOKEN.findall(text)]
    return [stem(t) for t in toks if keep_stopwords or t not in STOPWORDS]


class BM25Index:
    def __init__(self, texts: Sequence[str]) -> None:
        import bm25s

        self.size = len(texts)
        self._bm25 = bm25s.BM25()
        if self.size:
            corpus = [tokenize(t) or ["\x00"] for t in texts]
            self._bm25.index(corpus, show_progress=False)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """(row, score) pairs, best first; rows with score 0 are dropped."""
        if not self.size:
            return []
        q = tokenize(query)
        if not q:
            return []
        k = min(k, self.size)
        ids, scores = self._bm25.retrieve([q], k=k, show_progress=False, n_threads=1)
        return [(int(i), float(s)) for i, s in zip(np.asarray(ids)[0], np.asarray(scores)[0]) if s > 0]
