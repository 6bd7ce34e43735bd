"""Embedders: the sentence-transformers backend and a deterministic fake for fast tests."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from rag.errors import ModelLoadError

log = logging.getLogger(__name__)


class Embedder(Protocol):
    name: str  # recorded in the index manifest

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """(len(texts), dim) float32 rows, L2-normalised, so inner product is cosine."""


def pick_device(requested: str = "auto") -> str:
    if requested != "auto":
        return requested
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


class SentenceTransformerEmbedder:
    """Loads the model on first use and keeps it; safe to share between threads."""

    def __init__(self, model: str, name: str | None = None, device: str = "auto", batch_size: int = 64,
                 trust_remote_code: bool = False) -> None:
        self.model_path = model
        self.name = name or model
        self.device = device
        self.batch_size = batch_size
        self.trust_remote_code = trust_remote_code
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                if os.path.isdir(self.model_path):
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                try:
                    from sentence_transformers import SentenceTransformer

                    device = pick_device(self.device)
                    self._model = SentenceTransformer(
                        self.model_path, device=device, trust_remote_code=self.trust_remote_code
                    )
                    log.info("embedding model %s loaded on %s", self.name, device)
                except Exception as e:  # noqa: BLE001 - any load failure is reported the same way
                    raise ModelLoadError(
                        f"Failed to load the embedding model {self.name!r}: {e}. "
                        "Set RAG_EMBED_MODEL to a sentence-transformers model name or local folder."
                    ) from e
        return self._model

    @property
    def dim(self) -> int:
        m = self._load()
        getter = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(getter())

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        m = self._load()
        out = []
        step = max(self.batch_size * 4, 1)
        for i in range(0, len(texts), step):
            batch = list(texts[i : i + step])
            out.append(
                m.encode(batch, batch_size=self.batch_size, normalize_embeddings=True,
                         convert_to_numpy=True, show_progress_bar=False).astype(np.float32)
            )
            if progress:
                progress(len(batch))
        if not out:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack(out)


_TOKEN = re.compile(r"\w+")


class HashEmbedder:
    """Deterministic bag-of-words vectors: each content word (stemmed, no stopwords) gets a SHA-256-seeded
    random direction. Texts that share words get similar vectors: enough to test retrieval without a model.
    """

    def __init__(self, dim: int = 64, name: str = "hash-embedder") -> None:
        self._dim = dim
        self.name = name
        self.calls = 0
        self.texts_embedded = 0

    @property
    def dim(self) -> int:
        return self._dim

    def _token_vec(self, token: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(token.encode()).digest()[:8], "little")
        return np.random.default_rng(seed).standard_normal(self._dim).astype(np.float32)

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        self.calls += 1
        self.texts_embedded += len(texts)
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        from rag.keyword import tokenize

        for i, t in enumerate(texts):
            for tok in tokenize(t) or _TOKEN.findall(t.lower()):
                out[i] += self._token_vec(tok)
            n = np.linalg.norm(out[i])
            out[i] = out[i] / n if n > 0 else self._token_vec("\x00empty")
            out[i] /= np.linalg.norm(out[i])
        if progress:
            progress(len(texts))
        return out


def make_embedder(settings) -> Embedder:
    return SentenceTransformerEmbedder(
        settings.resolved_embed_model(),
        name=settings.embed_model_label(),
        device=settings.device,
        batch_size=settings.embed_batch_size,
        trust_remote_code=settings.trust_remote_code,
    )
