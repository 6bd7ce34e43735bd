"""`rag bench answer --replay`: the pipeline's model calls for a question made again on the bare generator, from the
same cache state, so the pipeline's overhead over the model it drives can be measured."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence


def settle(gen, messages) -> None:
    """Run the generator on `messages` for one token, untimed. A generator that keeps the KV cache of its last
    prompt (llama.cpp) then shares with the next prompt only the prefix the two have in common."""
    stream = gen.stream(messages, 1)
    try:
        for _ in stream:
            pass
    finally:
        close = getattr(stream, "close", None)
        if close:
            close()


def settle_prompt(calls: Sequence[dict]) -> list[dict] | None:
    """A prompt that shares only the fixed prefix with every question's: the one the pipeline warmed the
    generator with (it holds no evidence), else a recorded prompt with its last message emptied."""
    if not calls:
        return None
    messages = [dict(m) for m in calls[0]["messages"]]
    if calls[0]["max_new_tokens"] is not None and calls[0]["probe"] is None:
        return messages
    messages[-1]["content"] = ""
    return messages


def direct_generation(gen, recs: Sequence[dict]) -> dict:
    """The pipeline's model calls for one question, replayed on the bare generator: the refusal probe where the
    pipeline made one, then the stream of the same messages with the same max_new_tokens, read for as many
    pieces as the pipeline read (to the end where it did). `settle` it first, so that it starts from the
    cache state the pipeline's calls started from. first_s is None when no piece was read."""
    probe = getattr(gen, "first_token_probs", None)
    t0 = time.perf_counter()
    first = None
    pieces = 0
    text = ""
    probs = []
    for rec in recs:
        if rec["probe"] is not None and probe is not None:
            probs.append(probe(rec["messages"], rec["probe"]))
        if rec["many"] is not None:
            replies = gen.read_many(rec["many"], rec["max_new_tokens"], until=rec["until"])
            first = time.perf_counter() - t0 if first is None else first
            text += "".join(replies)
            pieces += len(replies)
            continue
        if rec["max_new_tokens"] is None:
            continue
        stream = gen.stream(rec["messages"], rec["max_new_tokens"])
        it = iter(stream)
        n = 0
        try:
            while rec["exhausted"] or n < rec["pieces"]:
                try:
                    piece = next(it)
                except StopIteration:
                    break
                n += 1
                text += piece
                if first is None:
                    first = time.perf_counter() - t0
        finally:
            close = getattr(it, "close", None)
            if close:
                close()
        pieces += n
    return {"first_s": first, "total_s": time.perf_counter() - t0, "pieces": pieces, "text": text,
            "probs": probs}


def same_work(recs: Sequence[dict], direct: dict) -> bool:
    """Whether the direct replay wrote what the pipeline's calls wrote, and its probe gave the same answer."""
    piped = [r["probs"] for r in recs if r["probe"] is not None]
    if direct["text"] != "".join(r["text"] for r in recs) or len(piped) != len(direct["probs"]):
        return False
    for a, b in zip(piped, direct["probs"]):
        if (a is None) != (b is None) or (a and (a.keys() != b.keys()
                                                 or any(abs(a[k] - b[k]) > 1e-3 for k in a))):
            return False
    return True


def count_tokens(gen, text: str, pieces: int) -> int:
    tok = getattr(gen, "_tok", None)
    if tok is not None and text:
        with contextlib.suppress(Exception):
            return len(tok.encode(text, add_special_tokens=False))
    return pieces
