"""Embedders: the sentence-transformers backend and a deterministic fake for fast tests."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from rag.cpu import ANSWERS
from rag.errors import ConfigError, ModelLoadError

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
    """Loads the model on first use and keeps it; safe to share between threads.

    With `workers` > 1, large `embed` calls (ingests) are spread over that many processes with
    sentence-transformers' multi-process pool (`start_multi_process_pool` / `encode(pool=...)`), each
    process using its share of the CPU threads (or one GPU each when several are present). The pool
    starts on the first large call and lives until `close()`. Small calls (queries) stay in-process.
    """

    POOL_MIN_TEXTS = 256  # below this, starting or feeding the pool costs more than it saves
    LIGHT_MAX_TEXTS = 256  # calls up to this size (questions, evidence sentences) may use the NumPy encoder

    def __init__(self, model: str, name: str | None = None, device: str = "auto", batch_size: int = 64,
                 trust_remote_code: bool = False, workers: int = 1, runtime: str = "auto") -> None:
        self.model_path = model
        self.name = name or model
        self.device = device
        self.batch_size = batch_size
        self.trust_remote_code = trust_remote_code
        self.workers = max(1, int(workers))
        if runtime not in ("auto", "sentence-transformers"):
            raise ConfigError(f"RAG_EMBED_RUNTIME={runtime!r}: use 'auto' or 'sentence-transformers'.")
        self.runtime = runtime
        self._model = None
        self._light = None  # rag.bert_numpy.NumpyBertEncoder, or False when the model can't run there
        self._pool = None
        self._lock = threading.Lock()

    def light(self):
        """The NumPy encoder for small calls, loaded on first use; None when the model or settings rule it out
        (not a local folder, not a plain BERT encoder, a GPU asked for, or RAG_EMBED_RUNTIME=sentence-transformers)."""
        if self._light is None:
            with self._lock:
                if self._light is None:
                    self._light = self._load_light() or False
        return self._light or None

    def _load_light(self):
        if self.runtime != "auto" or self.device not in ("auto", "cpu") or not os.path.isdir(self.model_path):
            return None
        if self.device == "auto" and _cuda_visible():
            return None
        from rag.index import bert_numpy

        try:
            encoder = bert_numpy.load(self.model_path)
        except Exception as e:  # noqa: BLE001 - any problem here just means "use sentence-transformers"
            log.warning("the NumPy encoder could not load %s (%s): using sentence-transformers", self.name, e)
            return None
        if encoder is not None:
            log.info("embedding model %s: questions run on NumPy", self.name)
        return encoder

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
    def model(self):
        """The loaded SentenceTransformer (loads it on first use)."""
        return self._load()

    @property
    def dim(self) -> int:
        light = self.light() if self._model is None else None
        if light is not None:
            return light.dim
        m = self._load()
        getter = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(getter())

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        n = len(texts)
        light = self.light() if 0 < n <= self.LIGHT_MAX_TEXTS else None
        if light is not None:
            out = light.encode(texts)
            if progress:
                progress(n)
            return out
        m = self._load()
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        # longest first, across the whole call: batches hold texts of similar length (little padding), as in
        # one big `encode` call, while progress is still reported step by step
        order = sorted(range(n), key=lambda i: -len(texts[i])) if n > 1 else [0]
        pool = self._pool_for(n)
        # one batch per step (per process): an answer asked meanwhile waits for one batch at most (64 chunks: ~3 s on
        # 2 cores)
        step = max(self.batch_size, 1) * (len(pool["processes"]) if pool else 1)
        out = np.empty((n, self.dim), dtype=np.float32)
        for a in range(0, n, step):
            rows = order[a : a + step]
            batch = [texts[i] for i in rows]
            kw = {"pool": pool, "chunk_size": self.batch_size} if pool else {}
            # answers first: a call this large is an ingest, which waits here while an answer is read or written
            with ANSWERS.batch() if n > self.LIGHT_MAX_TEXTS else contextlib.nullcontext():
                out[rows] = m.encode(batch, batch_size=self.batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False, **kw).astype(np.float32)
            if progress:
                progress(len(batch))
        return out

    def _pool_for(self, n: int):
        if self.workers <= 1 or n < self.POOL_MIN_TEXTS:
            return None
        with self._lock:
            if self._pool is None:
                self._pool = self._start_pool()
        return self._pool

    def _start_pool(self):
        import torch

        device = pick_device(self.device)
        if device.startswith("cuda") and torch.cuda.device_count() > 0:
            targets = [f"cuda:{i % torch.cuda.device_count()}" for i in range(self.workers)]
        else:
            targets = ["cpu"] * self.workers
        # each spawned process reads its thread count from the environment when it imports torch
        threads = str(max(1, (os.cpu_count() or 1) // self.workers))
        saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        os.environ.update({k: threads for k in saved})
        try:
            pool = self._model.start_multi_process_pool(target_devices=targets)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        log.info("embedding pool: %d processes on %s, %s threads each", self.workers, targets[0], threads)
        return pool

    def close(self) -> None:
        """Stop the worker processes, if any (the model stays loaded in this process)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            self._model.stop_multi_process_pool(pool)
            # starting a pool moves the model to the CPU; put it back where queries expect it
            self._model.to(pick_device(self.device))


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
        from rag.text import tokenize

        for i, t in enumerate(texts):
            for tok in tokenize(t) or _TOKEN.findall(t.lower()):
                out[i] += self._token_vec(tok)
            n = np.linalg.norm(out[i])
            out[i] = out[i] / n if n > 0 else self._token_vec("\x00empty")
            out[i] /= np.linalg.norm(out[i])
        if progress:
            progress(len(texts))
        return out


def _cuda_visible() -> bool:
    """Whether a CUDA GPU may be there, without importing PyTorch (which is what the NumPy path avoids)."""
    return os.path.exists("/proc/driver/nvidia/version") and os.environ.get("CUDA_VISIBLE_DEVICES", "x") != ""


def make_embedder(settings, workers: int = 1) -> Embedder:
    return SentenceTransformerEmbedder(
        settings.resolved_embed_model(),
        name=settings.embed_model_label(),
        device=settings.device,
        batch_size=settings.embed_batch_size,
        trust_remote_code=settings.trust_remote_code,
        workers=workers,
        runtime=settings.embed_runtime,
    )
