"""The in-process Hugging Face transformers reader: streams greedy decoding from a Hub model, a local folder or a
GGUF file (converted once to bf16 and cached), and reads its first-token distribution for the refusal check."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence

import numpy as np

from rag.errors import ModelLoadError
from rag.generate.base import Messages, word_probs

log = logging.getLogger(__name__)

REPETITION_PENALTY = 1.1


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

                from rag.index.embed import pick_device

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

        from rag.models import sha256_file

        gguf_path = os.path.join(self.model_id, self.gguf_file)
        key = sha256_file(gguf_path)[:24]
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
