"""`rag bench answer --busy N`: the same questions answered with the machine idle, then with N cores kept busy by
separate processes (a tight loop each, as another program would), in one run; the ratios are the result.

Half the CPU taken should cost about 2x, no more: what costs more is the reader's threads waiting for a core."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from rag.bench.answer import time_answer
from rag.bench.common import Result, fmt, machine, md_table, progress_bar, spread

SPIN = "import signal, sys\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\nwhile True:\n    pass\n"
DECODE_PROMPT = [{"role": "user", "content": "Count from 1 to 60 in words, separated by commas."}]
FIRST_P50_RATIO = 2.2
TOTAL_P95_RATIO = 2.5


@contextlib.contextmanager
def busy_cores(n: int, settle_s: float = 1.5) -> Iterator[list[subprocess.Popen]]:
    """`n` processes that each keep one core busy until the block ends (then they are stopped)."""
    procs = [subprocess.Popen([sys.executable, "-c", SPIN], stdin=subprocess.DEVNULL) for _ in range(n)]
    try:
        if n:
            time.sleep(settle_s)  # so the load is there, and seen, before the first question
        yield procs
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


@dataclass
class Phase:
    name: str
    busy: int
    first_sentence_ms: dict
    total_ms: dict
    decode_tokens_per_s: float
    threads: dict  # llama.cpp thread count -> times chosen (at each model call and every 8 tokens written)
    rows: list[dict] = field(default_factory=list)


@dataclass
class BusyBench(Result):
    questions: int
    busy: int
    phases: list[Phase]
    generator: str
    machine: str
    load_before: float
    notes: list[str] = field(default_factory=list)

    def ratio(self, metric: str, q: str) -> float:
        idle, busy = self.phases[0], self.phases[-1]
        a, b = getattr(idle, metric)[q], getattr(busy, metric)[q]
        return b / a if a else float("nan")

    def targets(self) -> list[tuple[str, str, bool]]:
        first, total = self.ratio("first_sentence_ms", "p50"), self.ratio("total_ms", "p95")
        return [(f"first checked sentence p50, busy / idle <= {FIRST_P50_RATIO}x", f"{first:.2f}x",
                 first <= FIRST_P50_RATIO),
                (f"full answer p95, busy / idle <= {TOTAL_P95_RATIO}x", f"{total:.2f}x", total <= TOTAL_P95_RATIO)]

    def table(self) -> str:
        idle, busy = self.phases[0], self.phases[-1]
        dec = busy.decode_tokens_per_s / idle.decode_tokens_per_s if idle.decode_tokens_per_s else float("nan")
        rows = [["first checked sentence p50", fmt(idle.first_sentence_ms["p50"]), fmt(busy.first_sentence_ms["p50"]),
                 f"{self.ratio('first_sentence_ms', 'p50'):.2f}x"],
                ["full answer p50", fmt(idle.total_ms["p50"]), fmt(busy.total_ms["p50"]),
                 f"{self.ratio('total_ms', 'p50'):.2f}x"],
                ["full answer p95", fmt(idle.total_ms["p95"]), fmt(busy.total_ms["p95"]),
                 f"{self.ratio('total_ms', 'p95'):.2f}x"],
                ["reader decode tokens/s", fmt(idle.decode_tokens_per_s, 1), fmt(busy.decode_tokens_per_s, 1),
                 f"{1 / dec:.2f}x slower" if dec else "-"],
                ["reader thread choices (threads: count)", _threads(idle.threads), _threads(busy.threads), ""]]
        out = [f"rag bench answer --busy {self.busy}: {self.questions} questions, idle then with {self.busy} "
               f"core(s) kept busy by other processes; {self.machine}; load average {self.load_before:.2f} at the "
               f"start; generator: {self.generator}", "",
               md_table(["ms", "idle", f"{self.busy} busy", "ratio"], rows), "", self.targets_table()]
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)


def _threads(use: dict) -> str:
    return ", ".join(f"{n}: {c}" for n, c in sorted(use.items())) or "-"


def decode_rate(generator, tokens: int = 32) -> float:
    """Tokens per second after the first, writing a long list (no evidence, so nothing else is measured)."""
    stream = generator.stream(DECODE_PROMPT, tokens)
    n, t1 = 0, None
    try:
        for _ in stream:
            n += 1
            if t1 is None:
                t1 = time.perf_counter()
    finally:
        close = getattr(stream, "close", None)
        if close:
            close()
    return (n - 1) / (time.perf_counter() - t1) if t1 is not None and n > 1 else float("nan")


def _time_answers(pipeline, questions: Sequence[str], bar) -> list[dict]:
    rows = []
    for q in questions:
        first, total, answer = time_answer(pipeline, q)
        rows.append({"question": q, "refused": bool(answer.refused), "first_sentence_ms": 1000 * first,
                     "total_ms": 1000 * total})
        bar.update(1)
    return rows


def bench_busy(settings=None, questions: Sequence[str] | None = None, *, busy: int = 1, file=None, embedder=None,
               generator=None, progress: bool = False) -> BusyBench:
    """Answer every question idle, then again with `busy` cores taken (the answer cache off, so both phases do
    the work)."""
    from rag.bench.common import DEFAULT_QUESTIONS
    from rag.evaluate import load_eval
    from rag.generate.base import make_generator
    from rag.pipeline import Pipeline
    from rag.settings import Settings

    settings = (settings or Settings.from_env()).replace(answer_cache=0)
    if questions is None:
        questions = [it.question for it in load_eval(file or DEFAULT_QUESTIONS)]
    gen = generator if generator is not None else make_generator(settings)
    pipeline = Pipeline(settings, embedder=embedder, generator=gen)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    pipeline.warm_up()
    pipeline.answer(questions[0])  # lazily built per-index state is not charged to the first question
    phases = []
    with progress_bar(2 * len(questions), "bench answer --busy", progress) as bar:
        for name, n in (("idle", 0), (f"{busy} busy", busy)):
            with busy_cores(n):
                use = getattr(gen, "thread_use", None)
                before = dict(use) if use is not None else {}
                rows = _time_answers(pipeline, questions, bar)
                rate = decode_rate(gen)
                threads = {k: v - before.get(k, 0) for k, v in (use or {}).items() if v - before.get(k, 0)}
            phases.append(Phase(name, n, spread([r["first_sentence_ms"] for r in rows]),
                                spread([r["total_ms"] for r in rows]), rate, threads, rows))
    notes = ["busy: separate processes each running a tight Python loop, started 1.5 s before the first question",
             "the answer cache is off; the same questions in the same order in both phases",
             "reader threads: RAG_LLM_THREADS=0 fits llama.cpp's threads to the free cores at each call "
             "(rag.cpu); a fixed count is used as given"]
    return BusyBench(questions=len(questions), busy=busy, phases=phases, generator=getattr(gen, "name", "generator"),
                     machine=machine(), load_before=load, notes=notes)
