"""`rag check`: the claim judge on its own. A claim with a quote is judged against it; a claim alone is checked
against the library: its best quotes are found the way an answer finds its evidence (search, then the sentences of
the top passages that best match it), and the claim is supported when one of them supports it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rag.answer.judge import NOT_SUPPORTED, judge

LIBRARY_QUOTES = 4  # sentences of the library a claim is judged against


@dataclass
class QuoteRef:
    quote: str
    doc: str = ""
    title: str = ""
    start: int | None = None
    end: int | None = None


@dataclass
class CheckResult:
    claim: str
    verdict: str
    score: float
    quote: str  # the quote that decided: the supporting one, or the closest one that failed
    reason: str = ""
    kind: str = ""
    source: QuoteRef | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"claim": self.claim, "verdict": self.verdict, "score": round(self.score, 4), "quote": self.quote,
               "reason": self.reason}
        if self.kind:
            out["kind"] = self.kind
        if self.source is not None and self.source.doc:
            out.update(doc=self.source.doc, title=self.source.title, start=self.source.start, end=self.source.end)
        return out


def check_pair(gen, claim: str, quote: str, *, question: str = "", threshold: float = 0.5,
               use_model: bool = True) -> CheckResult:
    v = judge(gen, claim, quote, question=question, threshold=threshold, use_model=use_model)
    return CheckResult(claim, v.verdict, v.score, quote, v.reason, v.kind, QuoteRef(quote))


def check_in_library(pipeline, claim: str, *, question: str = "", threshold: float = 0.5, use_model: bool = True,
                     quotes: int = LIBRARY_QUOTES) -> CheckResult:
    """The claim against the library's best-matching sentences (with what they point back to)."""
    answerer = pipeline.answerer
    ctx = answerer._context()
    passages = ctx.retriever.search(claim, pipeline.settings.top_k)
    units = ctx.selector.select(claim, passages, ctx.documents, ctx.sentence_index)
    units = sorted(units, key=lambda u: -u.score)[:quotes]
    refs = [QuoteRef(u.text, u.doc, ctx.documents[u.doc].title, u.start, u.end) for u in units]
    if not refs:
        return CheckResult(claim, NOT_SUPPORTED, 0.0, "", "the library has nothing about it")
    results = [check_pair(pipeline.generator, claim, r.quote, question=question, threshold=threshold,
                          use_model=use_model) for r in refs]
    best = max(range(len(results)), key=lambda i: (results[i].verdict != NOT_SUPPORTED, results[i].score, -i))
    out = results[best]
    out.source = refs[best]
    return out


def accuracy_by_kind(rows: Sequence[tuple[dict, CheckResult]]) -> dict[str, dict[str, Any]]:
    """For a labelled set: per kind, how many were judged as labelled."""
    out: dict[str, dict[str, Any]] = {}
    for item, result in rows:
        kind = item.get("kind", "unlabelled")
        m = out.setdefault(kind, {"n": 0, "right": 0})
        m["n"] += 1
        m["right"] += int(result.verdict == item.get("label"))
    for m in out.values():
        m["accuracy"] = round(m["right"] / m["n"], 4) if m["n"] else None
    return out
