"""Answering, step one: the few source sentences the reader model gets, numbered, in reading order.

Every sentence of the retrieved passages is scored by meaning (cosine of sentence embeddings) and wording
(IDF-weighted share of the question's terms it holds). The best ones become evidence units; a unit that
opens by pointing back ("He said...", "Indeed, ...") takes the sentence before it along, so the reader and
the citation both see what it points to. Whether the evidence answers the question is the model's call,
checked by the code in `rag.answer.compose`; nothing here looks at how a question is worded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.index.embed import Embedder
from rag.schema import Document, Passage
from rag.text import COMMON_CAPITALISED, same_word, tokenize

log = logging.getLogger(__name__)
VECTORS_FILE = "sentence-vectors.npy"  # beside an index version: every sentence's vector, computed once
VECTORS_META = "sentence-vectors.json"

# A sentence that starts like this leans on the one before it.
LEANS_BACK = re.compile(r"^\W*(he|she|it|they|them|his|her|its|their|this|that|these|those|such|there|"
                        r"but|and|or|so|yet|indeed|however|still|also|instead|meanwhile|moreover|thus|then|"
                        r"in fact|as a result|after that|that's|it's)\b", re.I)


# A personal pronoun with no name before it in its sentence points at an earlier sentence.
PRONOUN = re.compile(r"\b(he|she|they|him|her|his|their|them)\b", re.I)
_NAME = re.compile(r"\b[A-Z][a-z][\w’'-]*")
_CALENDAR = frozenset("January February March April May June July August September October November December Jan Feb "
                      "Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec Monday Tuesday Wednesday Thursday Friday Saturday "
                      "Sunday".split())
OPENS_QUOTE = re.compile(r"^\s*[“\"]")
SAYS = re.compile(r"\b(says|said|adds|added|told|tells|writes|wrote|asks|asked|according to)\b", re.I)
# A sentence that starts like this says who said the one before it ("..., says Konstantin Sivkov").
ATTRIBUTES_BACK = re.compile(r"^\W*(says|said|adds|added|according to|writes|wrote|told|tells|asks|asked)\b", re.I)


def leans_back(sentence: str) -> bool:
    """The sentence opens by pointing back, uses a personal pronoun before naming anyone, or is a quotation that
    does not say who said it (the sentence before does: "..., says Konstantin Sivkov. “The Americans ...”")."""
    return bool(LEANS_BACK.match(sentence)) or unresolved_pronoun(sentence) or (
        bool(OPENS_QUOTE.match(sentence)) and not SAYS.search(sentence))


def unresolved_pronoun(sentence: str) -> bool:
    """A personal pronoun comes before any name in the sentence: it points at someone named elsewhere."""
    m = PRONOUN.search(sentence)
    if not m:
        return False
    names = [w for w in _NAME.findall(sentence[: m.start()]) if w not in COMMON_CAPITALISED and w not in _CALENDAR]
    return not names


@dataclass
class Unit:
    """One numbered piece of evidence: a span of one document (one sentence, or two when it leans back)."""

    doc: str
    start: int
    end: int
    text: str
    paragraph: str  # the paragraph it sits in: what a reader sees around the highlighted quote
    dense: float = 0.0  # cosine to the question (of the sentence that was scored)
    lexical: float = 0.0  # IDF-weighted share of the question's terms in the unit
    score: float = 0.0


class SentenceVectors:
    """An LRU cache of sentence embeddings, keyed by document and span, so repeat questions stay fast."""

    def __init__(self, embedder: Embedder, capacity: int = 20000) -> None:
        self.embedder = embedder
        self.capacity = capacity
        self._cache: OrderedDict[tuple[str, int, int], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # several answers are worked on at once

    def get(self, items: Sequence[tuple[str, int, int, str]]) -> np.ndarray:
        with self._lock:
            missing = [(k, t) for (*k, t) in items if tuple(k) not in self._cache]
        if missing:
            vecs = self.embedder.embed([t for _, t in missing])
            self.put([(*k, t) for k, t in missing], vecs)
        out = []
        with self._lock:
            for d, a, b, t in items:
                v = self._cache.get((d, a, b))
                if v is None:  # evicted meanwhile by another answer's sentences
                    v = self.embedder.embed([t])[0]
                    self._cache[(d, a, b)] = v
                self._cache.move_to_end((d, a, b))
                out.append(v)
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        return np.vstack(out) if out else np.zeros((0, 1), np.float32)

    def put(self, items: Sequence[tuple[str, int, int, str]], vectors: np.ndarray) -> None:
        with self._lock:
            for (d, a, b, _), v in zip(items, vectors):
                self._cache[(d, a, b)] = v

    def restore(self, folder: Path, items: Sequence[tuple[str, int, int, str]]) -> bool:
        """Fill the cache from the vectors saved beside an index version, when they are for these sentences and
        this embedder (anything else, or a damaged file, just means they are computed again)."""
        try:
            meta = json.loads((folder / VECTORS_META).read_text(encoding="utf-8"))
            if meta.get("embed_model") != self.embedder.name or meta.get("sentences") != _items_key(items):
                return False
            vectors = np.load(folder / VECTORS_FILE, allow_pickle=False)
        except (OSError, ValueError):
            return False
        if vectors.shape[0] != len(items) or vectors.dtype != np.float32:
            return False
        self.put(items, vectors)
        return True

    def save(self, folder: Path, items: Sequence[tuple[str, int, int, str]], vectors: np.ndarray) -> None:
        """Write these sentences' vectors (from `get`) beside the index version (atomically; a read-only index
        is fine)."""
        try:
            tmp = folder / f".{VECTORS_FILE}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                np.save(f, vectors.astype(np.float32, copy=False), allow_pickle=False)
            os.replace(tmp, folder / VECTORS_FILE)
            meta = {"embed_model": self.embedder.name, "sentences": _items_key(items)}
            (folder / f".{VECTORS_META}.tmp").write_text(json.dumps(meta), encoding="utf-8")
            os.replace(folder / f".{VECTORS_META}.tmp", folder / VECTORS_META)
        except OSError as e:
            log.info("could not keep the sentence vectors in %s (%s): they are computed at each start", folder, e)


def _items_key(items: Sequence[tuple[str, int, int, str]]) -> str:
    """Which sentences, in which order, with which text: a saved matrix is used only for exactly these."""
    h = hashlib.sha256()
    for d, a, b, t in items:
        h.update(f"{d}\x00{a}\x00{b}\x00{t}\x01".encode())
    return h.hexdigest()


class EvidenceSelector:
    def __init__(self, embedder: Embedder, idf: dict[str, float], *, max_units: int = 8,
                 dense_weight: float = 0.6, rank_penalty: float = 0.1) -> None:
        self.embedder = embedder
        self.idf = idf
        self.vectors = SentenceVectors(embedder)
        self.max_units = max_units
        self.dense_weight = dense_weight
        self.rank_penalty = rank_penalty
        self._max_idf = max(idf.values(), default=1.0)

    def weight(self, token: str) -> float:
        return self.idf.get(token, self._max_idf)

    def coverage(self, q_terms: set[str], text: str) -> float:
        """IDF-weighted share of the question's terms found in `text` (a term matches its variants)."""
        if not q_terms:
            return 0.0
        s_terms = set(tokenize(text))
        total = sum(self.weight(t) for t in q_terms)
        return sum(self.weight(t) for t in q_terms if any(same_word(t, w) for w in s_terms)) / total

    def select(self, query: str, passages: Sequence[Passage], documents: dict[str, Document],
               sentence_index: dict[str, list[tuple[int, int]]], max_units: int | None = None,
               rank_penalty: float | None = None) -> list[Unit]:
        """The best evidence units for `query` (at most `max_units`, none overlapping), in reading order."""
        cands = _candidates(passages, documents)
        if not cands:
            return []
        q_terms = set(tokenize(query))
        qv = self.embedder.embed([query])[0]
        dense = self.vectors.get(cands) @ qv
        ranks = _best_ranks(passages)
        penalty = self.rank_penalty if rank_penalty is None else rank_penalty
        scored = []
        for (doc, a, b, t), d in zip(cands, dense):
            lexical = self.coverage(q_terms, t)
            score = self.dense_weight * float(d) + (1 - self.dense_weight) * lexical - penalty * (ranks[doc, a] - 1)
            scored.append((score, float(d), lexical, doc, a, b))
        scored.sort(key=lambda x: -x[0])
        units: list[Unit] = []
        taken: dict[str, list[tuple[int, int]]] = {}
        for score, d, lexical, doc, a, b in scored:
            if len(units) >= (max_units or self.max_units):
                break
            a, b = _widen(documents[doc].text, a, b, sentence_index.get(doc, []))
            if any(a < y and x < b for x, y in taken.get(doc, [])):
                continue
            taken.setdefault(doc, []).append((a, b))
            text = documents[doc].text
            units.append(Unit(doc, a, b, text[a:b], _paragraph(text, a, b), d, self.coverage(q_terms, text[a:b]),
                              score))
        return reading_order(units)


