"""Where an answer's time goes, for `rag bench answer`: each model call named by its prompt (choosing, reading,
reading a part, judging), with the tokens it read and wrote as the reader counted them, and the reader's own speed
from a reference job run in the same benchmark (a 512-token prompt read, then 32 tokens written one at a time), so
answer times can be read as multiples of what the machine does today."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from rag.bench.common import fmt, md_table, spread

STAGES = ("choose", "read", "part", "judge")  # prompt names (rag/prompts/*.yaml), in the order an answer meets them
STAGE_TITLES = {"retrieval": "retrieval and evidence selection", "choose": "choosing the sentence (probe)",
                "read": "narrow read (one-answer questions)", "part": "reading the parts (why / compare / about)",
                "judge": "judging written sentences", "other": "other model calls",
                "outside": "checks and composing (outside the model)"}
COUNTERS = ("prompt_tokens", "prompt_s", "written_tokens", "write_s", "steps", "drafted", "accepted")
REFERENCE_PROMPT, REFERENCE_WRITTEN = 512, 32


def stage_of(messages: Sequence[dict]) -> str:
    """The prompt a call was made with, by its system message."""
    from rag import prompts

    system = next((m.get("content", "") for m in messages if m.get("role") == "system"), "")
    for name in STAGES:
        if system and system == prompts.load(name).get("system"):
            return name
    return "other"


def counters(gen) -> dict:
    """The reader's counters now (`ReaderStats`), or {} where the generator keeps none."""
    stats = getattr(gen, "stats", None)
    return stats.snapshot() if stats is not None else {}


def difference(after: dict, before: dict) -> dict:
    return {k: after.get(k, 0) - before.get(k, 0) for k in COUNTERS if k in after}


@dataclass
class Reference:
    """The reader's speed on this machine now, from a child process (`rag.generate.llama_check`)."""

    prompt_tokens_per_s: float
    decode_tokens_per_s: float
    load_before: float

    @property
    def seconds(self) -> float:
        return REFERENCE_PROMPT / self.prompt_tokens_per_s + REFERENCE_WRITTEN / self.decode_tokens_per_s


def reference_job(settings, threads: int = 0) -> Reference | None:
    """The reference job for the settings' GGUF reader (None for other readers, or when the child failed)."""
    from rag.generate.llama_backend import physical_cores
    from rag.generate.llama_check import check

    model, gguf = settings.resolved_llm()
    if not gguf:
        return None
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    run = check(os.path.join(model, gguf), False, threads=threads or settings.llm_threads or physical_cores(),
                n_ctx=REFERENCE_PROMPT + REFERENCE_WRITTEN + 64, prompt_tokens=REFERENCE_PROMPT,
                decode_tokens=REFERENCE_WRITTEN, reps=2)
    if not run.ok:
        return None
    return Reference(run.prompt_tokens_per_s, run.decode_tokens_per_s, load)


@dataclass
class StageTable:
    """Per-stage totals over the timed questions."""

    questions: int
    rows: dict = field(default_factory=dict)  # stage -> {"calls", "s", and the reader's counters}

    @classmethod
    def of(cls, answers: Sequence[dict]) -> "StageTable":
        """`answers`: one row per timed question with its "calls" (stage, gen_s, counters) and times."""
        table: dict[str, dict] = {}
        for a in answers:
            inside = 0.0
            for c in a.get("calls", []):
                row = table.setdefault(c["stage"], {"calls": 0, "s": 0.0})
                row["calls"] += 1
                row["s"] += c["gen_s"]
                inside += c["gen_s"]
                for k, v in c.get("counters", {}).items():
                    row[k] = row.get(k, 0) + v
            retrieval = a.get("retrieve_ms", float("nan")) / 1000
            retrieval = 0.0 if math.isnan(retrieval) else retrieval
            table.setdefault("retrieval", {"calls": 0, "s": 0.0})["s"] += retrieval
            table.setdefault("outside", {"calls": 0, "s": 0.0})["s"] += max(a["total_ms"] / 1000 - inside - retrieval,
                                                                            0.0)
        return cls(len(answers), table)

    def written(self) -> tuple[int, float, int]:
        """(tokens written, seconds writing, decode steps) over every model call."""
        rows = [r for r in self.rows.values() if "written_tokens" in r]
        return (sum(r["written_tokens"] for r in rows), sum(r["write_s"] for r in rows),
                sum(r["steps"] for r in rows))

    def table(self) -> str:
        total = sum(r["s"] for r in self.rows.values()) or float("nan")
        order = ["retrieval", *STAGES, "other", "outside"]
        out = []
        for name in [n for n in order if n in self.rows]:
            r = self.rows[name]
            calls = r["calls"]
            per = lambda k: fmt(r[k] / calls, 0) if calls and k in r else "-"  # noqa: E731
            speed = fmt(r["prompt_tokens"] / r["prompt_s"], 0) if r.get("prompt_s") else "-"
            wrote = fmt(r["written_tokens"] / r["write_s"], 1) if r.get("write_s") else "-"
            out.append([STAGE_TITLES[name], calls, fmt(1000 * r["s"] / max(self.questions, 1)),
                        f"{r['s'] / total:.0%}", fmt(1000 * r["s"] / calls) if calls else "-", per("prompt_tokens"),
                        speed, per("written_tokens"), wrote])
        return md_table(["stage", "calls", "ms per question", "share", "ms per call", "prompt tokens read per call",
                         "read tokens/s", "tokens written per call", "written tokens/s"], out)


def ratios(rows: Sequence[dict], reference: Reference | None) -> dict:
    """p50/p95 of first-sentence and full-answer times as multiples of the reference job."""
    ref = reference.seconds * 1000 if reference else float("nan")
    first, total = spread([r["first_sentence_ms"] for r in rows]), spread([r["total_ms"] for r in rows])
    div = (lambda x: x / ref) if reference and not math.isnan(ref) else (lambda x: float("nan"))
    return {"n": len(rows), "first_p50": div(first["p50"]), "total_p50": div(total["p50"]),
            "total_p95": div(total["p95"]), "first_ms": first, "total_ms": total}
