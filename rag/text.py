"""Words, as every stage sees them: the tokenizer and light stemmer BM25 indexes with, the fuzzy word match that
evidence selection and verification share, and the capitalised words that count as names.

Keeping them in one module means a question, a chunk, an evidence sentence and a model's sentence are all cut
into words the same way."""

from __future__ import annotations

import re

TOKEN = re.compile(r"[\w]+(?:[’'][\w]+)?", re.UNICODE)

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not now of off on once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours yourself yourselves
    s t don say says said tell told also us""".split()
)


def stem(token: str) -> str:
    """A light English stemmer: enough to match "strikes"/"strike", "bombing"/"bomb", "sanctions"/"sanction"."""
    t = token
    for suffix, repl in (("’s", ""), ("'s", ""), ("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if t.endswith(suffix) and len(t) - len(suffix) >= 3:
            t = t[: len(t) - len(suffix)] + repl
            break
    return t


def same_word(a: str, b: str) -> bool:
    """Stems match, or one word contains the other ("russia"/"russian", "danger"/"endanger")."""
    if a == b:
        return True
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    if len(short) >= 5 and short in long_:
        return True
    if len(short) >= 3 and long_.startswith(short) and len(long_) - len(short) <= 2:
        return True  # "vot"/"vote": what the light stemmer leaves of "voted"
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n >= 6


# raw token as matched -> (stemmed token, is a stopword); the stemmer runs once per distinct word
TOKEN_CACHE: dict[str, tuple[str, bool]] = {}
_CACHE_LIMIT = 2_000_000


def normalise(raw: str) -> tuple[str, bool]:
    t = raw.lower().replace("’", "'")
    hit = (stem(t), t in STOPWORDS)
    if len(TOKEN_CACHE) >= _CACHE_LIMIT:
        TOKEN_CACHE.clear()
    TOKEN_CACHE[raw] = hit
    return hit


def tokenize(text: str, keep_stopwords: bool = False) -> list[str]:
    cache = TOKEN_CACHE
    out = []
    for raw in TOKEN.findall(text):
        hit = cache.get(raw) or normalise(raw)
        if keep_stopwords or not hit[1]:
            out.append(hit[0])
    return out


_NAME_WORD = re.compile(r"\b[A-Z][\w’'\-]*")
COMMON_CAPITALISED = {w.capitalize() for w in STOPWORDS} | {
    "The", "A", "An", "In", "On", "At", "As", "But", "And", "Or", "So", "Yet", "If", "When", "While", "After",
    "Before", "Since", "According", "However", "Still", "Also", "It", "Its", "This", "That", "These", "Those",
    "He", "She", "They", "We", "I", "His", "Her", "Their", "Our", "My", "Yes", "No", "Mr", "Mrs", "Ms", "Dr",
}


def names_in(text: str) -> set[str]:
    """Capitalised words that are not sentence-initial function words: people, places, organisations, months."""
    out = set()
    for m in _NAME_WORD.finditer(text):
        w = re.sub(r"[’'](s)?$", "", m.group(0))
        if w and w not in COMMON_CAPITALISED and len(w) > 1:
            out.add(w)
    return out
