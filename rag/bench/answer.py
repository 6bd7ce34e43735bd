"""`rag bench answer`: answer latency as multiples of a reference job of the reader run in the same benchmark, where
the time goes (a table per stage: retrieval, choosing, each kind of read, judging, the rest), and, with `replay`, the
pipeline against the generator called directly on the same prompts (the overhead ratio)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.bench.common import DEFAULT_QUESTIONS, Result, fmt, machine, md_table, progress_bar, spread
from rag.bench.replay import count_tokens, direct_generation, same_work, settle, settle_prompt
from rag.bench.stages import Reference, StageTable, counters, difference, ratios, reference_job, stage_of


class _TimedGenerator:
    """Wraps a generator and records each model call the pipeline makes: the refusal probe and the stream of
    the same messages right after it form one call. A call records its messages, the probe's words and
    answer, how many pieces the pipeline read (and whether it read to the end), and the time spent inside the
    generator (the probe, the stream call, every `next`, and closing it).

    `first_token_probs`, `read_many`, `prime` and `forget_unprimed` exist on the wrapper only when the wrapped
    generator has them, so the pipeline's `getattr(gen, name, None)` finds what it would find without the wrapper
    (without `prime`, no prompt prefix but the choice's would be cached, and every judge would read its examples)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", "generator")
        self.calls: list[dict] = []
        if callable(getattr(inner, "first_token_probs", None)):
            self.first_token_probs = self._first_token_probs
        if callable(getattr(inner, "read_many", None)):
            self.read_many = self._read_many
        for name in ("prime", "forget_unprimed"):  # the warm-up primes each prompt's prefix, as the app's does
            if callable(getattr(inner, name, None)):
                setattr(self, name, getattr(inner, name))

    def warm_up(self) -> None:
        self.inner.warm_up()

    def _record(self, messages) -> dict:
        rec = {"messages": [dict(m) for m in messages], "probe": None, "probs": None, "probe_s": 0.0,
               "max_new_tokens": None, "pieces": 0, "exhausted": False, "text": "", "gen_s": 0.0,
               "stage": stage_of(messages), "counters": {}, "many": None}
        self.calls.append(rec)
        return rec

    def _count(self, rec: dict, before: dict) -> None:
        for k, v in difference(counters(self.inner), before).items():
            rec["counters"][k] = rec["counters"].get(k, 0) + v

    def _read_many(self, prompts, max_new_tokens: int = 64, until=None):
        """Several replies written side by side: one call, replayed as one."""
        rec = self._record(prompts[0])
        rec.update(many=[[dict(m) for m in p] for p in prompts], max_new_tokens=max_new_tokens, until=until,
                   exhausted=True)
        before, t = counters(self.inner), time.perf_counter()
        try:
            replies = self.inner.read_many(prompts, max_new_tokens, until=until)
        finally:
            rec["gen_s"] += time.perf_counter() - t
            self._count(rec, before)
        rec["text"] = "".join(replies)
        rec["pieces"] = len(replies)
        return replies

    def _first_token_probs(self, messages, words):
        rec = self._record(messages)
        rec["probe"] = list(words)
        before, t = counters(self.inner), time.perf_counter()
        try:
            rec["probs"] = self.inner.first_token_probs(messages, words)
        finally:
            rec["probe_s"] = time.perf_counter() - t
            rec["gen_s"] += rec["probe_s"]
            self._count(rec, before)
        return rec["probs"]

    def stream(self, messages, max_new_tokens: int = 64):
        last = self.calls[-1] if self.calls else None
        if (last is not None and last["probe"] is not None and last["max_new_tokens"] is None
                and last["messages"] == [dict(m) for m in messages]):
            rec = last  # the stream that follows the probe of the same messages
        else:
            rec = self._record(messages)
        rec["max_new_tokens"] = max_new_tokens
        before, t = counters(self.inner), time.perf_counter()
        inner = self.inner.stream(messages, max_new_tokens)
        rec["gen_s"] += time.perf_counter() - t
        return self._iterate(inner, rec, before)

    def _iterate(self, inner, rec, before: dict) -> Iterator[str]:
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
            self._count(rec, before)


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


TARGETS = (0.6, 1.2, 2.4)  # first checked sentence p50, full answer p50 and p95, as multiples of the reference job


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
    retrieve_ms: dict
    generator: str
    machine: str
    model_calls: int = 0  # questions (all rounds) for which the model was called
    probed: bool = False  # whether the generator answered the refusal probe (first_token_probs)
    # the pipeline's time outside the generator / its time inside it, within the same calls (no baseline run)
    outside_generator: float = float("nan")
    reference: dict | None = None  # the reader's reference job in this run (Reference's fields and its seconds)
    by_kind: dict = field(default_factory=dict)  # all / explanations / one answer -> times and ratios
    stages: dict = field(default_factory=dict)  # StageTable rows
    written_tokens: int = 0  # by the reader, over every call (its own count)
    written_tokens_per_s: float = float("nan")  # the reader's writing speed inside the pipeline
    tokens_per_step: float = float("nan")  # > 1 where drafts or parallel replies wrote several per decode step
    draft_acceptance: float = float("nan")  # share of prompt-lookup draft tokens the model agreed with
    # with replay: the same model calls made on the generator directly
    replayed: bool = False
    direct_first_token_ms: dict = field(default_factory=dict)
    direct_total_ms: dict = field(default_factory=dict)
    generated_tokens: int = 0
    tokens_per_s: float = float("nan")  # generated tokens / direct generation time
    overhead: float = float("nan")  # (pipeline time - direct generator time) / direct generator time
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # the names these figures had when the first streamed text was the model's first token (same values)
    first_token_ms: dict = field(default_factory=dict)
    answered_first_token_ms: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.first_token_ms = self.first_token_ms or self.first_sentence_ms
        self.answered_first_token_ms = self.answered_first_token_ms or self.answered_first_sentence_ms

    def targets(self) -> list[tuple[str, str, bool]]:
        if self.reference:
            r = self.by_kind["all questions"]
            first, p50, p95 = TARGETS
            return [(f"first checked sentence p50 <= {first}x the reference job", f"{r['first_p50']:.2f}x",
                     r["first_p50"] <= first),
                    (f"full answer p50 <= {p50}x", f"{r['total_p50']:.2f}x", r["total_p50"] <= p50),
                    (f"full answer p95 <= {p95}x", f"{r['total_p95']:.2f}x", r["total_p95"] <= p95)]
        out = [("first verified sentence p50 <= 2.5 s", f"{self.first_sentence_ms['p50'] / 1000:.2f} s",
                self.first_sentence_ms["p50"] <= 2500),
               ("full answer p50 <= 4 s", f"{self.total_ms['p50'] / 1000:.2f} s", self.total_ms["p50"] <= 4000)]
        if self.replayed:
            out.append(("pipeline overhead <= 10% of the generator's time", f"{self.overhead:.1%}",
                        self.overhead <= 0.10))
        return out

    def table(self) -> str:
        pair = lambda d: [fmt(d["p50"]), fmt(d["p95"])]  # noqa: E731
        rows = [
            ["first verified sentence, all questions", *pair(self.first_sentence_ms)],
            ["full answer, all questions", *pair(self.total_ms)],
            ["first verified sentence, answered", *pair(self.answered_first_sentence_ms)],
            ["full answer, answered", *pair(self.answered_total_ms)],
            ["model's first token in the pipeline, answered", *pair(self.model_first_token_ms)],
            ["retrieval", *pair(self.retrieve_ms)],
        ]
        if self.replayed:
            rows[5:5] = [["generator alone: first token", *pair(self.direct_first_token_ms)],
                         ["generator alone: full answer", *pair(self.direct_total_ms)]]
        ref = self.reference
        out = [f"rag bench answer: {self.questions} questions x {self.repeat} "
               f"({self.answered} answered, {self.refused} refused; the model read {self.model_calls} of "
               f"{self.questions * self.repeat}); {self.machine}",
               f"generator: {self.generator}; refusal probe: {'yes' if self.probed else 'no'}; "
               f"warm-up {self.warm_up_s:.1f} s (not counted)"]
        if ref:
            out.append(f"reference job (the reader alone, same run, load average {ref['load_before']:.2f} before): "
                       f"a 512-token prompt at {ref['prompt_tokens_per_s']:.1f} tokens/s + 32 tokens written at "
                       f"{ref['decode_tokens_per_s']:.1f} tokens/s = {ref['seconds']:.2f} s")
        out += ["", md_table(["ms", "p50", "p95"], rows), ""]
        kinds = [[k, v["n"], fmt(v["first_ms"]["p50"]), _x(v["first_p50"]), fmt(v["total_ms"]["p50"]),
                  _x(v["total_p50"]), fmt(v["total_ms"]["p95"]), _x(v["total_p95"])]
                 for k, v in self.by_kind.items() if v["n"]]
        out += [md_table(["questions", "n", "first sentence p50 ms", "x ref", "full p50 ms", "x ref", "full p95 ms",
                          "x ref"], kinds), ""]
        if self.stages:
            out += ["Where the time goes (totals over the timed questions):", "",
                    StageTable(self.questions * self.repeat, self.stages).table(), ""]
        out.append(f"the reader wrote {self.written_tokens} tokens at {self.written_tokens_per_s:.1f} tokens/s inside "
                   f"the pipeline ({self.tokens_per_step:.2f} per decode step; prompt-lookup drafts accepted: "
                   f"{_share(self.draft_acceptance)})")
        if self.replayed:
            out += [f"generator alone: {self.tokens_per_s:.1f} tokens/s overall ({self.generated_tokens} tokens)",
                    f"pipeline overhead vs the generator alone doing the same model calls: {self.overhead:+.1%}"]
        out += [f"pipeline time outside the generator, within the same calls: {self.outside_generator:.1%} of the "
                "generator's time", "", self.targets_table()]
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)


