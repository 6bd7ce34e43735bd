"""Several token positions in one llama.cpp decode: the pieces behind reading faster on a CPU.

Writing a token on a CPU is bound by memory bandwidth (every weight is read once per step), so a step that decodes
four positions costs little more than one: measured on a 2-core machine with the 1.5B reader, one position 70 ms,
four 116 ms. Two uses follow. Prompt lookup: a narrow answer mostly copies words from its prompt, so the tokens that
followed the last few written ones in the prompt are proposed as a draft and checked in the same step as the next
token (greedy: a draft token is kept only where the model would have written it). Parallel sequences: the parts of
an explanation are read as separate sequences over one shared prompt prefix and written in one batch per step.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from rag.generate.base import Messages

MAX_SEQUENCES = 8  # sequences a context is opened for: one answer's parts (at most four) with room to spare
BATCH_TOKENS = 512  # positions per llama_decode call (llama.cpp's default n_batch)


@dataclass
class ReaderStats:
    """What the reader did, counted since it was made (a benchmark takes the difference around each call)."""

    prompt_tokens: int = 0  # prompt tokens read (those the cache did not already hold)
    prompt_s: float = 0.0
    written_tokens: int = 0  # tokens written (kept drafts included)
    write_s: float = 0.0
    steps: int = 0  # decode steps while writing: with drafts or parallel sequences, fewer than tokens written
    drafted: int = 0  # tokens proposed by prompt lookup
    accepted: int = 0  # of which the model agreed with

    def snapshot(self) -> dict:
        return asdict(self)


Entry = tuple[int, int, int, bool]  # token, position, sequence, whether its logits are wanted


class Batch:
    """A llama_batch reused across calls; `decode` fills it and returns copies of the logits asked for."""

    def __init__(self, capacity: int = BATCH_TOKENS, n_seq: int = MAX_SEQUENCES) -> None:
        import llama_cpp

        self.capacity = capacity
        self._lib = llama_cpp
        self._batch = llama_cpp.llama_batch_init(capacity, 0, n_seq)

    def decode(self, ctx, n_vocab: int, entries: Sequence[Entry]) -> list[np.ndarray]:
        """Decode `entries` (in chunks of the batch's capacity); the logits of each entry that wants them, in order."""
        lib, b = self._lib, self._batch
        out: list[np.ndarray] = []
        for start in range(0, len(entries), self.capacity):
            chunk = entries[start:start + self.capacity]
            b.n_tokens = len(chunk)
            wanted = []
            for j, (token, pos, seq, logits) in enumerate(chunk):
                b.token[j], b.pos[j], b.n_seq_id[j], b.logits[j] = token, pos, 1, logits
                b.seq_id[j][0] = seq
                if logits:
                    wanted.append(j)
            rc = lib.llama_decode(ctx, b)
            if rc != 0:
                raise RuntimeError(f"llama_decode returned {rc} (the context is full or the batch invalid)")
            for j in wanted:
                ptr = lib.llama_get_logits_ith(ctx, j)
                out.append(np.ctypeslib.as_array(ptr, shape=(n_vocab,)).copy())
        return out

    def close(self) -> None:
        if self._batch is not None:
            self._lib.llama_batch_free(self._batch)
            self._batch = None

    def __del__(self) -> None:
        self.close()


def lookup_draft(history: Sequence[int], n: int, ngram: int = 3, least: int = 2) -> list[int]:
    """Up to `n` tokens that followed, at their latest earlier occurrence, the last `ngram` tokens of `history` (the
    prompt and what was written so far); shorter n-grams down to `least` are tried when the longer is not found.
    Empty when none was: a guess from one token is wrong too often to pay for its place in the step."""
    if n <= 0 or len(history) <= least:
        return []
    seq = np.asarray(history, dtype=np.int64)
    for size in range(min(ngram, len(seq) - 1), least - 1, -1):
        tail = seq[-size:]
        windows = np.lib.stride_tricks.sliding_window_view(seq[:-1], size)
        hits = np.flatnonzero((windows == tail).all(axis=1))
        if len(hits):
            start = int(hits[-1]) + size
            return [int(t) for t in seq[start:start + n]]
    return []


def accepted_prefix(draft: Sequence[int], logits: Sequence[np.ndarray], stop: frozenset[int]) -> int:
    """How many draft tokens the model agrees with: `logits[j]` is what it would write where `draft[j]` stands. An
    end-of-generation token is never taken from a draft, so the writer sees it and stops as it would have."""
    n = 0
    for token, row in zip(draft, logits):
        if token in stop or int(np.argmax(row)) != token:
            break
        n += 1
    return n


def memory(ctx):
    import llama_cpp

    return llama_cpp.llama_get_memory(ctx)


def copy_sequence(ctx, src: int, dst: int, upto: int) -> None:
    """Let sequence `dst` share the cached positions [0, upto) of `src` (in a unified cache the cells are shared,
    not copied)."""
    import llama_cpp

    llama_cpp.llama_memory_seq_cp(memory(ctx), src, dst, 0, upto)


def drop_sequence(ctx, seq: int, start: int = 0) -> None:
    import llama_cpp

    llama_cpp.llama_memory_seq_rm(memory(ctx), seq, start, -1)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens two token sequences share."""
    n = min(len(a), len(b))
    differ = np.flatnonzero(np.asarray(a[:n], dtype=np.int64) != np.asarray(b[:n], dtype=np.int64))
    return int(differ[0]) if len(differ) else n


class SideBySide:
    """`read_many` for `LlamaCppGenerator` (its `_llm`, `_lock`, `_prompt`, `_prefill`, `_decode`, `_write_step`,
    `_take`, `_eog`, `stats`, `lookup`, `sequences`, `n_ctx`)."""

    def read_many(self, prompts: Sequence[Messages], max_new_tokens: int = 64,
                  until: Callable[[str], bool] | None = None) -> list[str]:
        """Each prompt's greedy reply, written side by side: the prompts share the cached prefix they have in common,
        and each step writes one token of every unfinished reply (a step of several costs little more than one).
        `until(text)` ends a reply early (when one sentence is all that is asked)."""
        replies: list[str] = []
        for at in range(0, len(prompts), self.sequences):
            group = prompts[at:at + self.sequences]
            together = self._read_group(group, max_new_tokens, until) if len(group) > 1 else None
            replies += together if together is not None else [_read_alone(self, m, max_new_tokens, until)
                                                              for m in group]
        return replies

    def _read_group(self, prompts: Sequence[Messages], max_new_tokens: int,
                    until: Callable[[str], bool] | None) -> list[str] | None:
        """`read_many` for at most `sequences` prompts: the first is read as `stream` reads (its prefix cached or
        restored), the others share its cached prefix as sequences 1.. and read only their own tails. None when
        they would not fit in the context together."""
        self._load()
        with self._lock:
            toks = [self._prompt(m) for m in prompts]
            shared = min(min(common_prefix(toks[0], t) for t in toks[1:]), min(len(t) for t in toks) - 1)
            cells = len(toks[0]) + sum(len(t) - shared for t in toks[1:]) + len(toks) * (max_new_tokens + self.lookup)
            if cells > self.n_ctx:  # the sequences share the context's cells
                return None
            first = self._prefill(toks[0])
            ctx, seqs = self._llm.ctx, range(len(toks))
            try:
                t0 = time.perf_counter()
                for i in seqs[1:]:
                    drop_sequence(ctx, i)
                    copy_sequence(ctx, 0, i, shared)
                tails = self._decode([(t, shared + j, i, j == len(toks[i]) - shared - 1)
                                      for i in seqs[1:] for j, t in enumerate(toks[i][shared:])])
                self.stats.prompt_tokens += sum(len(t) - shared for t in toks[1:])
                self.stats.prompt_s += time.perf_counter() - t0
                return self._write_side_by_side([first.copy(), *tails], toks, max_new_tokens, until)
            finally:
                for i in seqs[1:]:
                    drop_sequence(ctx, i)
                drop_sequence(ctx, 0, len(toks[0]))  # what sequence 0 wrote (its prompt stays cached)
                self._llm.n_tokens = len(toks[0])

    def _write_side_by_side(self, logits: list[np.ndarray], prompts: list[list[int]], max_new_tokens: int,
                            until: Callable[[str], bool] | None) -> list[str]:
        """Greedy replies for sequences 0..n-1: each decode step writes the next token of every unfinished one, with
        its prompt-lookup draft (`lookup`) checked in the same step."""
        histories = [list(t) for t in prompts]
        texts = [""] * len(logits)
        utf8 = [codecs.getincrementaldecoder("utf-8")(errors="replace") for _ in logits]
        active = list(range(len(logits)))
        while active:
            entries, drafts = [], {}
            for i in active:
                token = int(np.argmax(logits[i]))
                if token in self._eog:
                    continue
                texts[i] += self._take(token, histories[i], utf8[i])
                left = max_new_tokens - (len(histories[i]) - len(prompts[i]))
                if left <= 0 or (until and until(texts[i])):
                    continue
                drafts[i] = lookup_draft(histories[i], min(self.lookup, left - 1))
                at = len(histories[i]) - 1
                entries += [(t, at + j, i, True) for j, t in enumerate([token, *drafts[i]])]
            if not entries:
                break
            rows = iter(self._write_step(entries))
            for i, draft in drafts.items():
                out = [next(rows) for _ in range(len(draft) + 1)]
                took = accepted_prefix(draft, out, self._eog)
                logits[i] = out[took]
                if took < len(draft):
                    drop_sequence(self._llm.ctx, i, len(histories[i]) + took)  # the cells of the draft not taken
                self.stats.drafted += len(draft)
                self.stats.accepted += took
                for t in draft[:took]:
                    texts[i] += self._take(t, histories[i], utf8[i])
                    if until and until(texts[i]):
                        logits[i] = None  # finished inside the draft
                        break
            active = [i for i in drafts if logits[i] is not None]
        return [t + u.decode(b"", final=True) for t, u in zip(texts, utf8)]


def _read_alone(gen, messages: Messages, max_new_tokens: int, until: Callable[[str], bool] | None) -> str:
    """One reply through `stream`, ended where `until` says."""
    text = ""
    pieces = gen.stream(messages, max_new_tokens)
    try:
        for piece in pieces:
            text += piece
            if until and until(text):
                break
    finally:
        pieces.close()
    return text
