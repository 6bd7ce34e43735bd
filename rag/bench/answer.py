"""`rag bench answer`: the pipeline's answer latency against the generator called directly on the same prompts (the
overhead ratio), with first-token and total times per question."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.bench.common import DEFAULT_QUESTIONS, Result, fmt, machine, md_table, progress_bar, spread


class _TimedGenerator:
    """Wraps a generator and records each model call the pipeline makes: the refusal probe and the stream of
    the same messages right after it form one call. A call records its messages, the probe's words and
    answer, how many pieces the pipeline read (and whether it read to the end), and the time spent inside the
    generator (the probe, the stream call, every `next`, and closing it).

    `first_token_probs` exists on the wrapper only when the wrapped generator has it, so the pipeline's
    `getattr(gen, "first_token_probs", None)` finds what it would find without the wrapper."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", "generator")
        self.calls: list[dict] = []
        if callable(getattr(inner, "first_token_probs", None)):
            self.first_token_probs = self._first_token_probs

    def warm_up(self) -> None:
        self.inner.warm_up()

    def _record(self, messages) -> dict:
        rec = {"messages": [dict(m) for m in messages], "probe": None, "probs": None, "probe_s": 0.0,
               "max_new_tokens": None, "pieces": 0, "exhausted": False, "text": "", "gen_s": 0.0}
        self.calls.append(rec)
        return rec

    def _first_token_probs(self, messages, words):
        rec = self._record(messages)
        rec["probe"] = list(words)
        t = time.perf_counter()
        try:
            rec["probs"] = self.inner.first_token_probs(messages, words)
        finally:
            rec["probe_s"] = time.perf_counter() - t
            rec["gen_s"] += rec["probe_s"]
        return rec["probs"]

    def stream(self, messages, max_new_tokens: int = 64):
        last = self.calls[-1] if self.calls else None
        if (last is not None and last["probe"] is not None and last["max_new_tokens"] is None
                and last["messages"] == [dict(m) for m in messages]):
            rec = last  # the stream that follows the probe of the same messages
        else:
            rec = self._record(messages)
        rec["max_new_tokens"] = max_new_tokens
        t = time.perf_counter()
        inner = self.inner.stream(messages, max_new_tokens)
        rec["gen_s"] += time.perf_counter() - t
        return self._iterate(inner, rec)

    @staticmethod
    def _iterate(inner, rec) -> Iterator[str]:
        it = iter(inner)
        try:
            while True:
                t = time.perf_counter()
                try:
                    piece = next(it)
                except StopIteration:
                    rec["gen_s"] += time.perf_counter() - t
                    rec["exhausted"] = True
                    return
                rec["gen_s"] += time.perf_counter() - t
                rec["pieces"] += 1
                rec["text"] += piece
                yield piece
        finally:
            close = getattr(it, "close", None)
            if close:
                t = time.perf_counter()
                close()
                rec["gen_s"] += time.perf_counter() - t


def time_answer(pipeline, question: str) -> tuple[float, float, object]:
    """(seconds to the first streamed text, seconds to the end, the final Answer) for one question; the first text
    is the first verified sentence, or the whole answer when nothing is streamed (a refusal)."""
    t0 = time.perf_counter()
    first = answer = None
    for ev in pipeline.answer_stream(question):
        if ev.kind == "token" and first is None:
            first = time.perf_counter() - t0
        elif ev.kind == "answer":
            answer = ev.data
    total = time.perf_counter() - t0
    return (total if first is None else first), total, answer


def _settle(gen, messages) -> None:
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


def _settle_prompt(calls: Sequence[dict]) -> list[dict] | None:
    """A prompt that shares only the fixed prefix with every question's: the one the pipeline warmed the
    generator with (it holds no evidence), else a recorded prompt with its last message emptied."""
    if not calls:
        return None
    messages = [dict(m) for m in calls[0]["messages"]]
    if calls[0]["max_new_tokens"] is not None and calls[0]["probe"] is None:
        return messages
    messages[-1]["content"] = ""
    return messages


def _direct_generation(gen, recs: Sequence[dict]) -> dict:
    """The pipeline's model calls for one question, replayed on the bare generator: the refusal probe where the
    pipeline made one, then the stream of the same messages with the same max_new_tokens, read for as many
    pieces as the pipeline read (to the end where it did). `_settle` it first, so that it starts from the
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


def _same_work(recs: Sequence[dict], direct: dict) -> bool:
    """Whether the direct replay wrote what the pipeline's calls wrote, and its probe gave the same answer."""
    piped = [r["probs"] for r in recs if r["probe"] is not None]
    if direct["text"] != "".join(r["text"] for r in recs) or len(piped) != len(direct["probs"]):
        return False
    for a, b in zip(piped, direct["probs"]):
        if (a is None) != (b is None) or (a and (a.keys() != b.keys()
                                                 or any(abs(a[k] - b[k]) > 1e-3 for k in a))):
            return False
    return True