def _x(ratio: float) -> str:
    return "-" if math.isnan(ratio) else f"{ratio:.2f}x"


def _share(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.0%}"


def bench_answer(settings=None, questions: Sequence[str] | None = None, *, file: Path | None = None,
                 repeat: int = 1, embedder=None, generator=None, progress: bool = False, replay: bool = True,
                 reference: bool | None = None) -> AnswerBench:
    """Answer each question through the pipeline, counting each model call by stage. `reference` (default: when the
    reader is the settings' own GGUF model) runs the reader's reference job first, in a child process, so times read
    as multiples of it. `replay`: after each question, make the same model calls on the generator directly (probe,
    then the stream read as far as the pipeline read it), interleaved so that load changes on a shared machine hit
    both alike; both start from the same cache state (see `settle`)."""
    from rag.answer.shape import question_shape
    from rag.evaluate import load_eval
    from rag.generate.base import make_generator
    from rag.pipeline import Pipeline
    from rag.settings import Settings

    # answers are read, not replayed from the cache of recent answers (the untimed first question would be)
    settings = (settings or Settings.from_env()).replace(answer_cache=0)
    if questions is None:
        questions = [it.question for it in load_eval(file or DEFAULT_QUESTIONS)]
    ref = reference_job(settings) if (generator is None if reference is None else reference) else None
    inner = generator if generator is not None else make_generator(settings)
    timed = _TimedGenerator(inner)
    pipeline = Pipeline(settings, embedder=embedder, generator=timed)
    t = time.perf_counter()
    pipeline.warm_up()
    warm_up_s = time.perf_counter() - t
    # one untimed question so that lazily built per-index state (IDF, caches) is not charged to the first
    pipeline.answer(questions[0])
    blank = settle_prompt(timed.calls)
    timed.calls.clear()

    rows = []
    with progress_bar(len(questions) * repeat, "bench answer", progress) as bar:
        for r in range(repeat):
            for q in questions:
                if blank:  # else the first timed question would find its prompt cached by the untimed one
                    settle(inner, blank)
                n_calls = len(timed.calls)
                first, total, answer = time_answer(pipeline, q)
                first_ms = 1000 * first
                recs = timed.calls[n_calls:]
                row = {"question": q, "round": r, "refused": bool(answer.refused), "first_sentence_ms": first_ms,
                       "first_token_ms": first_ms, "total_ms": 1000 * total,
                       "model_first_ms": answer.timings.get("generate_first_ms", float("nan")),
                       "retrieve_ms": answer.timings.get("retrieve_ms", float("nan")),
                       "generated": bool(recs),
                       "explain": question_shape(q).parts,
                       "calls": [{"stage": c["stage"], "gen_s": c["gen_s"], "counters": c["counters"]} for c in recs]}
                if recs:
                    row.update(probed=any(c["probe"] is not None for c in recs),
                               streamed=any(c["max_new_tokens"] is not None for c in recs),
                               pipeline_gen_ms=1000 * sum(c["gen_s"] for c in recs),
                               probe_ms=1000 * sum(c["probe_s"] for c in recs),
                               pieces=sum(c["pieces"] for c in recs))
                if recs and replay:
                    if blank:  # else the pipeline's call just left this very prompt in the cache
                        settle(inner, blank)
                    direct = direct_generation(inner, recs)
                    row.update(direct_first_ms=float("nan") if direct["first_s"] is None else 1000 * direct["first_s"],
                               direct_total_ms=1000 * direct["total_s"],
                               tokens=count_tokens(inner, direct["text"], direct["pieces"]),
                               same_text=same_work(recs, direct))
                rows.append(row)
                bar.update(1)
    return _result(rows, questions, repeat, warm_up_s, ref, timed, replay, blank is not None)


