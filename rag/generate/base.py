"""The reader's interface (`Generator`), the choice of backend, and a scripted fake for tests. Each backend lives in
its own module (llama_backend, transformers_backend, openai_backend), imported only when chosen."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import numpy as np

from rag.errors import ConfigError

log = logging.getLogger(__name__)

Messages = Sequence[dict]  # [{"role": "system"|"user"|"assistant", "content": str}]
BACKENDS = ("auto", "llama.cpp", "transformers")
PROBE_FLOOR = 1e-4  # a word whose first token is less likely than this is not followed to its later tokens


class Generator(Protocol):
    name: str

    def warm_up(self) -> None: ...

    def stream(self, messages: Messages, max_new_tokens: int = 64) -> Iterator[str]:
        """Yield the reply in pieces as the model writes it (greedy decoding). Closing the iterator early
        stops the model."""

    def first_token_probs(self, messages: Messages, words: Sequence[str]) -> dict[str, float] | None:
        """The model's probability that its reply to `messages` starts with each of `words` (see `word_probs`),
        so callers can act on what the model would say before it says it; None where the backend can't tell
        (a chat server). Optional: callers look it up with getattr."""


class ScriptedGenerator:
    """Replays queued replies (split into word pieces) and records every prompt it was given. `probs` is what
    `first_token_probs` answers (None: like a backend that can't tell)."""

    name = "scripted"

    def __init__(self, replies: Sequence[str] = (), default: str = "",
                 probs: dict[str, float] | None = None) -> None:
        self.replies = list(replies)
        self.default = default
        self.probs = probs
        self.history: list[list[dict]] = []

    def enqueue(self, *replies: str) -> None:
        self.replies.extend(replies)

    def warm_up(self) -> None:
        pass

    def stream(self, messages: Messages, max_new_tokens: int = 64) -> Iterator[str]:
        self.history.append([dict(m) for m in messages])
        reply = self.replies.pop(0) if self.replies else self.default
        words = reply.split(" ")
        for i, w in enumerate(words):
            yield w if i == 0 else " " + w

    def first_token_probs(self, messages: Messages, words: Sequence[str]) -> dict[str, float] | None:
        if self.probs is None:
            return None
        return {w: float(self.probs.get(w, 0.0)) for w in words}


def make_generator(settings) -> Generator:
    """A model server's backend when RAG_LLM_URL is set; else a GGUF file runs on llama.cpp (when installed)
    and anything else on transformers, unless RAG_LLM_BACKEND says which."""
    if settings.llm_url:
        from rag.generate.openai_backend import OpenAIChatGenerator  # httpx is only needed for a server

        return OpenAIChatGenerator(settings.llm_url, settings.llm_api_key, settings.llm_model)
    backend = _backend_choice(settings.llm_backend)
    model, gguf = settings.resolved_llm()
    if backend == "llama.cpp" or (backend == "auto" and gguf and llama_cpp_installed()):
        if not gguf:
            raise ConfigError(f"The llama.cpp backend needs a .gguf file, and the model is {model!r}: set RAG_LLM "
                              "to a .gguf file, or RAG_LLM_BACKEND=transformers.")
        if not llama_cpp_installed():
            raise ConfigError("RAG_LLM_BACKEND=llama.cpp needs llama.cpp: pip install llama-cpp-python, or set "
                              "RAG_LLM_BACKEND=transformers.")
        from rag.generate.llama_backend import LlamaCppGenerator

        return LlamaCppGenerator(os.path.join(model, gguf), n_threads=settings.llm_threads, n_ctx=settings.llm_ctx,
                                 repack=settings.llm_repack, check_dir=settings.cache_path,
                                 lookup=settings.llm_lookup, sequences=settings.llm_parallel)
    if gguf and backend == "auto":
        log.info("llama-cpp-python is not installed: running %s on transformers (slower)", gguf)
    from rag.generate.transformers_backend import TransformersGenerator

    return TransformersGenerator(model, gguf, device=settings.device, dtype=settings.llm_dtype,
                                 trust_remote_code=settings.trust_remote_code, cache_dir=str(settings.cache_path))


def _backend_choice(value: str) -> str:
    choice = (value or "auto").strip().lower()
    if choice in {"llamacpp", "llama-cpp", "llama_cpp"}:
        choice = "llama.cpp"
    if choice not in BACKENDS:
        raise ConfigError(f"RAG_LLM_BACKEND={value!r} is not a backend: choose one of {', '.join(BACKENDS)}.")
    return choice


def llama_cpp_installed() -> bool:
    """Whether llama-cpp-python is there, without importing it (that loads its shared library)."""
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def word_probs(words: Sequence[str], encode: Callable[[str], list[int]], first: np.ndarray,
               follow: Callable[[Sequence[int]], list[np.ndarray]]) -> dict[str, float]:
    """P(the reply starts with each word), from the logits at the reply's first position.

    A word is written two ways: as the tokenizer encodes it alone ("NONE", what a model emits right after the
    assistant header) and with a leading space (" NONE"); the two are summed. A word of several tokens
    (SmolLM2 writes NONE as "N" + "ONE") is followed by the chain rule: `follow(form)` gives the logits after
    each of its tokens. Other spellings ("None", "NO") are other words: pass them too and add them up.
    """
    logp = _log_softmax(first)
    out: dict[str, float] = {}
    for word in words:
        total = 0.0
        for form in _word_forms(word, encode):
            p = float(np.exp(logp[form[0]]))
            if len(form) > 1 and p >= PROBE_FLOOR:
                for logits, nxt in zip(follow(form[:-1]), form[1:]):
                    p *= float(np.exp(_log_softmax(logits)[nxt]))
            total += p
        out[word] = min(total, 1.0)
    return out


def _word_forms(word: str, encode: Callable[[str], list[int]]) -> list[tuple[int, ...]]:
    forms: list[tuple[int, ...]] = []
    for text in (word, " " + word.lstrip()):
        form = tuple(encode(text))
        if form and form not in forms:
            forms.append(form)
    return forms


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max()
    return x - np.log(np.exp(x).sum())


