"""A generator that runs a GGUF model in-process with llama.cpp (llama-cpp-python).

llama.cpp computes on the quantized weights directly, so a GGUF model runs at its file's size and speed, where
transformers first dequantizes it to float32. One `Llama` object and one lock serve every question; the context
keeps the tokens it last evaluated, so the prompt prefix every question shares (system message, worked examples,
start of the user message) is decoded once and reused.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag import cpu
from rag.errors import ModelLoadError, RagError
from rag.generate.base import Messages, word_probs
from rag.generate.llama_batch import (MAX_SEQUENCES, Batch, ReaderStats, SideBySide, accepted_prefix, common_prefix,
                                      drop_sequence, lookup_draft)
from rag.generate.llama_state import KeptStates

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger(__name__)
REFIT_TOKENS = 8  # while writing, the thread count is fitted to the free cores again every this many decode steps


class LlamaCppGenerator(KeptStates, SideBySide):
    """The `Generator` protocol over a GGUF file, greedy, with the model's own chat template."""

    def __init__(self, path: str, n_threads: int = 0, n_ctx: int = 4096, name: str | None = None,
                 repack: bool = False, check_dir: Path | None = None, lookup: int = 0,
                 sequences: int = 1) -> None:
        self.path = str(path)
        self.lookup = lookup  # draft tokens proposed by prompt lookup per step (0: none; see llama_batch)
        self.sequences = max(1, min(sequences, MAX_SEQUENCES))  # replies `read_many` writes side by side
        self.stats = ReaderStats()
        self._batch: Batch | None = None
        self.repack = repack
        self.check_dir = check_dir  # where the verdict of trying repacking in a child process is kept
        self.fixed_threads = n_threads  # 0: fit the threads to the cores free at each call (rag.cpu)
        self.n_threads = n_threads or physical_cores()
        self._threads_now = self.n_threads
        self.thread_use: dict[int, int] = {}  # thread count -> times chosen (each call, every REFIT_TOKENS)
        self.n_ctx = n_ctx
        self.name = name or os.path.basename(self.path)
        self._llm: Llama | None = None
        self._format = None  # the GGUF chat template as a llama_cpp Jinja2ChatFormatter
        self._eog: frozenset[int] = frozenset()
        self._memo: tuple[tuple[int, ...], np.ndarray] | None = None  # a prompt and the logits after it
        # primed prompt prefixes (one per kind of prompt: choosing, reading, judging) and the llama.cpp state after
        # each, so switching between prompts restores a few MB instead of reading hundreds of tokens again
        self._states: dict[tuple[int, ...], bytes] = {}
        self._primed: set[Path] = set()
        self._lock = threading.Lock()  # one decode at a time: the context holds one sequence
        self._load_lock = threading.Lock()

    # ---------- protocol ----------
    def warm_up(self) -> None:
        for _ in self.stream([{"role": "user", "content": "Say OK."}], max_new_tokens=2):
            pass

    def stream(self, messages: Messages, max_new_tokens: int = 64) -> Iterator[str]:
        """Yield the greedy reply as it decodes. Closing the iterator stops decoding and frees the model.

        With `lookup`, each step also checks a draft copied from the prompt (see `llama_batch.lookup_draft`): the
        reply is the same greedy one, written in fewer steps where it copies."""
        self._load()
        with self._lock:
            tokens = self._prompt(messages)
            logits = self._prefill(tokens)
            utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a character may span tokens
            budget = min(max_new_tokens, self.n_ctx - len(tokens))
            history = list(tokens)
            while len(history) - len(tokens) < budget:
                token = int(np.argmax(logits))
                if token in self._eog:
                    break
                left = budget - (len(history) - len(tokens)) - 1
                if text := self._take(token, history, utf8):
                    yield text
                if left <= 0:
                    break
                logits, kept = self._step(token, lookup_draft(history, min(self.lookup, left - 1)))
                for t in kept:
                    if text := self._take(t, history, utf8):
                        yield text
            tail = utf8.decode(b"", final=True)
            if tail:
                yield tail

    def _take(self, token: int, history: list[int], utf8) -> str:
        """A written token: into the history drafts are looked up in, counted, and its text (maybe "")."""
        history.append(token)
        self.stats.written_tokens += 1
        return utf8.decode(self._piece(token))

    def first_token_probs(self, messages: Messages, words: Sequence[str]) -> dict[str, float]:
        """The probability that the reply starts with each word (see `rag.generate.word_probs`). The prompt's
        logits are kept, so a `stream` of the same messages right after starts decoding without a prefill."""
        self._load()
        with self._lock:
            tokens = self._prompt(messages)
            first = self._prefill(tokens)
            return word_probs(words, self._encode, first, lambda form: self._follow(tokens, form))

    # ---------- model ----------
    def _load(self) -> Llama:
        if self._llm is not None:
            return self._llm
        with self._load_lock:
            if self._llm is not None:
                return self._llm
            if not os.path.isfile(self.path):
                raise ModelLoadError(f"The GGUF model file {self.path} does not exist. Set RAG_LLM to a .gguf file "
                                     "or a model name that `rag models` lists.")
            try:
                import llama_cpp
                from llama_cpp.llama_chat_format import Jinja2ChatFormatter
            except ImportError as e:
                raise ModelLoadError(f"llama.cpp is not installed ({e}): pip install llama-cpp-python, or set "
                                     "RAG_LLM_BACKEND=transformers.") from e
            if self.repack:
                self._check_repack()
            t0 = time.perf_counter()
            try:
                with _model_params(repack=self.repack, sequences=self.sequences):
                    llm = llama_cpp.Llama(model_path=self.path, n_ctx=self.n_ctx, n_threads=self.n_threads,
                                          n_threads_batch=self.n_threads, verbose=False)
            except Exception as e:  # noqa: BLE001 - llama-cpp-python raises ValueError/RuntimeError/OSError
                raise ModelLoadError(f"llama.cpp could not load the language model {self.path} ({e}). Set RAG_LLM "
                                     "to a valid .gguf file, or RAG_LLM_BACKEND=transformers.") from e
            template = llm.metadata.get("tokenizer.chat_template")
            if not template:
                raise ModelLoadError(f"{self.path} has no chat template in its metadata, so it is probably not an "
                                     "instruction-tuned model: set RAG_LLM to an instruct model's GGUF file.")
            bos, eos = llm.token_bos(), llm.token_eos()
            text = llm._model.token_get_text  # the template may write the BOS/EOS token strings itself
            self._format = Jinja2ChatFormatter(template, eos_token=text(eos) if eos >= 0 else "",
                                               bos_token=text(bos) if bos >= 0 else "", add_generation_prompt=True)
            vocab = llama_cpp.llama_model_get_vocab(llm.model)
            self._eog = frozenset(t for t in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, t))
            log.info("llama.cpp loaded %s in %.1f s (%d threads, context %d)", self.name, time.perf_counter() - t0,
                     self.n_threads, self.n_ctx)
            self._llm = llm
            return llm

    def _check_repack(self) -> None:
        """Repacked weights take kernels that can kill the process on some CPUs (see `llama_check`): they are tried
        in a child process first, and a failure turns repacking off with one line instead of a crash."""
        from rag.generate.llama_check import checked

        result = checked(self.path, True, self.check_dir, threads=self.n_threads)
        if not result.ok:
            log.warning("%s Running without repacking (RAG_LLM_REPACK=0).", result.cause())
            self.repack = False

    def _prompt(self, messages: Messages) -> list[int]:
        """The chat template's text, tokenized with its special tokens and no extra BOS (as transformers does)."""
        text = self._format(messages=[dict(m) for m in messages]).prompt
        tokens = self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        if len(tokens) >= self.n_ctx:
            raise RagError(f"The prompt has {len(tokens)} tokens, more than the model's context of {self.n_ctx}: "
                           "raise RAG_LLM_CTX, or ask a shorter question.")
        return tokens

    def _encode(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def _piece(self, token: int) -> bytes:
        import ctypes

        import llama_cpp

        vocab = self._llm._model.vocab
        buf = ctypes.create_string_buffer(64)
        n = llama_cpp.llama_token_to_piece(vocab, token, buf, len(buf), 0, False)
        if n < 0:  # a longer piece: -n is the size it needs
            buf = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(vocab, token, buf, len(buf), 0, False)
        return buf.raw[:n]

    # ---------- the context (call with self._lock held) ----------
    def _prefill(self, tokens: list[int]) -> np.ndarray:
        """The logits after `tokens`, decoding only what the context does not already hold."""
        key = tuple(tokens)
        if self._memo is not None and self._memo[0] == key and self._holds(tokens):
            self._truncate(len(tokens))
            return self._memo[1]
        self._memo = (key, self._advance(tokens).copy())
        return self._memo[1]

    def _follow(self, prompt: list[int], form: Sequence[int]) -> list[np.ndarray]:
        """The logits after each token of `form`, continuing `prompt`; the context is then cut back to it."""
        out = []
        for i in range(1, len(form) + 1):
            out.append(self._advance(prompt + list(form[:i])).copy())
        self._truncate(len(prompt))
        return out

    def _advance(self, tokens: list[int]) -> np.ndarray:
        """Make the context hold exactly `tokens` and return the logits after the last one.

        `Llama.eval` appends at `n_tokens` and records what it decoded in `input_ids`; the longest common prefix
        with those is kept. When all of `tokens` is cached the last one is decoded again, for its logits."""
        llm = self._llm
        same = self._shared(tokens)
        if self._states:
            self._reuse_state(tokens, same)
            same = self._shared(tokens)
        keep = self._truncate(min(same, len(tokens) - 1))
        self._fit_threads()
        t0 = time.perf_counter()
        llm.eval(tokens[keep:])
        self.stats.prompt_tokens += len(tokens) - keep
        self.stats.prompt_s += time.perf_counter() - t0
        return self._logits()

    def _decode(self, entries) -> list[np.ndarray]:
        if self._batch is None:
            self._batch = Batch(n_seq=self.sequences)
        return self._batch.decode(self._llm.ctx, self._llm.n_vocab(), entries)

    def _write_step(self, entries) -> list[np.ndarray]:
        """One writing step (the next token of each reply, with its draft): timed, counted, and every REFIT_TOKENS
        steps the threads fitted to the free cores again."""
        t0 = time.perf_counter()
        if self.stats.steps % REFIT_TOKENS == REFIT_TOKENS - 1:
            self._fit_threads()
        out = self._decode(entries)
        self.stats.steps += 1
        self.stats.write_s += time.perf_counter() - t0
        return out

    def _step(self, token: int, draft: list[int]) -> tuple[np.ndarray, list[int]]:
        """Write `token` into the context with a draft after it, in one decode: the logits after the last token
        the model agrees with, and the draft tokens it agrees with (kept in the context; the rest dropped)."""
        llm = self._llm
        n = llm.n_tokens
        out = self._write_step([(t, n + j, 0, True) for j, t in enumerate([token, *draft])])
        took = accepted_prefix(draft, out, self._eog)
        kept = draft[:took]
        llm.input_ids[n:n + took + 1] = [token, *kept]
        llm.n_tokens = n + took + 1
        if took < len(draft):
            drop_sequence(llm.ctx, 0, llm.n_tokens)
        self.stats.drafted += len(draft)
        self.stats.accepted += took
        return out[took], kept

    def _fit_threads(self) -> None:
        """Use one thread per core that is free now (unless RAG_LLM_THREADS fixes the count): llama.cpp's threads
        spin while they wait for each other, so a thread without a core of its own slows every token."""
        if not self.fixed_threads:
            import llama_cpp

            n = cpu.plan_threads(self.n_threads, cpu.monitor().others(), cpu.ANSWERS.background)
            if n != self._threads_now:
                llama_cpp.llama_set_n_threads(self._llm.ctx, n, n)
                log.debug("llama.cpp: %d -> %d threads", self._threads_now, n)
                self._threads_now = n
        self.thread_use[self._threads_now] = self.thread_use.get(self._threads_now, 0) + 1

    def _shared(self, tokens: list[int]) -> int:
        """How many leading tokens of `tokens` the context holds now."""
        llm = self._llm
        return common_prefix(llm.input_ids[: llm.n_tokens], tokens)

    def _holds(self, tokens: list[int]) -> bool:
        llm = self._llm
        return llm.n_tokens >= len(tokens) and bool(np.array_equal(llm.input_ids[: len(tokens)], tokens))

    def _truncate(self, n: int) -> int:
        """Drop the cached tokens from position n on; returns how many are kept (0 when the memory can't be cut)."""
        llm = self._llm
        if n >= llm.n_tokens:
            return llm.n_tokens
        if n == 0 or not llm._ctx.kv_cache_seq_rm(-1, n, -1):  # recurrent models can only start over
            llm.reset()
            return 0
        llm.n_tokens = n
        return n

    def _logits(self) -> np.ndarray:
        """The logits of the last decoded position (a view into llama.cpp's buffer, valid until the next decode):
        `Llama.eval` does not store them unless the model was opened with logits_all=True."""
        import llama_cpp

        llm = self._llm
        ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),))


