"""Kept prompt states for the llama.cpp reader: the KV cache after each kind of prompt's fixed prefix (choosing,
reading, judging), in memory and on disk, so switching between prompts restores a few MB instead of reading hundreds
of tokens again, and a restart restores instead of decoding. A mixin of `LlamaCppGenerator`."""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.generate.base import Messages
from rag.generate.llama_batch import common_prefix

log = logging.getLogger("rag.generate.llama_backend")
MIN_RESTORE_GAIN = 32  # restore a kept prefix state only when it saves reading at least this many tokens


class KeptStates:
    """`prime`, `forget_unprimed` and the state plumbing behind them (the generator's `_llm`, `_lock`, `_states`,
    `_primed`, `_memo`, `_prompt` and `_prefill`)."""

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

    # ---------- a saved state (call with self._lock held) ----------
    def _state_key(self, tokens: list[int]) -> str:
        import llama_cpp

        st = os.stat(self.path)
        h = hashlib.sha256(f"{os.path.abspath(self.path)}|{st.st_size}|{st.st_mtime_ns}|{self.n_ctx}|"
                           f"{llama_cpp.__version__}|{self.repack}|{self.sequences}|".encode())
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
            same = common_prefix(key, tokens)
            if same > shared:
                best, shared = key, same
        if best is not None:
            self._set_state(self._states[best], best)
