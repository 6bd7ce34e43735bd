"""`rag check`: the claim judge on its own. A claim with a quote is judged against it; a claim alone is checked
against the library: its best quotes are found the way an answer finds its evidence (search, then the sentences of
the top passages that best match it), and the claim is supported when one of them supports it. When none does and
one of them is about the same thing but says otherwise (a negation or rejection turned around, another number or
date), the claim is contradicted. The same check serves the chat page's "Check a claim" tab and its `/check` API."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rag.answer.judge import MONTH, NOT_SUPPORTED, NUMBER, REVERSED, SUPPORTED, judge
from rag.answer.verify import number_phrases
from rag.dates import prose_date
from rag.answer.when import newest_date, time_focus
from rag.errors import ClaimError
from rag.text import same_word, tokenize

LIBRARY_QUOTES = 4  # sentences of the library a claim is judged against
SHOWN_QUOTES = 3  # the best of them a page shows (the deciding one first)
CONTRADICTED = "contradicted"
# rule failures that mean the quote states something else about the same thing (not that it leaves it out):
# a reversal (negation differs, what the quote rejects or denies told as what it says) and another number or date
CONTRADICTING_KINDS = {REVERSED, NUMBER}
ABOUT_SHARE = 0.6  # a quote is about the claim when it holds this share of the claim's words (numbers aside)
MAX_CLAIM_WORDS = 60
MAX_CLAIM_CHARS = 600
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def validate_claim(text: object) -> str:
    """The claim as one line of text; a ClaimError with a one-line message for what can't be checked: nothing,
    binary data or control characters, or a whole article (several paragraphs or more than 60 words)."""
    if not isinstance(text, str):
        raise ClaimError("The claim must be text: paste one sentence to check.")
    s = text.strip()
    if not s:
        raise ClaimError("The claim is empty: paste one sentence to check.")
    if "\ufffd" in s or any(unicodedata.category(ch) in ("Cc", "Cs", "Co") and ch not in "\n\r\t" for ch in s):
        raise ClaimError("That is not plain text (it holds control characters or binary data): "
                         "paste one sentence to check.")
    words = s.split()
    if _PARAGRAPH_BREAK.search(s):
        raise ClaimError("That looks like a whole article (several paragraphs): paste one sentence to check.")
    if len(words) > MAX_CLAIM_WORDS or len(s) > MAX_CLAIM_CHARS:
        raise ClaimError(f"That looks like a whole article ({len(words)} words): paste one sentence "
                         f"(at most {MAX_CLAIM_WORDS} words) to check.")
    return " ".join(words)


@dataclass
class QuoteRef:
    quote: str
    doc: str = ""
    title: str = ""
    start: int | None = None
    end: int | None = None
    outlet: str = ""
    published: str = ""
    published_approx: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"quote": self.quote, "doc": self.doc, "title": self.title, "outlet": self.outlet,
                "published": self.published, "published_approx": self.published_approx, "start": self.start,
                "end": self.end}


@dataclass
class CheckResult:
    claim: str
    verdict: str  # SUPPORTED | NOT_SUPPORTED | CONTRADICTED (this one from the library only)
    score: float
    quote: str  # the quote that decided: the supporting one, the contradicting one, or the closest one that failed
    reason: str = ""
    kind: str = ""
    source: QuoteRef | None = None
    quotes: list[dict[str, Any]] = field(default_factory=list)  # the best few from the library, deciding one first

    def to_dict(self) -> dict[str, Any]:
        out = {"claim": self.claim, "verdict": self.verdict, "score": round(self.score, 4), "quote": self.quote,
               "reason": self.reason}
        if self.kind:
            out["kind"] = self.kind
        if self.source is not None and self.source.doc:
            out.update(doc=self.source.doc, title=self.source.title, start=self.source.start, end=self.source.end,
                       outlet=self.source.outlet, published=self.source.published,
                       published_approx=self.source.published_approx)
        if self.quotes:
            out["quotes"] = [dict(q) for q in self.quotes]
        return out


def check_pair(gen, claim: str, quote: str, *, question: str = "", threshold: float = 0.5,
               use_model: bool = True) -> CheckResult:
    v = judge(gen, claim, quote, question=question, threshold=threshold, use_model=use_model)
    return CheckResult(claim, v.verdict, v.score, quote, v.reason, v.kind, QuoteRef(quote))


def about(claim: str, quote: str) -> bool:
    """Whether the quote is about what the claim is about: it holds most of the claim's words (numbers aside)."""
    terms = {t for t in tokenize(claim) if not any(ch.isdigit() for ch in t)}
    if not terms:
        return False
    words = set(tokenize(quote))
    held = sum(1 for t in terms if t in words or any(same_word(t, w) for w in words))
    return held >= ABOUT_SHARE * len(terms)