_PARAMS_LOCK = threading.Lock()


@contextlib.contextmanager
def _model_params(repack: bool, sequences: int = 1) -> Iterator[None]:
    """`Llama()` takes no argument for llama.cpp's `use_extra_bufts` (weight repacking) nor for the number of
    sequences its context holds, so the default parameters it starts from are adjusted while it is constructed.
    Several sequences share one unified cache: a copied prefix is shared, not duplicated."""
    import llama_cpp.llama_cpp as lib

    with _PARAMS_LOCK:
        default, default_ctx = lib.llama_model_default_params, lib.llama_context_default_params

        def params():
            p = default()
            p.use_extra_bufts = repack
            return p

        def ctx_params():
            p = default_ctx()
            if sequences > 1:
                p.n_seq_max, p.kv_unified = sequences, True
            return p

        lib.llama_model_default_params, lib.llama_context_default_params = params, ctx_params
        try:
            yield
        finally:
            lib.llama_model_default_params, lib.llama_context_default_params = default, default_ctx


def physical_cores() -> int:
    """CPU cores this process may use, not counting SMT siblings: llama.cpp slows down on hyper-threads."""
    try:
        logical = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        logical = os.cpu_count() or 1
    try:
        with open("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list") as f:
            siblings = _count_cpus(f.read().strip())
    except (OSError, ValueError):
        siblings = 1
    return max(1, logical // max(1, siblings))


def _count_cpus(spec: str) -> int:
    """How many CPUs a Linux list like "0-1,8" names."""
    n = 0
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        n += int(hi or lo) - int(lo) + 1
    return n