def _result(rows: list[dict], questions: Sequence[str], repeat: int, warm_up_s: float, ref: Reference | None,
            timed: _TimedGenerator, replay: bool, settled: bool) -> AnswerBench:
    model_rows = [r for r in rows if r["generated"]]
    answered = [r for r in rows if not r["refused"]]
    probed = any(r["probed"] for r in model_rows)
    inside = sum(r["pipeline_gen_ms"] for r in model_rows)
    pipe_total = sum(r["total_ms"] for r in model_rows)
    stages = StageTable.of(rows)
    written, write_s, steps = stages.written()
    drafted = sum(r.get("drafted", 0) for r in stages.rows.values())
    accepted = sum(r.get("accepted", 0) for r in stages.rows.values())
    notes = ["first verified sentence: the first text the user sees, a sentence the code verified against the evidence "
             "(for a refused question, the refusal)"]
    if ref:
        notes.append("x ref: the time divided by the reference job's (the reader alone reading a 512-token prompt and "
                     "writing 32 tokens one at a time, in a child process before the questions)")
    result = AnswerBench(
        questions=len(questions), answered=sum(not r["refused"] for r in rows) // max(repeat, 1),
        refused=sum(r["refused"] for r in rows) // max(repeat, 1), repeat=repeat, warm_up_s=warm_up_s,
        first_sentence_ms=spread([r["first_sentence_ms"] for r in rows]), total_ms=spread([r["total_ms"] for r in rows]),
        answered_first_sentence_ms=spread([r["first_sentence_ms"] for r in answered]),
        answered_total_ms=spread([r["total_ms"] for r in answered]),
        model_first_token_ms=spread([r["model_first_ms"] for r in answered if not math.isnan(r["model_first_ms"])]),
        retrieve_ms=spread([r["retrieve_ms"] for r in rows]), generator=timed.name, machine=machine(),
        model_calls=len(model_rows), probed=probed,
        outside_generator=(pipe_total - inside) / inside if inside else float("nan"),
        reference={**vars(ref), "seconds": ref.seconds} if ref else None,
        by_kind={"all questions": ratios(rows, ref),
                 "explanations (why / compare / about)": ratios([r for r in rows if r["explain"]], ref),
                 "one-answer questions": ratios([r for r in rows if not r["explain"]], ref)},
        stages=stages.rows, written_tokens=written, written_tokens_per_s=written / write_s if write_s else float("nan"),
        tokens_per_step=written / steps if steps else float("nan"),
        draft_acceptance=accepted / drafted if drafted else float("nan"), rows=rows, notes=notes)
    if replay and model_rows:
        _add_replay(result, model_rows, probed, settled)
    return result


