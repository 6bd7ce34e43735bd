"""Turn a follow-up question into a standalone search query using the conversation so far.

A rule-based rewrite, not a model call: the small default model cannot be trusted to rewrite, and the
rule is transparent (the UI shows the query it produced). A follow-up is a question that leans on
what came before: it has a pronoun or "that/this", starts with "and"/"what about", or is very short.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.keyword import STOPWORDS

ANAPHORA = re.compile(r"\b(that|this|it|its|he|she|him|her|his|hers|they|them|their|those|these|there|then|"
                      r"the same|such)\b", re.I)
LEADS = re.compile(r"^\s*(and|but|so|also|what about|how about|then)\b", re.I)
_WORD = re.compile(r"[\w’'-]+")


def is_follow_up(question: str) -> bool:
    content = [w for w in _WORD.findall(question.lower()) if w not in STOPWORDS]
    return bool(ANAPHORA.search(question) or LEADS.search(question) or len(content) <= 2)


def key_terms(text: str, limit: int = 8) -> list[str]:
    """Content words of a text, in order, without repeats."""
    out: list[str] = []
    for w in _WORD.findall(text):
        lw = w.lower()
        if lw in STOPWORDS or len(lw) < 3 or lw in (o.lower() for o in out):
            continue
        out.append(w)
    return out[:limit]


def rewrite_query(question: str, history: Sequence[dict] | None) -> str:
    """The question plus the key terms of the previous question, when it is a follow-up."""
    if not history:
        return question
    previous = [m.get("content", "") for m in history if m.get("role") == "user" and m.get("content")]
    if not previous or not is_follow_up(question):
        return question
    own = {w.lower() for w in _WORD.findall(question)}
    extra = [t for t in key_terms(previous[-1]) if t.lower() not in own]
    if not extra:
        return question
    return f"{question.strip()} ({' '.join(extra)})"
