"""An evaluation report: how the run was made (`RunInfo`), its scores overall and by question type, and the
markdown table `rag eval` prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rag.evaluate.dataset import CORPUS_SPLIT_RULE, SPLIT_RULE, TYPES
from rag.evaluate.score import ItemResult, aggregate

PERCENTILE_METHOD = "linear interpolation between closest ranks (numpy default)"


@dataclass(frozen=True)
class RunInfo:
    """What a report was computed on, so a number is never quoted without its split and filters."""

    source: str
    split: str = "all"
    types: tuple[str, ...] = ()
    limit: int | None = None
    in_set: int = 0  # questions in the set, before any filter
    selected: int = 0  # questions the run was asked to answer
    by_corpus: bool = False  # split by corpus halves (a set folder), not by question id

    @property
    def rule(self) -> str:
        return CORPUS_SPLIT_RULE if self.by_corpus else SPLIT_RULE

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "split": self.split, "split_rule": self.rule, "types": list(self.types),
                "limit": self.limit, "in_set": self.in_set, "selected": self.selected}

    def describe(self) -> str:
        types = ", ".join(self.types) if self.types else "all types"
        limit = "" if self.limit is None else f", first {self.limit}"
        return (f"{self.source}: split {self.split} ({self.rule}), {types}{limit}: "
                f"{self.selected} of {self.in_set} questions")


@dataclass
class EvalReport:
    items: list[ItemResult] = field(default_factory=list)
    k: int = 5
    run: RunInfo | None = None
    interrupted: bool = False  # stopped by Ctrl-C: the numbers cover `items` only
    ladder: list = field(default_factory=list)  # rag.evaluate.ladder.LadderRow per item, with --ladder

    def by_type(self) -> dict[str, dict[str, Any]]:
        order = [t for t in TYPES if any(r.type == t for r in self.items)]
        return {t: aggregate([r for r in self.items if r.type == t]) for t in order}

    def overall(self) -> dict[str, Any]:
        return aggregate(self.items)

    def to_dict(self) -> dict[str, Any]:
        overall = self.overall()
        overall["k"] = self.k
        overall["percentile_method"] = PERCENTILE_METHOD
        out: dict[str, Any] = {
            "overall": overall,
            "by_type": self.by_type(),
            "items": [r.to_dict() for r in self.items],
        }
        if self.run is not None or self.interrupted:
            run = self.run.to_dict() if self.run is not None else {}
            out["run"] = {**run, "answered": len(self.items), "interrupted": self.interrupted}
        return out

    def heading(self) -> str:
        """What the table is about (set, split, filters) and whether it is partial."""
        lines = [self.run.describe()] if self.run is not None else []
        if self.interrupted:
            planned = f" of {self.run.selected}" if self.run is not None else ""
            lines.append(f"INTERRUPTED after {len(self.items)}{planned} questions: the scores cover those only.")
        return "\n".join(lines)

    def table(self) -> str:
        """Fixed-width summary for the terminal: one row per type plus "overall".

        Columns go from retrieval (evidence in the passages, in the top k, in the top one) to answers
        (key terms, refusals) to citations (verbatim, overlapping gold evidence, holding the answer)."""
        cols = [
            ("type", 12, None),
            ("n", 4, None),
            ("evid recall", 11, "evidence_recall"),
            (f"hit@{self.k}", 6, "evidence_hit_rate"),
            ("top1", 5, "evidence_first_rate"),
            ("key terms", 9, "all_terms_rate"),
            ("false refus", 11, "false_refusal_rate"),
            ("refused(unans)", 14, "refusal_rate_unanswerable"),
            ("cites valid", 11, "citation_validity"),
            ("cites gold", 10, "cites_gold_rate"),
            ("cites answer", 12, "cites_answer_rate"),
            ("p50/p95 total ms", 16, None),
            ("p50 1st tok ms", 14, None),
        ]
        rates = cols[2:-2]
        rows = [(t, agg) for t, agg in self.by_type().items()] + [("overall", self.overall())]
        lines = ["  ".join(name.rjust(w) if i else name.ljust(w) for i, (name, w, _) in enumerate(cols))]
        lines.append("-" * len(lines[0]))
        for name, agg in rows:
            cells = [name.ljust(cols[0][1]), str(agg["n"]).rjust(cols[1][1])]
            cells += [_pct(agg[key]).rjust(w) for _, w, key in rates]
            total = f"{_ms(agg['total_ms_p50'])} / {_ms(agg['total_ms_p95'])}"
            if agg["total_ms_p50"] is None:
                total = "-"
            cells.append(total.rjust(cols[-2][1]))
            cells.append(_ms(agg["first_token_ms_p50"]).rjust(cols[-1][1]))
            lines.append("  ".join(cells))
        return "\n".join(lines)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.0f}%"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"
