"""Generators: a local Hugging Face transformers backend (streaming), the choice of backend, and a scripted fake
for tests. The llama.cpp backend lives in rag.llama_backend, imported only when chosen."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import numpy as np

from rag.errors import ConfigError, ModelLoadError

log = logging.getLogger(__name__)

Messages = Sequence[dict]
REPETITION_PENALTY = 1.1  # [{"role": "system"|"user"|"assistant", "content": str}]
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


class TransformersGenerator:
    """Any causal LM that transformers can load: a hub id, a local folder, or a GGUF file in a folder."""

    def __init__(self, model: str, gguf_file: str = "", device: str = "auto", dtype: str = "auto",
                 trust_remote_code: bool = False, name: str | None = None, cache_dir: str = "") -> None:
        self.cache_dir = cache_dir or os.path.join(os.path.expanduser("~"), ".cache", "rag-news")
        self.model_id = model
        self.gguf_file = gguf_file
        self.device_req = device
        self.dtype_req = dtype
        self.trust_remote_code = trust_remote_code
        self.name = name or (f"{model}/{gguf_file}" if gguf_file else model)
        self._model = None
        self._decoder = None  # bf16 copy used for decoding on CPU
        self._cache_kw = "cache"  # the decoder's KV-cache argument, read from its signature at load
        self._tok = None
        self._lock = threading.Lock()  # one generation at a time: CPU threads are the bottleneck anyway
        self._load_lock = threading.Lock()
        self.device = "cpu"

    def _split_precision(self, device: str) -> bool:
        return device == "cpu" and self.dtype_req == "auto"

    def _dtype(self, torch, device: str):
        if self.dtype_req != "auto":
            return getattr(torch, self.dtype_req)
        if self._split_precision(device):
            return torch.float32  # the prefill copy; see _load
        # decoding is memory-bound: bf16 halves the bytes read per token. Measured with SmolLM2-135M on a
        # 2-core CPU: 36 ms/token in bf16 against 71 ms in float32
        return torch.bfloat16

    def _load(self):
        with self._load_lock:
            if self._model is not None:
                return self._model, self._tok
            t0 = time.perf_counter()
            try:
                import torch
                from transformers import AutoModelForCausalLM, AutoTokenizer

                from rag.embed import pick_device

                if os.path.isdir(self.model_id):
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                device = pick_device(self.device_req)
                kw = {"trust_remote_code": self.trust_remote_code}
                source = self.model_id
                if self.gguf_file:
                    source = self._converted_gguf()
                    if not source:
                        source = self.model_id
                        kw["gguf_file"] = self.gguf_file
                tok = AutoTokenizer.from_pretrained(source, **kw)
                model = AutoModelForCausalLM.from_pretrained(source, dtype=self._dtype(torch, device), **kw)
                model.to(device).eval()
                if tok.pad_token_id is None:
                    tok.pad_token = tok.eos_token
            except Exception as e:  # noqa: BLE001 - every load failure is shown the same way
                raise ModelLoadError(
                    f"Failed to load the language model {self.name!r}: {e}. "
                    "Set RAG_LLM to a Hugging Face causal LM id or a local folder."
                ) from e
            self.device = device
            self._model, self._tok = model, tok
            self._cache_kw = _cache_keyword(model)  # the bf16 decoder below is the same class
            if self._split_precision(device):
                # prefill in float32 (bf16 matmuls on a CPU without bf16 units are 6x slower for long prompts),
                # decode in bf16 (memory-bound: half the bytes per token, ~2x faster)
                self._decoder = self._bf16_copy(model, source, kw)
            log.info("language model %s loaded on %s (%s) in %.1f s", self.name, device, model.dtype,
                     time.perf_counter() - t0)
            return model, tok

    @staticmethod
    def _bf16_copy(model, source: str, kw: dict):
        """Plain weights load again in bf16 (~0.4 s); `deepcopy` + cast took ~2 s of a cold start. A GGUF file
        is dequantized on every load, so that one is copied."""
        import torch

        if "gguf_file" in kw:
            import copy

            return copy.deepcopy(model).to(torch.bfloat16).eval()
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(source, dtype=torch.bfloat16, **kw).to(model.device).eval()

    def _converted_gguf(self) -> str:
        """A plain safetensors copy of the GGUF model, made once and reused.

        Converting GGUF (dequantizing every tensor) takes ~25 s per start; loading the converted copy
        takes ~2 s. The cache key is the GGUF file's SHA-256, so a changed file is converted again.
        """
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils.quantization_config import GgufConfig

        gguf_path = os.path.join(self.model_id, self.gguf_file)
        key = _file_sha256(gguf_path)[:24]
        target = os.path.join(self.cache_dir, "llm", f"{os.path.splitext(self.gguf_file)[0]}-{key}")
        if os.path.isfile(os.path.join(target, ".complete")):
            return target
        log.warning("Converting %s once (about 30 s); later starts load the converted copy.", self.gguf_file)
        import torch

        kw = {"gguf_file": self.gguf_file, "trust_remote_code": self.trust_remote_code}
        tok = AutoTokenizer.from_pretrained(self.model_id, **kw)
        model = AutoModelForCausalLM.from_pretrained(self.model_id, dtype=torch.float32,
                                                     quantization_config=GgufConfig(dequantize=True), **kw)
        tmp = f"{target}.tmp-{os.getpid()}"
        try:
            model.save_pretrained(tmp)
            tok.save_pretrained(tmp)
            with open(os.path.join(tmp, ".complete"), "w") as f:
                f.write(gguf_path)
            if os.path.isdir(target):  # a half-written copy from a crash
                import shutil

                shutil.rmtree(target)
            os.rename(tmp, target)
        except OSError as e:
            import shutil

            log.warning("Could not cache the converted model in %s (%s); loading the GGUF file each time.",
                        target, e)
            shutil.rmtree(tmp, ignore_errors=True)
            return ""
        return target

    def warm_up(self) -> None:
        for _ in self.stream([{"role": "user", "content": "Say OK."}], max_new_tokens=2):
            pass

    def stream(self, messages: Messages, max_new_tokens: int = 64) -> Iterator[str]:
        _, tok = self._load()
        inputs = tok.apply_chat_template(list(messages), add_generation_prompt=True, return_tensors="pt",
                                         return_dict=True)
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        if self._decoder is not None:
            return self._stream_split(inputs["input_ids"], max_new_tokens)
        return self._stream_generate(inputs, max_new_tokens)

    def first_token_probs(self, messages: Messages, words: Sequence[str]) -> dict[str, float]:
        """One forward pass over the prompt; a word of several tokens adds one short pass over a copy of the
        cache. The KV cache is not kept, so a `stream` after this pays for the prompt again."""
        import copy

        import torch

        model, tok = self._load()
        ids = tok.apply_chat_template(list(messages), add_generation_prompt=True, return_tensors="pt",
                                      return_dict=True)["input_ids"].to(self.device)

        def follow(form: Sequence[int]) -> list[np.ndarray]:
            out = model(input_ids=torch.tensor([list(form)], device=self.device), use_cache=True,
                        logits_to_keep=len(form), **{self._cache_kw: copy.deepcopy(cache)})
            return [row.float().cpu().numpy() for row in out.logits[0]]

        with self._lock, torch.inference_mode():
            out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
            cache = getattr(out, "cache", None)
            if cache is None:  # transformers < 5.2x: the cache is `past_key_values`
                cache = out.past_key_values
            first = out.logits[0, -1].float().cpu().numpy()
            return word_probs(words, lambda w: tok.encode(w, add_special_tokens=False), first, follow)

    def _stream_split(self, input_ids, max_new_tokens: int) -> Iterator[str]:
        """Greedy decoding with repetition penalty, prefill and decode in different precisions."""
        import torch

        tok = self._tok
        eos = _eos_ids(self._model, tok)
        seen = set(input_ids[0].tolist())
        generated: list[int] = []
        text = ""
        with self._lock, torch.inference_mode():
            out = self._model(input_ids=input_ids, use_cache=True, logits_to_keep=1)
            cache = getattr(out, "cache", None)
            if cache is None:  # transformers < 5.2x: the cache is `past_key_values`
                cache = out.past_key_values
            for layer in getattr(cache, "layers", []):
                layer.keys = layer.keys.to(torch.bfloat16)
                layer.values = layer.values.to(torch.bfloat16)
            logits = out.logits[0, -1].float()
            for _ in range(max_new_tokens):
                idx = torch.tensor(sorted(seen))
                vals = logits[idx]
                logits[idx] = torch.where(vals > 0, vals / REPETITION_PENALTY, vals * REPETITION_PENALTY)
                nxt = int(logits.argmax())
                if nxt in eos:
                    break
                generated.append(nxt)
                seen.add(nxt)
                new_text = tok.decode(generated, skip_special_tokens=True)
                if len(new_text) > len(text) and not new_text.endswith("\ufffd"):
                    yield new_text[len(text):]
                    text = new_text
                out = self._decoder(input_ids=torch.tensor([[nxt]]), use_cache=True, **{self._cache_kw: cache})
                logits = out.logits[0, -1].float()

    def _stream_generate(self, inputs, max_new_tokens: int) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        model, tok = self._model, self._tok
        from transformers import StoppingCriteria, StoppingCriteriaList

        streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True, timeout=120)
        errors: list[BaseException] = []
        stop = threading.Event()

        class _StopWhenAsked(StoppingCriteria):
            """Lets the consumer end generation early by closing this iterator."""

            def __call__(self, input_ids, scores, **kwargs):
                return stop.is_set()

        def run() -> None:
            try:
                with torch.inference_mode():
                    model.generate(**inputs, streamer=streamer, max_new_tokens=max_new_tokens, do_sample=False,
                                   repetition_penalty=REPETITION_PENALTY, pad_token_id=tok.pad_token_id,
                                   stopping_criteria=StoppingCriteriaList([_StopWhenAsked()]))
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                errors.append(e)
                streamer.end()

        with self._lock:
            thread = threading.Thread(target=run, daemon=True)
            thread.start()
            finished = False
            try:
                for piece in streamer:
                    if piece:
                        yield piece
                finished = True
            finally:
                if not finished:  # the consumer stopped early: end generation, drain what is queued
                    stop.set()
                    for _ in streamer:
                        pass
                thread.join()
        if errors:
            raise errors[0]


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
        from rag.openai_backend import OpenAIChatGenerator  # httpx is only needed for a server

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
        from rag.llama_backend import LlamaCppGenerator

        return LlamaCppGenerator(os.path.join(model, gguf), n_threads=settings.llm_threads, n_ctx=settings.llm_ctx,
                                 repack=settings.llm_repack)
    if gguf and backend == "auto":
        log.info("llama-cpp-python is not installed: running %s on transformers (slower)", gguf)
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


def _cache_keyword(model) -> str:
    """`cache` in current transformers, `past_key_values` before it was renamed (removed in 5.40)."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _eos_ids(model, tok) -> set[int]:
    ids = model.generation_config.eos_token_id
    out = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tok.eos_token_id is not None:
        out.add(tok.eos_token_id)
    return out


def _file_sha256(path: str) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
