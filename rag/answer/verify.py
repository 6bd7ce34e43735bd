"""Evidence-first answering, step three: check every sentence the model wrote against the evidence.

A sentence is supported when most of its content words come from the evidence and it means the same
(embedding cosine), and when every name, number and quotation in it appears in the evidence it cites
(or that evidence's paragraph, for names). Anything else is unsupported and never shown as fact.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.text import names_in, same_word, tokenize

NEGATION = re.compile(r"\b(not|no|never|none|nobody|nothing|neither|nor|cannot|can't|won't|didn't|doesn't|"
                      r"don't|isn't|wasn't|aren't|weren't|hasn't|haven't|without)\b|n[’']t\b", re.I)
# a number with what is glued to it ("5-4", "$3.2M", "1960s") and a scale word after it ("$3.2 million")
_NUM_PHRASE = re.compile(r"[$€£]?\d[\w$€£%.,/:–-]*(?:\s(?:million|billion|trillion|thousand|hundred|percent)\b)?",
                         re.I)
_QUOTED = re.compile(r"[“\"]([^”\"]{3,})[”\"]")


# Words of a model talking about its instructions ("the quote provided by the user") rather than the news.
PROMPT_TALK = frozenset(tokenize("quote quotes quoted user prompt passage passages question questions instructions"))


@dataclass
class Support:
    ok: bool
    sources: list[int]  # indexes into the evidence list, best first
    overlap: float
    cosine: float
    reason: str = ""


def content_terms(text: str) -> set[str]:
    return set(tokenize(text))


def number_phrases(text: str) -> set[str]:
    """Numbers as written, with what is attached to them: these must appear verbatim in the evidence."""
    out = set()
    for m in _NUM_PHRASE.finditer(text):
        p = re.sub(r"[’']s$", "", m.group(0).rstrip(".,:;–-"))
        if p:
            out.add(p.lower())
    return out


def phrase_pattern(phrase: str) -> str:
    """A number phrase standing on its own: not part of a longer number ("4" is not in "4,000" or "14")."""
    return r"(?<![\w$€£.,])" + re.escape(phrase) + r"(?![\w%]|[.,]\d)"


def _phrase_in(phrase: str, text: str) -> bool:
    return re.search(phrase_pattern(phrase), text) is not None


def _norm_quotes(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("’", "'").replace("‘", "'")).lower()


def quotes_in(text: str) -> list[str]:
    return [q.strip() for q in _QUOTED.findall(text)]


def check_sentence(sentence: str, evidence: Sequence[str], context: Sequence[str], sent_vec: np.ndarray | None,
                   ev_vecs: np.ndarray | None, *, given: set[str] = frozenset(), min_overlap: float = 0.75,
                   min_cosine: float = 0.72, paraphrase_overlap: float = 0.5, max_novel: int = 3,
                   negation: bool = True, premise: str = "") -> Support:
    """`evidence[i]` is a source sentence (with its attribution neighbours), `context[i]` its paragraph.

    `given` are the question's own words: restating them ("X plays Y" for "who plays Y?") is no new claim
    when the cited paragraph is about them too, so they count as covered there."""
    terms = content_terms(sentence)
    if not terms:
        return Support(False, [], 0.0, 0.0, "no content words")
    if terms & PROMPT_TALK:
        return Support(False, [], 0.0, 0.0, "talks about the prompt, not the news")
    found = [_matched(terms, content_terms(e)) | (terms & given & _matched(terms, content_terms(c)))
             for e, c in zip(evidence, context)]
    order = sorted(range(len(evidence)), key=lambda i: -len(found[i]))
    # the fewest evidence sentences that together hold the sentence's words
    sources: list[int] = []
    covered: set[str] = set()
    for i in order:
        gain = found[i] - covered
        if gain:
            sources.append(i)
            covered |= gain
        if covered == terms or len(sources) == 2:
            break
    overlap = len(covered) / len(terms)
    novel = len(terms) - len(covered)
    cosine = 0.0
    if sent_vec is not None and ev_vecs is not None and sources:
        cosine = float(max(ev_vecs[i] @ sent_vec for i in sources))
    if not sources:
        return Support(False, [], 0.0, cosine, "shares no words with the evidence")
    support_text = " ".join(evidence[i] for i in sources)
    support_context = " ".join([support_text, *(context[i] for i in sources)])
    close = (overlap >= min_overlap and novel <= max_novel) or (
        overlap >= paraphrase_overlap and cosine >= min_cosine and novel <= max_novel - 1)
    if not close:
        return Support(False, sources, overlap, cosine,
                       f"{novel} of its {len(terms)} content words are not in the evidence")
    # a name must stand in the evidence outside quotation marks: a quotation does not say who said it
    opening = sentence.lstrip(" “\"‘'(")
    unquoted = _QUOTED.sub(" ", support_context)
    missing_names = {n for n in names_in(_QUOTED.sub(" ", sentence)) if n not in unquoted
                     and not (opening.startswith(n) and n.lower() in unquoted.lower())}
    if missing_names:
        return Support(False, sources, overlap, cosine, f"names not in the evidence: {sorted(missing_names)}")
    flat_support = " ".join(support_text.split()).lower()
    flat_premise = " ".join(premise.split()).lower()
    missing_nums = {p for p in number_phrases(sentence) if not _phrase_in(p, flat_support)
                    and not (flat_premise and _phrase_in(p, flat_premise))}
    if missing_nums:
        return Support(False, sources, overlap, cosine, f"numbers not in the evidence: {sorted(missing_nums)}")
    norm_support = _norm_quotes(support_text)
    for q in quotes_in(sentence):
        if _norm_quotes(q).strip(" ,.") not in norm_support:
            return Support(False, sources, overlap, cosine, f"quotation not in the evidence: {q!r}")
    if negation and bool(NEGATION.search(sentence)) != bool(NEGATION.search(support_text)):
        return Support(False, sources, overlap, cosine, "negation differs from the evidence")
    return Support(True, sources, overlap, cosine)


def _matched(terms: set[str], source: set[str]) -> set[str]:
    return {t for t in terms if t in source or any(same_word(t, w) for w in source)}


def split_answer(text: str) -> list[str]:
    """Sentences of the model's answer, with any [n] markers it wrote removed (we add our own)."""
    from rag.ingest.segment import split_sentences

    text = re.sub(r"\s*\[\d+\]", "", text).strip()
    return [text[s.start : s.end] for s in split_sentences(text)]