def contradicts(claim: str, quote: str, kind: str) -> bool:
    """The quote is about the claim and a rule found it saying otherwise: a reversal, or a number or date of its
    own where the claim has another (a quote without any number merely leaves the claim's out)."""
    if kind not in CONTRADICTING_KINDS or not about(claim, quote):
        return False
    return kind != NUMBER or bool(number_phrases(quote) or MONTH.search(quote))


def check_in_library(pipeline, claim: str, *, question: str = "", threshold: float = 0.5, use_model: bool = True,
                     quotes: int = LIBRARY_QUOTES, shown: int = SHOWN_QUOTES) -> CheckResult:
    """The claim against the library's best-matching sentences (with what they point back to)."""
    answerer = pipeline.answerer
    ctx = answerer._context()
    # a claim about a time ("in April 2026") is checked against the reports of that time first
    focus = time_focus(claim, newest_date(ctx.documents.values()))
    passages = ctx.retriever.search(claim, pipeline.settings.top_k, dates=focus.dates) if focus.dates else []
    passages = passages or ctx.retriever.search(claim, pipeline.settings.top_k)
    units = ctx.selector.select(claim, passages, ctx.documents, ctx.sentence_index)
    units = sorted(units, key=lambda u: -u.score)[:quotes]
    refs = []
    for u in units:
        d = ctx.documents[u.doc]
        refs.append(QuoteRef(u.text, u.doc, d.title, u.start, u.end, d.outlet, d.published, d.published_approx))
    if not refs:
        return CheckResult(claim, NOT_SUPPORTED, 0.0, "", "the library has nothing about it")
    # each quote is judged with its report's outlet and date before it: news is true as of a date, so "in March
    # 2026" is checked against when the report was written, not only against what its sentence says
    results = [check_pair(pipeline.generator, claim, dated_quote(r), question=question, threshold=threshold,
                          use_model=use_model) for r in refs]
    for r, ref in zip(results, refs):
        r.quote = ref.quote
    for r in results:
        if r.verdict == NOT_SUPPORTED and contradicts(claim, r.quote, r.kind):
            r.verdict = CONTRADICTED
    rank = {SUPPORTED: 2, CONTRADICTED: 1}
    # supported wins; else a quote that says otherwise (the library's best first); else the closest failure
    order = sorted(range(len(results)), key=lambda i: (-rank.get(results[i].verdict, 0),
                                                       -results[i].score if results[i].verdict != CONTRADICTED else 0,
                                                       i))
    out = results[order[0]]
    out.source = refs[order[0]]
    out.quotes = [{**refs[i].to_dict(), "verdict": results[i].verdict, "score": round(results[i].score, 4),
                   "reason": results[i].reason} for i in order[:shown]]
    return out


def dated_quote(ref: QuoteRef) -> str:
    """"(Northgate Ledger, 8 July 2026: Kelderwick Tightens Water Rules) The reservoir had fallen to 31 percent full
    by Wednesday.": the report's headline says what its sentence's "the figures" are about (one with a figure of
    its own is left out: headline shorthand, "Outbreak Over at 212", would read as the sentence's)."""
    when = prose_date(ref.published, ref.published_approx)
    source = ", ".join(x for x in (ref.outlet, when) if x)
    title = ref.title if ref.title and not re.search(r"\d", ref.title) else ""  # a headline's figure is shorthand
    source = f"{source}: {title}" if source and title else (source or title)
    return f"({source}) {ref.quote}" if source else ref.quote


def judged_as_labelled(verdict: str, label: object) -> bool:
    """A contradicted claim is a claim the library does not support: right for a "not supported" label."""
    return verdict == label or (verdict == CONTRADICTED and label == NOT_SUPPORTED)


def accuracy_by_kind(rows: Sequence[tuple[dict, CheckResult]]) -> dict[str, dict[str, Any]]:
    """For a labelled set: per kind, how many were judged as labelled."""
    out: dict[str, dict[str, Any]] = {}
    for item, result in rows:
        kind = item.get("kind", "unlabelled")
        m = out.setdefault(kind, {"n": 0, "right": 0})
        m["n"] += 1
        m["right"] += int(judged_as_labelled(result.verdict, item.get("label")))
    for m in out.values():
        m["accuracy"] = round(m["right"] / m["n"], 4) if m["n"] else None
    return out