def reading_order(units: list[Unit]) -> list[Unit]:
    """Documents in the order of their best unit, each one's units in the order they are written.

    A small reader gets facts right far more often from sentences that follow each other as in the article
    than from the same sentences shuffled by score (nq-dev fit half, first 40: 17 of 34 answers against 12)."""
    first: dict[str, int] = {}
    for i, u in enumerate(units):
        first.setdefault(u.doc, i)
    return sorted(units, key=lambda u: (first[u.doc], u.start))


def _candidates(passages: Sequence[Passage], documents: dict[str, Document]) -> list[tuple[str, int, int, str]]:
    seen: set[tuple[str, int]] = set()
    out = []
    for p in passages:
        doc = documents.get(p.chunk.doc)
        if doc is None:
            continue
        for s in p.chunk.sentences:
            if (p.chunk.doc, s.start) not in seen:
                seen.add((p.chunk.doc, s.start))
                out.append((p.chunk.doc, s.start, s.end, doc.text[s.start:s.end]))
    return out


def _best_ranks(passages: Sequence[Passage]) -> dict[tuple[str, int], int]:
    """The rank of the best passage holding each sentence (overlapping chunks share sentences)."""
    best: dict[tuple[str, int], int] = {}
    for p in passages:
        for s in p.chunk.sentences:
            best.setdefault((p.chunk.doc, s.start), p.rank or 1)
    return best