def _count_tokens(gen, text: str, pieces: int) -> int:
    tok = getattr(gen, "_tok", None)
    if tok is not None and text:
        with contextlib.suppress(Exception):
            return len(tok.encode(text, add_special_tokens=False))
    return pieces


@dataclass
class AnswerBench(Result):
    questions: int
    answered: int
    refused: int
    repeat: int
    warm_up_s: float
    first_sentence_ms: dict  # all questions: the first text the user sees (a verified sentence, or the refusal)
    total_ms: dict
    answered_first_sentence_ms: dict
    answered_total_ms: dict
    model_first_token_ms: dict  # answered questions: the model's first piece inside the pipeline (context)
    direct_first_token_ms: dict  # the generator alone doing the pipeline's model work, from the same cache state
    direct_total_ms: dict
    retrieve_ms: dict
    generated_tokens: int
    tokens_per_s: float  # generated tokens / direct generation time
    decode_tokens_per_s: float  # after the first token
    overhead: float  # (pipeline time - direct generator time) / direct generator time, questions the model read
    generator: str
    machine: str
    model_calls: int = 0  # questions (all rounds) for which the model was called
    probed: bool = False  # whether the generator answered the refusal probe (first_token_probs)
    # the pipeline's time outside the generator / its time inside it, within the same calls (no baseline run)
    outside_generator: float = float("nan")
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # the names these figures had when the first streamed text was the model's first token (same values)
    first_token_ms: dict = field(default_factory=dict)
    answered_first_token_ms: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.first_token_ms = self.first_token_ms or self.first_sentence_ms
        self.answered_first_token_ms = self.answered_first_token_ms or self.answered_first_sentence_ms

    def targets(self) -> list[tuple[str, str, bool]]:
        return [
            ("first verified sentence p50 <= 2.5 s", f"{self.first_sentence_ms['p50'] / 1000:.2f} s",
             self.first_sentence_ms["p50"] <= 2500),
            ("full answer p50 <= 4 s", f"{self.total_ms['p50'] / 1000:.2f} s", self.total_ms["p50"] <= 4000),
            ("pipeline overhead <= 10% of the generator's time", f"{self.overhead:.1%}", self.overhead <= 0.10),
        ]

    def table(self) -> str:
        pair = lambda d: [fmt(d["p50"]), fmt(d["p95"])]  # noqa: E731
        rows = [
            ["first verified sentence, all questions", *pair(self.first_sentence_ms)],
            ["full answer, all questions", *pair(self.total_ms)],
            ["first verified sentence, answered", *pair(self.answered_first_sentence_ms)],
            ["full answer, answered", *pair(self.answered_total_ms)],
            ["model's first token in the pipeline, answered", *pair(self.model_first_token_ms)],
            ["generator alone: first token", *pair(self.direct_first_token_ms)],
            ["generator alone: full answer", *pair(self.direct_total_ms)],
            ["retrieval", *pair(self.retrieve_ms)],
        ]
        out = [f"rag bench answer: {self.questions} questions x {self.repeat} "
               f"({self.answered} answered, {self.refused} refused; the model read {self.model_calls} of "
               f"{self.questions * self.repeat}); {self.machine}",
               f"generator: {self.generator}; refusal probe: {'yes' if self.probed else 'no'}; "
               f"warm-up {self.warm_up_s:.1f} s (not counted)", "",
               md_table(["ms", "p50", "p95"], rows), "",
               f"generator: {self.tokens_per_s:.1f} tokens/s overall, {self.decode_tokens_per_s:.1f} tokens/s "
               f"after the first ({self.generated_tokens} tokens)",
               f"pipeline overhead vs the generator alone doing the same model calls: {self.overhead:+.1%}",
               f"pipeline time outside the generator, within the same calls: {self.outside_generator:.1%} of the "
               "generator's time", ""]
        out.append(self.targets_table())
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)


