"""The synthetic corpora of `rag bench ingest` and `rag bench search`, built from the sentences of real articles so
that loading, chunking, embedding and BM25 see realistic text (what is synthetic is said in each result's notes)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def sentence_pool(source: Path) -> list[list[str]]:
    """The sentences of the articles under `source`, one list per article, whitespace normalised."""
    from rag.errors import RagError
    from rag.ingest.loaders import load_paths
    from rag.ingest.segment import split_sentences

    docs, _ = load_paths([Path(source)])
    articles = []
    for d in docs:
        sents = [" ".join(d.text[s.start : s.end].split()) for s in split_sentences(d.text)]
        sents = [s for s in sents if len(s.split()) >= 4]
        if sents:
            articles.append(sents)
    if not articles:
        raise RagError(f"No articles to take sentences from in {source}: the benchmarks need a few articles.")
    return articles


_CONSONANTS = "bcdfghjklmnprstvz"
_VOWELS = "aeiou"


def pseudo_word(n: int) -> str:
    """A pronounceable made-up word, one per integer (distinct integers give distinct words)."""
    syll = []
    n += 1
    while n:
        n, r = divmod(n, len(_CONSONANTS) * len(_VOWELS))
        syll.append(_CONSONANTS[r // len(_VOWELS)] + _VOWELS[r % len(_VOWELS)])
    return ("".join(syll) + "n").capitalize()


_CITIES = ["MOSCOW", "DAMASCUS", "WASHINGTON", "TEHRAN", "BEIRUT", "BAGHDAD", "ANKARA", "PARIS", "BERLIN",
           "LONDON", "GENEVA", "ALEPPO", "LATAKIA", "BRUSSELS", "VIENNA", "CAIRO"]


_OUTLETS = ["Wire Service", "Daily Ledger", "Evening Post", "World Desk", "Morning Herald", "News Agency"]


def synthetic_document(articles: list[list[str]], i: int, seed: int = 0) -> tuple[str, str]:
    """(file name, markdown with front matter) of synthetic news document i: 4-7 paragraphs of 1-3
    consecutive sentences from the bundled articles, a unique dateline, a title and a date."""
    import datetime as dt

    rng = np.random.default_rng([seed, i])
    weights = np.array([len(a) for a in articles], dtype=float)
    weights /= weights.sum()
    paragraphs = []
    for _ in range(int(rng.integers(4, 8))):
        art = articles[int(rng.choice(len(articles), p=weights))]
        n = int(rng.integers(1, 4))
        start = int(rng.integers(0, max(1, len(art) - n + 1)))
        paragraphs.append(" ".join(art[start : start + n]))
    date = dt.date(2015, 1, 1) + dt.timedelta(days=int(rng.integers(0, 2000)))
    outlet = _OUTLETS[int(rng.integers(len(_OUTLETS)))]
    city = _CITIES[int(rng.integers(len(_CITIES)))]
    paragraphs[0] = f"{city}, {date:%b} {date.day} (report {i}) — {paragraphs[0]}"
    title_words = paragraphs[1].split()[:9]
    title = " ".join(title_words).rstrip(",.;:").replace('"', "'")
    front = f'---\ntitle: "{title}"\noutlet: {outlet}\npublished: "{date.isoformat()}"\n---\n'
    return f"doc-{i:06d}.md", front + "\n\n".join(paragraphs) + "\n"


def write_synthetic_corpus(folder: Path, n_docs: int, source: Path, seed: int = 0) -> int:
    """Write n_docs synthetic documents into folder (in subfolders of 1000); returns the bytes written."""
    articles = sentence_pool(source)
    total = 0
    for i in range(n_docs):
        name, body = synthetic_document(articles, i, seed)
        sub = folder / f"part-{i // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        data = body.encode("utf-8")
        (sub / name).write_bytes(data)
        total += len(data)
    return total


class SyntheticCorpus:
    """Chunk vectors near real sentence embeddings, and texts made of the same sentences."""

    def __init__(self, sentences: list[str], vectors: np.ndarray, noise: float = 0.3, seed: int = 0) -> None:
        self.sentences = sentences
        self.E = np.ascontiguousarray(vectors, dtype=np.float32)
        self.noise = noise
        self.seed = seed

    def block(self, start: int, n: int) -> tuple[np.ndarray, list[str]]:
        """Chunks start..start+n (deterministic per block start)."""
        rng = np.random.default_rng([self.seed, start])
        P, d = self.E.shape
        k = rng.integers(3, 6, size=n)
        idx = rng.integers(0, P, size=(n, 5))
        W = np.zeros((n, P), dtype=np.float32)
        rows = np.arange(n)
        for j in range(5):
            m = j < k
            np.add.at(W, (rows[m], idx[m, j]), 1.0)
        W /= k[:, None].astype(np.float32)
        V = W @ self.E
        V += rng.standard_normal((n, d), dtype=np.float32) * np.float32(self.noise / math.sqrt(d))
        V /= np.linalg.norm(V, axis=1, keepdims=True)
        # datelines: a Zipf-distributed place name and a uniformly drawn reporter name from large pseudo-vocabularies
        places = np.minimum(rng.zipf(1.2, size=n), 200_000) - 1
        people = rng.integers(0, 50_000 + start // 4, size=n)
        texts = [f"{pseudo_word(int(places[i]))}. Reported by {pseudo_word(int(people[i]) + 300_000)}. "
                 + " ".join(self.sentences[j] for j in idx[i, : k[i]]) for i in range(n)]
        return V.astype(np.float32), texts
