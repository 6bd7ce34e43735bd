"""Answering, step two: choose the sentence that answers, and whether any does.

A small reader given eight sentences from five passages mixes their people up; given the one sentence that answers,
it reads it right far more often. So before it writes, the reader is shown the numbered evidence once and its
first-token distribution is read: the probability of each sentence number, and of NONE. That ranks the sentences
(combined with the retrieval score, which knows what the reader does not: how well the passage matched), and says
whether any answers (answerability, for refusing). One pass over the evidence, no text generated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag import prompts
from rag.answer.evidence import Unit

NONE_WORD = "NONE"
MAX_CHOICES = 9  # sentence numbers are single tokens 1-9 for the readers we ship
# Questions whose answer takes several sentences: reasons, comparisons, and things asked about each of several.
SEVERAL = re.compile(r"^\W*(why|how come|what (were|are|was|is) the (reasons?|causes?|role)|what led)\b|"
                     r"\b(compare[sd]?|comparison|differ\w*|both|each|in what (context|way)|what role|and (why|how|"
                     r"what|when|where|who))\b", re.I)


@dataclass
class Choice:
    """The evidence units ranked by how well each answers the question, and whether any does."""

    order: list[int]  # unit indexes, best first
    p: list[float]  # the reader's probability for each unit (same indexes as the units)
    p_none: float | None  # the reader's probability that no sentence answers (None: the runtime can't tell)

    @property
    def best(self) -> int:
        return self.order[0]

    def chosen(self, question: str, share: float, most: int = 3) -> list[int]:
        """The units to read: the best one, and for a "why" question the next ones the reader rates nearly as
        high (each reason may sit in its own sentence)."""
        out = [self.best]
        if SEVERAL.search(question):
            top = self.p[self.best]
            out += [i for i in self.order[1:most] if top <= 0 or self.p[i] >= share * top]
        return out


def choose_messages(question: str, units: Sequence[Unit]) -> list[dict]:
    p = prompts.load("choose")
    msgs = [{"role": "system", "content": p["system"]}]
    for ex in p.get("examples", []):
        msgs.append({"role": "user", "content": p["user"].format(sentences=ex["sentences"].strip(),
                                                                 question=ex["question"])})
        msgs.append({"role": "assistant", "content": str(ex["answer"]).strip()})
    sentences = "\n".join(f"[{i + 1}] {' '.join(u.text.split())}" for i, u in enumerate(units))
    msgs.append({"role": "user", "content": p["user"].format(sentences=sentences, question=question)})
    return msgs


def choose(gen, question: str, units: Sequence[Unit], retrieval_weight: float) -> Choice:
    """Rank `units` (at most MAX_CHOICES) by log P(reader picks it) + retrieval_weight * retrieval score."""
    units = list(units)[:MAX_CHOICES]
    probe = getattr(gen, "first_token_probs", None)
    words = [str(i + 1) for i in range(len(units))]
    probs = probe(choose_messages(question, units), words + [NONE_WORD]) if probe is not None and units else None
    if not probs:  # a chat server: retrieval alone ranks, and the reader's own reply decides answerability
        order = sorted(range(len(units)), key=lambda i: -units[i].score)
        return Choice(order, [0.0] * len(units), None)
    p = [float(probs.get(w, 0.0)) for w in words]
    p_none = float(probs.get(NONE_WORD, 0.0))
    total = sum(p) + p_none
    if total > 0:  # the reader may want to open with "[": only the split between the options matters
        p, p_none = [x / total for x in p], p_none / total
    order = sorted(range(len(units)),
                   key=lambda i: -(math.log(max(p[i], 1e-6)) + retrieval_weight * units[i].score))
    return Choice(order, p, p_none)