def bench_answer(settings=None, questions: Sequence[str] | None = None, *, file: Path | None = None,
                 repeat: int = 1, embedder=None, generator=None, progress: bool = False) -> AnswerBench:
    """Answer each question through the pipeline, then make the same model calls on the generator directly
    (probe, then the stream read as far as the pipeline read it), interleaved so that load changes on a shared
    machine hit both alike. Both start from the same cache state (see `_settle`)."""
    from rag.evaluate import load_eval
    from rag.generate.base import make_generator
    from rag.pipeline import Pipeline
    from rag.settings import Settings

    settings = settings or Settings.from_env()
    if questions is None:
        questions = [it.question for it in load_eval(file or DEFAULT_QUESTIONS)]
    inner = generator if generator is not None else make_generator(settings)
    timed = _TimedGenerator(inner)
    pipeline = Pipeline(settings, embedder=embedder, generator=timed)
    t = time.perf_counter()
    pipeline.warm_up()
    warm_up_s = time.perf_counter() - t
    # one untimed question so that lazily built per-index state (IDF, caches) is not charged to the first
    pipeline.answer(questions[0])
    settle = _settle_prompt(timed.calls)
    timed.calls.clear()

    rows = []
    with progress_bar(len(questions) * repeat, "bench answer", progress) as bar:
        for r in range(repeat):
            for q in questions:
                if settle:  # else the first timed question would find its prompt cached by the untimed one
                    _settle(inner, settle)
                n_calls = len(timed.calls)
                first, total, answer = time_answer(pipeline, q)
                first_ms = 1000 * first
                row = {"question": q, "round": r, "refused": bool(answer.refused), "first_sentence_ms": first_ms,
                       "first_token_ms": first_ms, "total_ms": 1000 * total,
                       "model_first_ms": answer.timings.get("generate_first_ms", float("nan")),
                       "retrieve_ms": answer.timings.get("retrieve_ms", float("nan")), "generated": False}
                recs = timed.calls[n_calls:]
                if recs:
                    if settle:  # else the pipeline's call just left this very prompt in the cache
                        _settle(inner, settle)
                    direct = _direct_generation(inner, recs)
                    row.update(generated=True, probed=any(c["probe"] is not None for c in recs),
                               streamed=any(c["max_new_tokens"] is not None for c in recs),
                               pipeline_gen_ms=1000 * sum(c["gen_s"] for c in recs),
                               probe_ms=1000 * sum(c["probe_s"] for c in recs),
                               pieces=sum(c["pieces"] for c in recs),
                               direct_first_ms=float("nan") if direct["first_s"] is None else 1000 * direct["first_s"],
                               direct_total_ms=1000 * direct["total_s"],
                               tokens=_count_tokens(inner, direct["text"], direct["pieces"]),
                               same_text=_same_work(recs, direct))
                rows.append(row)
                bar.update(1)

    model_rows = [r for r in rows if r["generated"]]
    answered = [r for r in rows if not r["refused"]]
    first_rows = [r for r in model_rows if not math.isnan(r["direct_first_ms"])]
    direct_total = sum(r["direct_total_ms"] for r in model_rows)
    pipe_total = sum(r["total_ms"] for r in model_rows)
    tokens = sum(r["tokens"] for r in model_rows)
    decode_s = sum(r["direct_total_ms"] - r["direct_first_ms"] for r in first_rows) / 1000
    decode_tokens = sum(max(r["tokens"] - 1, 0) for r in first_rows)
    probed = any(r["probed"] for r in model_rows)
    inside = sum(r["pipeline_gen_ms"] for r in model_rows)
    notes = [
        "first verified sentence: the first text the user sees, a sentence the code verified against the evidence "
        "(for a refused question, the refusal)",
        "generator alone: the pipeline's model calls for each question made again directly: "
        + ("the refusal probe (first_token_probs), then " if probed else "")
        + "the stream of the same messages, read for as many pieces as the pipeline read",
    ]
    if settle:
        notes.append("before each timed question and each direct call the generator ran untimed on a prompt without "
                     "evidence, so both start from a KV cache sharing only the fixed prompt prefix")
    if not probed and model_rows:
        notes.append("the generator has no refusal probe (first_token_probs): the pipeline and the baseline skip it")
    if any(not r.get("same_text", True) for r in model_rows):
        notes.append("the direct calls wrote (or probed) differently from the pipeline's for some prompts")
    return AnswerBench(
        questions=len(questions), answered=sum(not r["refused"] for r in rows) // max(repeat, 1),
        refused=sum(r["refused"] for r in rows) // max(repeat, 1), repeat=repeat, warm_up_s=warm_up_s,
        first_sentence_ms=spread([r["first_sentence_ms"] for r in rows]), total_ms=spread([r["total_ms"] for r in rows]),
        answered_first_sentence_ms=spread([r["first_sentence_ms"] for r in answered]),
        answered_total_ms=spread([r["total_ms"] for r in answered]),
        model_first_token_ms=spread([r["model_first_ms"] for r in answered if not math.isnan(r["model_first_ms"])]),
        direct_first_token_ms=spread([r["direct_first_ms"] for r in first_rows]),
        direct_total_ms=spread([r["direct_total_ms"] for r in model_rows]),
        retrieve_ms=spread([r["retrieve_ms"] for r in rows]),
        generated_tokens=tokens, tokens_per_s=tokens / (direct_total / 1000) if direct_total else float("nan"),
        decode_tokens_per_s=decode_tokens / decode_s if decode_s > 0 else float("nan"),
        overhead=(pipe_total - direct_total) / direct_total if direct_total else float("nan"),
        generator=timed.name, machine=machine(), model_calls=len(model_rows), probed=probed,
        outside_generator=(pipe_total - inside) / inside if inside else float("nan"), rows=rows, notes=notes,
    )
