"""`rag eval --ladder`: where answers are lost, rung by rung, scored the same way (all key terms in the reply).

1. the reader given the gold evidence sentence alone (what narrow reading can reach);
2. given the gold passage (the indexed chunk that holds the evidence: reading a wider text);
3. what the pipeline chooses: the gold sentence is the reader's first choice (@1) or among its first three (@3);
4. the full pipeline (choice, narrow reading, the judge, refusal).

Each rung reads with the same narrow prompt the pipeline uses, so the gaps between rungs are the cost of each step.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rag.evaluate.dataset import TYPES, EvalItem
from rag.evaluate.score import DocCache, ItemResult, _norm, mean, rounded, score_answer

READ_TOKENS = 48


@dataclass
class LadderRow:
    item: ItemResult  # the full pipeline's answer, scored as `rag eval` scores it
    gold_sentence: bool | None  # reader given the gold sentence: all key terms (None: unanswerable)
    gold_passage: bool | None  # reader given the gold passage
    chosen_at1: bool | None  # the gold sentence is the reader's first choice (None: not among the evidence)
    chosen_at3: bool | None
    in_evidence: bool | None  # the gold sentence is among the numbered evidence at all

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.item.id, "type": self.item.type, "gold_sentence": self.gold_sentence,
                "gold_passage": self.gold_passage, "in_evidence": self.in_evidence, "chosen_at1": self.chosen_at1,
                "chosen_at3": self.chosen_at3, "pipeline": self.item.all_terms, "refused": self.item.refused}


def _has_terms(item: EvalItem, text: str) -> bool:
    return all(_norm(m) in _norm(text) for m in item.must_mention)


def _read(gen, question: str, texts: Sequence[str]) -> str:
    from rag.answer.compose import read_messages

    return "".join(gen.stream(read_messages(question, texts), READ_TOKENS))


def _gold_passage(data, item: EvalItem) -> str | None:
    """The indexed chunk that holds all of the item's evidence (the first, in index order)."""
    wanted = [_norm(e) for e in item.evidence]
    for c in data.chunks:
        text = _norm(c.text)
        if all(w in text for w in wanted):
            return c.text
    return None


def ladder_items(pipeline, items: Sequence[EvalItem], k: int = 5) -> Iterator[LadderRow]:
    """Every rung for each item, one item at a time (so a stopped run keeps what it measured)."""
    from rag.answer.choose import choose

    answerer = pipeline.answerer
    gen = pipeline.generator
    docs = DocCache(pipeline)
    s = pipeline.settings
    for item in items:
        ctx = answerer._context()
        scored = score_answer(item, pipeline.answer(item.question), docs, k)
        if not item.answerable or not item.evidence:
            yield LadderRow(scored, None, None, None, None, None)
            continue
        gold_sentence = _has_terms(item, _read(gen, item.question, [" ".join(item.evidence)]))
        passage = _gold_passage(ctx.retriever.data, item)
        gold_passage = _has_terms(item, _read(gen, item.question, [passage])) if passage else False
        passages = ctx.retriever.search(item.question, s.top_k)
        units = ctx.selector.select(item.question, passages, ctx.documents, ctx.sentence_index)
        gold = [i for i, u in enumerate(units)
                if any(_norm(e) in _norm(u.text) or _norm(u.text) in _norm(e) for e in item.evidence)]
        at1 = at3 = None
        if gold and units:
            order = choose(gen, item.question, units, s.choose_weight).order
            at1, at3 = order[0] in gold, bool(set(order[:3]) & set(gold))
        yield LadderRow(scored, gold_sentence, gold_passage, at1 if gold else False, at3 if gold else False,
                        bool(gold))


def ladder_summary(rows: Sequence[LadderRow]) -> dict[str, dict[str, Any]]:
    """Per question type (and "all"): each rung's rate over the answerable questions, and refusals."""
    types = [t for t in TYPES if any(r.item.type == t for r in rows)] + ["all"]
    out: dict[str, dict[str, Any]] = {}
    for t in types:
        group = [r for r in rows if t == "all" or r.item.type == t]
        ans = [r for r in group if r.item.answerable]
        una = [r for r in group if not r.item.answerable]
        out[t] = {
            "n": len(group), "answerable": len(ans),
            "gold_sentence": rounded(mean(r.gold_sentence for r in ans if r.gold_sentence is not None)),
            "gold_passage": rounded(mean(r.gold_passage for r in ans if r.gold_passage is not None)),
            "in_evidence": rounded(mean(r.in_evidence for r in ans if r.in_evidence is not None)),
            "chosen_at1": rounded(mean(r.chosen_at1 for r in ans if r.chosen_at1 is not None)),
            "chosen_at3": rounded(mean(r.chosen_at3 for r in ans if r.chosen_at3 is not None)),
            "pipeline": rounded(mean(bool(r.item.all_terms) for r in ans)),
            "cites_answer": rounded(mean(r.item.cites_answer for r in ans if r.item.cites_answer is not None)),
            "false_refusals": rounded(mean(r.item.refused for r in ans)),
            "refused_unanswerable": rounded(mean(r.item.refused for r in una)),
        }
    return out


def ladder_table(summary: dict[str, dict[str, Any]]) -> str:
    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.0%}"

    head = ("| type | n (answerable) | gold sentence | gold passage | gold in evidence | chosen @1 | chosen @3 "
            "| full pipeline | cited sentence holds it | false refusals | refused (unanswerable) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for t, m in summary.items():
        lines.append(f"| {t} | {m['n']} ({m['answerable']}) | {pct(m['gold_sentence'])} | {pct(m['gold_passage'])} "
                     f"| {pct(m['in_evidence'])} | {pct(m['chosen_at1'])} | {pct(m['chosen_at3'])} "
                     f"| {pct(m['pipeline'])} | {pct(m['cites_answer'])} | {pct(m['false_refusals'])} "
                     f"| {pct(m['refused_unanswerable'])} |")
    return "\n".join(lines)