def _widen(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> tuple[int, int]:
    """The unit around one sentence: with the sentence before it in the paragraph when it leans back, and
    the one after it when that one says who said it or the sentence announces it with a colon."""
    prev = [a for a, b in spans if b <= start]
    if prev and "\n" not in text[prev[-1]:start] and leans_back(text[start:end]):
        start = prev[-1]
    nxt = [(a, b) for a, b in spans if a >= end]
    if nxt and (ATTRIBUTES_BACK.match(text[nxt[0][0]:nxt[0][1]]) or text[start:end].rstrip().endswith(":")):
        end = nxt[0][1]  # "..., says X" after it, or what it announces with a colon (even a new paragraph)
    return start, end


def read_on(unit: Unit, text: str, spans: list[tuple[int, int]]) -> Unit:
    """The unit with the sentence after it when that one leans on it ("... there were a few theories. He needed
    to prop up Assad ..."): read alone, the unit would stop before what it announces."""
    nxt = [(a, b) for a, b in spans if a >= unit.end]
    if not nxt or "\n" in text[unit.end:nxt[0][0]] or not leans_back(text[nxt[0][0]:nxt[0][1]]):
        return unit
    end = nxt[0][1]
    return Unit(unit.doc, unit.start, end, text[unit.start:end], unit.paragraph, unit.dense, unit.lexical, unit.score)


def _paragraph(text: str, a: int, b: int) -> str:
    pa = text.rfind("\n", 0, a) + 1
    pb = text.find("\n", b)
    return text[pa: pb if pb >= 0 else len(text)]


def document_idf(token_sets: Sequence[set[str]]) -> dict[str, float]:
    n = len(token_sets)
    df: dict[str, int] = {}
    for toks in token_sets:
        for t in toks:
            df[t] = df.get(t, 0) + 1
    return {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