def _add_replay(result: AnswerBench, model_rows: list[dict], probed: bool, settled: bool) -> None:
    first_rows = [r for r in model_rows if not math.isnan(r["direct_first_ms"])]
    direct_total = sum(r["direct_total_ms"] for r in model_rows)
    pipe_total = sum(r["total_ms"] for r in model_rows)
    tokens = sum(r["tokens"] for r in model_rows)
    result.replayed = True
    result.direct_first_token_ms = spread([r["direct_first_ms"] for r in first_rows])
    result.direct_total_ms = spread([r["direct_total_ms"] for r in model_rows])
    result.generated_tokens = tokens
    result.tokens_per_s = tokens / (direct_total / 1000) if direct_total else float("nan")
    result.overhead = (pipe_total - direct_total) / direct_total if direct_total else float("nan")
    result.notes.append("generator alone: the pipeline's model calls for each question made again directly: "
                        + ("the refusal probe (first_token_probs), then " if probed else "")
                        + "the stream of the same messages, read for as many pieces as the pipeline read")
    if settled:
        result.notes.append("before each timed question and each direct call the generator ran untimed on a prompt "
                            "without evidence, so both start from a KV cache sharing only the fixed prompt prefix")
    if not probed:
        result.notes.append("the generator has no refusal probe (first_token_probs): the pipeline and the baseline "
                            "skip it")
    if any(not r.get("same_text", True) for r in model_rows):
        result.notes.append("the direct calls wrote (or probed) differently from the pipeline's for some prompts")
