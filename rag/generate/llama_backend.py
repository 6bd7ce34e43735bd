"""A generator that runs a GGUF model in-process with llama.cpp (llama-cpp-python).

llama.cpp computes on the quantized weights directly, so a GGUF model runs at its file's size and speed, where
transformers first dequantizes it to float32. One `Llama` object and one lock serve every question; the context
keeps the tokens it last evaluated, so the prompt prefix every question shares (system message, worked examples,
start of the user message) is decoded once and reused.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import hashlib
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

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger(__name__)
REFIT_TOKENS = 8  # while writing, the thread count is fitted to the free cores again every this many tokens
MIN_RESTORE_GAIN = 32  # restore a kept prefix state only when it saves reading at least this many tokens


class LlamaCppGenerator:
    """The `Generator` protocol over a GGUF file, greedy, with the model's own chat template."""

    def __init__(self, path: str, n_threads: int = 0, n_ctx: int = 4096, name: str | None = None,
                 repack: bool = False, check_dir: Path | None = None) -> None:
        self.path = str(path)
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
        """Yield the greedy reply as it decodes. Closing the iterator stops decoding and frees the model."""
        llm = self._load()
        with self._lock:
            tokens = self._prompt(messages)
            logits = self._prefill(tokens)
            utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a character may span tokens
            budget = min(max_new_tokens, self.n_ctx - len(tokens))
            for i in range(budget):
                token = int(np.argmax(logits))
                if token in self._eog:
                    break
                text = utf8.decode(self._piece(token))
                if text:
                    yield text
                if i + 1 < budget:
                    if i % REFIT_TOKENS == REFIT_TOKENS - 1:
                        self._fit_threads()
                    llm.eval([token])
                    logits = self._logits()
            tail = utf8.decode(b"", final=True)
            if tail:
                yield tail

    def prime(self, messages: Messages, cache_dir: Path | None = None) -> bool:
        """Decode `messages` now (a prompt prefix many questions share), so a question pays only for its own part;
        the state after it is kept in memory, so other prompts in between do not cost it again. With
        `cache_dir`, the state (the prefix's KV cache, a few MB) is also kept there and restored on the next start
        instead of decoded: the file is keyed by the model file, the context size, llama.cpp's version and the
        exact tokens. Returns True when it was restored."""
        self._load()
        with self._lock:
            tokens = self._prompt(messages)
            path = Path(cache_dir) / f"llama-prefix-{self._state_key(tokens)}.bin" if cache_dir else None
            if path is not None:
                self._primed.add(path)
            restored = self._restore(path, tokens) if path is not None else None
            if restored is not None:
                log.info("llama.cpp: restored the %d-token prompt prefix from %s", len(tokens), path)
                self._states[tuple(tokens)] = restored
                return True
            self._prefill(tokens)
            data = self._state_bytes()
            self._states[tuple(tokens)] = data
            if path is not None:
                self._save(path, data)
            return False

    def forget_unprimed(self, cache_dir: Path) -> None:
        """Delete kept prompt states that no `prime` of this run asked for (older prompts, older models)."""
        for old in Path(cache_dir).glob("llama-prefix-*.bin"):
            if old not in self._primed:
                old.unlink(missing_ok=True)

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
                with _model_params(repack=self.repack):
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

    # ---------- a saved state (call with self._lock held) ----------
    def _state_key(self, tokens: list[int]) -> str:
        import llama_cpp

        st = os.stat(self.path)
        h = hashlib.sha256(f"{os.path.abspath(self.path)}|{st.st_size}|{st.st_mtime_ns}|{self.n_ctx}|"
                           f"{llama_cpp.__version__}|{self.repack}|".encode())
        h.update(np.asarray(tokens, dtype=np.int32).tobytes())
        return h.hexdigest()[:24]

    def _state_bytes(self) -> bytes:
        import llama_cpp

        ctx = self._llm._ctx.ctx
        size = llama_cpp.llama_state_get_size(ctx)
        buf = (ctypes.c_uint8 * size)()
        n = llama_cpp.llama_state_get_data(ctx, buf, size)
        return ctypes.string_at(buf, n)  # the n bytes written

    def _save(self, path: Path, data: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as e:
            log.info("could not keep the primed prompt in %s (%s): it is decoded at each start", path, e)

    def _restore(self, path: Path, tokens: list[int]) -> bytes | None:
        """The saved state, now in the context; None when there is none or it does not fit."""
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if not self._set_state(data, tokens):
            log.warning("the saved prompt state %s does not fit this model: decoding the prompt instead", path)
            path.unlink(missing_ok=True)
            return None
        return data

    def _set_state(self, data: bytes, tokens: Sequence[int]) -> bool:
        import llama_cpp

        llm = self._llm
        buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if llama_cpp.llama_state_set_data(llm._ctx.ctx, buf, len(data)) != len(data):
            llm.reset()
            return False
        llm.input_ids[: len(tokens)] = tokens
        llm.n_tokens = len(tokens)
        self._memo = None
        return True

    def _reuse_state(self, tokens: list[int], held: int) -> None:
        """Restore the kept prefix state that shares the most tokens with `tokens`, when it shares more than the
        context holds now (by enough to beat reading them: a restore copies a few MB)."""
        best, shared = None, held + MIN_RESTORE_GAIN
        for key in self._states:
            if min(len(key), len(tokens)) <= shared:
                continue
            same = _common_prefix(key, tokens)
            if same > shared:
                best, shared = key, same
        if best is not None:
            self._set_state(self._states[best], best)

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
        llm.eval(tokens[keep:])
        return self._logits()

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
        return _common_prefix(llm.input_ids[: llm.n_tokens], tokens)

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


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens two token sequences share."""
    n = min(len(a), len(b))
    differ = np.flatnonzero(np.asarray(a[:n], dtype=np.int64) != np.asarray(b[:n], dtype=np.int64))
    return int(differ[0]) if len(differ) else n


_PARAMS_LOCK = threading.Lock()


@contextlib.contextmanager
def _model_params(repack: bool) -> Iterator[None]:
    """`Llama()` takes no argument for llama.cpp's `use_extra_bufts` (weight repacking), so the default model
    parameters it starts from are adjusted while it is constructed."""
    import llama_cpp.llama_cpp as lib

    with _PARAMS_LOCK:
        default = lib.llama_model_default_params

        def params():
            p = default()
            p.use_extra_bufts = repack
            return p

        lib.llama_model_default_params = params
        try:
            yield
        finally:
            lib.llama_model_default_params = default


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
