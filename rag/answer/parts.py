"""Answers with parts: select the content first, then write it ("attribute first, then generate").

A small reader reads one sentence well and chooses among eight poorly, and asked for a short answer it writes one
sentence. So a "why", "compare" or "what about" question is not given to it whole: up to four evidence units that
each add something different are picked here (different reasons: the best units that do not repeat each other; for
a comparison, the best units of each side's article), the reader reads each alone with the question (one short
sentence, or NONE), each sentence is judged against its own unit, and those that pass make the answer, one sentence
per part, each streamed as soon as it passes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag import prompts
from rag.answer.evidence import Unit, unresolved_pronoun
from rag.dates import month_year
from rag.schema import Document
from rag.text import same_word, tokenize

MAX_PARTS = 4  # sentences in an answer with parts
PART_READS = 4  # units read for them (6 took why answers from 19 s to 33 s at p50 with no more key terms)
PART_RANK_PENALTY = 0.02  # a part may come from a lower-ranked passage: a reason is often not the best match
PART_UNITS = 12  # candidate units for the parts
SAME_MEANING = 0.86  # two units (or two written sentences) this close in meaning say the same thing
# A sentence that opens by pointing at something only the sentence before it names cannot stand alone.
_POINTS_BACK = re.compile(r"^\W*(it|this|that|these|those|they|he|she|such|there)\b(?!\s+(is|are|was|were)\s+"
                          r"(no|not)\b)", re.I)
# "... in offering one." : "one" standing for a noun the reader cannot see
_BARE_ONE = re.compile(r"(?<!\bno)(?<!\beach)(?<!\bevery)(?<!\bany)(?<!\bonly)(?<!\bthe)(?<!\bthis)(?<!\bthat)"
                       r"(?<!\bwhich)\s+one\s*[.,;!?]")
# a full stop that ends a sentence, not an abbreviation ("U.S.", "Sept.", "Mr.") or an initial
_END = (r"(?<!\b[A-Z])(?<!\b(?:Mr|Ms|Dr|St|Jr|Sr|Mt|No))(?<!\b(?:Mrs|Gen|Col|Gov|Sen|Rep|Oct|Nov|Dec|Jan|Feb|Aug|"
        r"Sep))(?<!\bSept)[.!?]")
_META = re.compile(r"\b(the|both|two|each|this|that|either|neither|first|second|other) (news )?(articles?|texts?|"
                   r"passages?|pieces?|stories|reports?|columns?)\b|\b(in|of) (each|both)\b", re.I)
# an aim the quote gives to what follows "to": "was trying to end", "needed to prop up", "in a bid to win"
_AIM = re.compile(r"\b(tr(?:y|ies|ied|ying)|aim\w*|seek\w*|sought|want\w*|intend\w*|hop(?:e|es|ed|ing)|need\w*|bid|"
                  r"effort|attempt\w*|goal\w*|purpose\w*|order|so as|mean[ts]?|designed|determined|eager|keen|"
                  r"desperate|objective\w*|motive\w*|calculation|reason\w*)\b[^.;:!?]{0,40}?\bto\s+([\w’'-]+)", re.I)
_NONE = re.compile(r"^\W*(none|n/a|no answer|not (stated|mentioned|given))\b", re.I)


@dataclass(frozen=True)
class Part:
    """One piece of evidence to read on its own, and how its sentence is introduced ("TIME (Oct 2015)")."""

    unit: int  # index into the units
    side: str = ""


def pick_parts(units: Sequence[Unit], vectors: np.ndarray, most: int = MAX_PARTS,
               floor: float = 0.0) -> list[int]:
    """The best-scored units that each add something: a unit too close in meaning to one already picked is
    skipped, and none scores below `floor` (a share of the best unit's score)."""
    order = sorted(range(len(units)), key=lambda i: -units[i].score)
    if not order:
        return []
    best = units[order[0]].score
    picked: list[int] = []
    for i in order:
        if len(picked) >= most:
            break
        if picked and best > 0 and units[i].score < floor * best:
            break
        if any(float(vectors[i] @ vectors[j]) >= SAME_MEANING or units[i].paragraph == units[j].paragraph
               for j in picked):
            continue  # says what a picked unit says, or sits in its paragraph (one part per paragraph)
        picked.append(i)
    return picked


def pick_sides(units: Sequence[Unit], sides: Sequence[Sequence[str]], vectors: np.ndarray,
               most: int = MAX_PARTS) -> list[int]:
    """For a comparison: the best units of each side in turn (side one's best, side two's best, then each one's
    next), so every side has its say before any side has two."""
    per_side: list[list[int]] = []
    for side in sides:
        idx = [i for i in range(len(units)) if units[i].doc in side]
        idx.sort(key=lambda i: -units[i].score)
        kept: list[int] = []
        for i in idx:
            if not any(float(vectors[i] @ vectors[j]) >= SAME_MEANING for j in kept):
                kept.append(i)
        per_side.append(kept)
    out: list[int] = []
    for depth in range(most):
        for kept in per_side:
            if depth < len(kept) and len(out) < most:
                out.append(kept[depth])
    return out


def side_label(doc: Document) -> str:
    """"TIME (Oct 2015)": who published a side, and when (an estimated date says so)."""
    who = re.sub(r"\s*\([^)]*\)", "", doc.outlet).strip() or doc.title  # "The Moscow Times (first published by ...)"
    when = month_year(doc.published) if doc.published else ""
    if when and doc.published_approx:
        when += ", approx."
    return f"{who} ({when})" if who and when else who or when


def part_messages(question: str, text: str) -> list[dict]:
    p = prompts.load("part")
    return [{"role": "system", "content": p["system"]},
            {"role": "user", "content": p["user"].format(text=" ".join(text.split()), question=question)}]


def first_sentence(reply: str) -> str | None:
    """The reader's one sentence, or None when it said NONE (or nothing)."""
    text = " ".join(reply.replace("**", "").split()).strip(" -*•")
    if not text or _NONE.match(text):
        return None
    m = re.search(_END + r"(?=\s+[A-Z“\"]|$)", text)
    sentence = text[:m.end()] if m else text
    return sentence or None


def drop_premise(sentence: str, question: str) -> str:
    """"Western leaders were keen to end the war because millions had fled" -> "Millions had fled": the part before
    "because" restates the question (most of its words are the question's), and the reason stands on its own."""
    m = re.match(r"^(.*?),?\s+(because|since|as)\s+(?!of\b|a result\b|well\b|long\b|much\b|many\b)(.+)$", sentence,
                 re.I)
    if not m:
        return sentence
    head, asked = set(tokenize(m.group(1))), set(tokenize(question))
    if not head or len(head & asked) < 0.6 * len(head) or len(m.group(3).split()) < 4:
        return sentence
    rest = m.group(3).strip()
    return rest[:1].upper() + rest[1:]


def invented_purpose(sentence: str, question: str, quote: str) -> bool:
    """"Putin entered Syria to pursue contact with the U.S." from "Putin instructed the forces to pursue contact":
    the sentence restates the question and gives what follows "to" as its purpose, and the quote gives no such aim
    (no "trying to", "needed to", "in a bid to" ... before that verb). A reader asked "why" makes that link itself."""
    m = re.match(r"^(.*?)\s+(?:in order |so as |in an? (?:effort|attempt|bid) )?to\s+([\w’'-]+)", sentence, re.I)
    if not m:
        return False
    head, asked = set(tokenize(m.group(1))), set(tokenize(question))
    if len(head) < 2 or len(head & asked) < 0.6 * len(head):
        return False
    verb = tokenize(m.group(2))
    if not verb:
        return False
    for aim in _AIM.finditer(quote):
        said = tokenize(aim.group(2))
        if said and same_word(said[0], verb[0]):
            return False
    return True


def sentence_done(reply: str) -> bool:
    """The reader has finished its first sentence (the next one has begun, or a new line)."""
    return bool(re.search(_END + r"[”\"’']?\s+[A-Z“\"]", reply) or re.search(r"\S\s*\n", reply))


def stands_alone(sentence: str) -> bool:
    """A shown sentence must make sense without the one before it: no opening pronoun for someone it does not
    name, no bare "one" for a noun only the quote has; and it tells the news, not what "the articles" or "the
    text" do."""
    return not (unresolved_pronoun(sentence) or _POINTS_BACK.match(sentence) or _BARE_ONE.search(sentence)
                or _META.search(sentence))


def repeats(sentence: str, kept: Sequence[str]) -> bool:
    """Whether `sentence` says what a kept sentence already says (most of its words are there)."""
    words = set(tokenize(sentence))
    for other in kept:
        theirs = set(tokenize(other))
        if words and theirs and len(words & theirs) / min(len(words), len(theirs)) >= 0.7:
            return True
    return False
