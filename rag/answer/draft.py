"""The model's draft, sentence by sentence: where its sentences end, the [n] markers it cites with, and the clean-up a
sentence gets before it is shown (no list bullets, no dangling connective, markers before the full stop)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.ingest.segment import split_sentences

_MARKERS = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_LIST_LEAD = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
# Openers that tie a sentence to one the reader cannot see; dropped from a sentence that starts the answer.
_DANGLING = re.compile(r"^(indeed|but|and|however|still|so(?! far| much| many)|yet|also|moreover|meanwhile|"
                       r"instead(?! of)|thus|rather(?! than)|in fact|after all)\b,?\s+", re.I)


# How a reader model says "the sentences don't say" when it does not use the word it was asked to use.
REFUSAL_TEXT = re.compile(r"^\W*(none\b|no\b[^.]*\b(answer|information|mention)|(the )?(sentences|articles|text|"
                          r"quotes)\s+(do|does|did)\s*n[o']t|there is no|it is not (mentioned|stated|said|clear)|"
                          r"(this|that) is not (mentioned|stated)|not (mentioned|stated|specified|given|provided)|"
                          r"i (do not|don't|cannot|can't) (know|find|answer))", re.I)


def asked_to_stop(stop) -> bool:
    """Whether the user's stop() (or none) says to end the answer now."""
    return stop is not None and bool(stop())


@dataclass
class Draft:
    """What the model has written so far, and which of its sentences were already judged."""

    text: str = ""
    judged: int = 0  # complete sentences already verified
    kept: list[tuple[str, list[int]]] = field(default_factory=list)  # (sentence without markers, unit indexes)
    failures: list[str] = field(default_factory=list)  # the judge's kind of failure for each sentence turned down


def draft_sentences(text: str) -> list[str]:
    """Sentences of the draft with their [n] markers (a marker after the full stop belongs to the sentence)."""
    lines = [_LIST_LEAD.sub("", ln).replace("**", "").strip() for ln in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if not line:
            continue
        for s in split_sentences(line):
            piece = line[s.start:s.end].strip()
            if out and re.fullmatch(r"(\[\d+(?:\s*[,;]\s*\d+)*\]\s*)+[.]?", piece):
                out[-1] += " " + piece  # "... later. [2]" split after the full stop
            elif piece:
                out.append(piece)
    return out


def strip_markers(raw: str) -> tuple[str, list[int]]:
    cited = [int(n) for m in _MARKERS.finditer(raw) for n in re.split(r"\s*[,;]\s*", m.group(1))]
    sentence = _MARKERS.sub("", raw).strip()
    sentence = re.sub(r"\s+([.!?,;:])", r"\1", sentence)
    if sentence and sentence[-1] not in ".!?\"”":
        sentence += "."
    return sentence, cited


def plain_start(sentence: str) -> str:
    """An answer does not open with a connective that points at a sentence the reader never saw."""
    s = _DANGLING.sub("", sentence.strip(), count=1)
    return s[:1].upper() + s[1:] if s else sentence


def attach_markers(sentence: str, marks: str) -> str:
    """Put citation markers before the final full stop: "... later [1]."."""
    s = sentence.rstrip()
    if not marks:
        return s
    if s.endswith((".", "!", "?")) and not s.endswith(("..", "”.", '".')):
        return f"{s[:-1]} {marks}{s[-1]}"
    return f"{s} {marks}"
