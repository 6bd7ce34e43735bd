"""Scoring one answer against its gold item: is the gold evidence among the passages (and first), are the key terms
in the answer, are the citations verbatim and about the gold evidence, was a refusal right; and the averages.

All text comparisons use `_norm`: whitespace collapsed, lower-cased, and a dash glued to a word rejoined with the
next word (the cleaner rejoins "U.S.-" + "backed" across a hard wrap)."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rag.errors import RagError
from rag.evaluate.dataset import UNANSWERABLE, EvalItem
from rag.pipeline_api import PipelineAPI
from rag.schema import Answer, Citation, Passage

log = logging.getLogger(__name__)


MIN_SHARED_WORDS = 8  # a quote "overlaps" gold evidence when they share this many words in a row


def _norm(s: str) -> str:
    s = " ".join(s.split()).lower()
    return re.sub(r"(?<=\S[-–—]) (?=\S)", "", s)


def _passage_texts(passages: Sequence[Passage]) -> list[str]:
    """Normalised passage texts, overlapping chunks of one document merged so evidence that
    straddles a chunk boundary still counts (a plain concatenation would depend on rank order)."""
    by_doc: dict[str, list[Passage]] = {}
    for p in passages:
        by_doc.setdefault(p.chunk.doc, []).append(p)
    texts: list[str] = []
    for ps in by_doc.values():
        ps.sort(key=lambda p: (p.chunk.start, p.chunk.end))
        cur_text, cur_end = "", -1
        for p in ps:
            c = p.chunk
            exact = len(c.text) == c.end - c.start  # offsets can be trusted for merging
            if cur_text and exact and c.start <= cur_end:
                if c.end > cur_end:
                    cur_text += c.text[cur_end - c.start :]
                    cur_end = c.end
                continue
            if cur_text:
                texts.append(cur_text)
            cur_text, cur_end = c.text, (c.end if exact else -1)
        if cur_text:
            texts.append(cur_text)
    return [_norm(t) for t in texts]


def evidence_found(item: EvalItem, passages: Sequence[Passage]) -> list[bool]:
    texts = _passage_texts(passages)
    return [any(_norm(e) in t for t in texts) for e in item.evidence]


def _shares_run(a: str, b: str, n: int = MIN_SHARED_WORDS) -> bool:
    wa, wb = a.split(), b.split()
    if len(wa) < n or len(wb) < n:
        return False
    grams = {tuple(wa[i : i + n]) for i in range(len(wa) - n + 1)}
    return any(tuple(wb[i : i + n]) in grams for i in range(len(wb) - n + 1))


def quote_matches_evidence(quote: str, evidence: str) -> bool:
    """Overlap: either contains the other (normalised), or they share MIN_SHARED_WORDS words in a row."""
    q, e = _norm(quote), _norm(evidence)
    if not q or not e:
        return False
    return e in q or q in e or _shares_run(q, e)


@dataclass
class ItemResult:
    id: str
    type: str
    question: str
    answer: str
    refused: bool
    evidence_recall: float | None  # share of gold evidence inside the passages; None: no evidence
    evidence_hit: bool | None  # all gold evidence inside the top-k passages
    evidence_first: bool | None  # all gold evidence inside the top-1 passage
    all_terms: bool | None  # every must_mention term in the answer; None for unanswerable
    cites_gold: bool | None  # a citation overlaps gold evidence; None for unanswerable
    cites_answer: bool | None  # one quote holds every must_mention term; None: unanswerable, refused or no terms
    citations: int
    citations_valid_count: int
    total_ms: float | None
    first_token_ms: float | None
    retrieve_ms: float | None
    quotes: tuple[str, ...] = ()  # the citations' quotes, for error analysis

    @property
    def answerable(self) -> bool:
        return self.type != UNANSWERABLE

    @property
    def citations_valid(self) -> bool | None:
        """True when every citation is verbatim at its offsets; None when there are none."""
        return None if not self.citations else self.citations_valid_count == self.citations

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "all_terms": self.all_terms,
            "cites_gold": self.cites_gold,
            "cites_answer": self.cites_answer,
            "evidence_recall": rounded(self.evidence_recall),
            "evidence_hit": self.evidence_hit,
            "evidence_first": self.evidence_first,
            "citations": self.citations,
            "citations_valid": self.citations_valid,
            "total_ms": rounded(self.total_ms, 1),
            "first_token_ms": rounded(self.first_token_ms, 1),
            "retrieve_ms": rounded(self.retrieve_ms, 1),
            "quotes": list(self.quotes),
        }


class DocCache:
    """document_text per doc, fetched once; an unknown doc reads as "" (every quote from it is invalid)."""

    def __init__(self, pipeline: PipelineAPI) -> None:
        self._pipeline = pipeline
        self._texts: dict[str, str] = {}

    def text(self, doc: str) -> str:
        if doc not in self._texts:
            try:
                self._texts[doc] = self._pipeline.document_text(doc)
            except (RagError, KeyError, OSError) as e:
                log.warning("cannot read %s to check a citation: %s", doc, e)
                self._texts[doc] = ""
        return self._texts[doc]


def citation_valid(c: Citation, doc_text: str) -> bool:
    return bool(c.quote) and 0 <= c.start < c.end <= len(doc_text) and doc_text[c.start : c.end] == c.quote


def cites_answer(item: EvalItem, answer: Answer) -> bool | None:
    """Whether the cited sentence holds the expected answer: some single quote contains every
    must_mention term. A correct answer that cites the wrong sentence is unsupported for the reader."""
    if not item.answerable or answer.refused or not item.must_mention:
        return None
    terms = [_norm(m) for m in item.must_mention]
    return any(all(t in _norm(c.quote) for t in terms) for c in answer.citations)


def score_answer(item: EvalItem, answer: Answer, docs: DocCache, k: int = 5) -> ItemResult:
    """Score one answer; split from `evaluate` so tests can check metrics without a loop."""
    found = evidence_found(item, answer.passages)
    recall = sum(found) / len(found) if found else None
    hit = None if recall is None else all(evidence_found(item, answer.passages[:k]))
    first = None if recall is None else all(evidence_found(item, answer.passages[:1]))
    answer_norm = _norm(answer.answer)
    valid = [citation_valid(c, docs.text(c.doc)) for c in answer.citations]
    cites_gold = any(quote_matches_evidence(c.quote, e) for c in answer.citations for e in item.evidence)
    t = answer.timings or {}
    return ItemResult(
        id=item.id,
        type=item.type,
        question=item.question,
        answer=answer.answer,
        refused=bool(answer.refused),
        evidence_recall=recall,
        evidence_hit=hit,
        evidence_first=first,
        all_terms=all(_norm(m) in answer_norm for m in item.must_mention) if item.answerable else None,
        cites_gold=cites_gold if item.answerable else None,
        cites_answer=cites_answer(item, answer),
        citations=len(valid),
        citations_valid_count=sum(valid),
        total_ms=t.get("total_ms"),
        first_token_ms=t.get("first_token_ms"),
        retrieve_ms=t.get("retrieve_ms"),
        quotes=tuple(c.quote for c in answer.citations),
    )


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def mean(values: Iterable[float | bool]) -> float | None:
    xs = [float(v) for v in values]
    return sum(xs) / len(xs) if xs else None


def rounded(v: float | None, nd: int = 4) -> float | None:
    return None if v is None else round(v, nd)


def aggregate(results: Sequence[ItemResult]) -> dict[str, Any]:
    """Rates are over the items each metric applies to; None (JSON null) where none apply."""
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    n_cit = sum(r.citations for r in results)
    totals = [r.total_ms for r in results if r.total_ms is not None]
    firsts = [r.first_token_ms for r in results if r.first_token_ms is not None]
    return {
        "n": len(results),
        "evidence_recall": rounded(mean(r.evidence_recall for r in results if r.evidence_recall is not None)),
        "evidence_hit_rate": rounded(mean(r.evidence_hit for r in results if r.evidence_hit is not None)),
        "evidence_first_rate": rounded(mean(r.evidence_first for r in results if r.evidence_first is not None)),
        "all_terms_rate": rounded(mean(r.all_terms for r in answerable if r.all_terms is not None)),
        "citations": n_cit,
        "citation_validity": rounded(sum(r.citations_valid_count for r in results) / n_cit) if n_cit else None,
        "cites_gold_rate": rounded(mean(r.cites_gold for r in answerable if r.cites_gold is not None)),
        "answered": sum(not r.refused for r in answerable),
        "cites_answer_rate": rounded(mean(r.cites_answer for r in answerable if r.cites_answer is not None)),
        "refusal_rate_unanswerable": rounded(mean(r.refused for r in unanswerable)),
        "false_refusal_rate": rounded(mean(r.refused for r in answerable)),
        "total_ms_p50": rounded(percentile(totals, 50), 1),
        "total_ms_p95": rounded(percentile(totals, 95), 1),
        "first_token_ms_p50": rounded(percentile(firsts, 50), 1),
        "first_token_ms_p95": rounded(percentile(firsts, 95), 1),
    }
