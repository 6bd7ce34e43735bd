"""The question's shape decides the reading: one answer (who, when, where, how many, which, a name) is chosen and read
narrowly; an answer with parts (why/how/explain, compare/differ, both/each, "what do the articles say about X",
"what happened") is selected first (several evidence units that each add something), then read unit by unit.

Only the question's grammar is looked at here: its opening words and the words that ask for several things. Which
articles a comparison's sides are is decided against the library (`sides_of`), from the years, outlets and
"the 2015 article"-like words the question names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from rag.schema import Document

ONE, REASONS, COMPARE, ABOUT = "one", "reasons", "compare", "about"

# Openers of a question with one answer.
_ONE = re.compile(r"^(who|whom|whose|when|where|which|how (many|much|long|old|far|often|soon|high|big|large|"
                  r"deep|tall)|what (year|date|day|month|time|number|percentage|share|amount|city|country|"
                  r"town|place|name|is the name|was the name|are the names|were the names)|since when|"
                  r"until when|name the|is|are|was|were|did|does|do|has|have|had|can|could|will|would)\b", re.I)
_REASONS = re.compile(r"^(why|how come|how (did|does|do|can|could|would|will|is|was|are|were|has|have|had|"
                      r"should)|what (were|are|was|is) the (reasons?|causes?|motives?|purpose|goals?|aims?|"
                      r"consequences?|effects?|impact)|what (led|caused|drove|made|prompted|motivated)|explain|"
                      r"in what way)\b", re.I)
_COMPARE = re.compile(r"\b(compare[sd]?|comparing|comparison|differ\w*|difference|versus|vs\.?|both|each|"
                      r"two articles|two pieces|the (?:two|2) (?:stories|reports)|contrast\w*|similar\w*|alike|"
                      r"in what context|what role|(?:19|20)\d\d\b.*\b(?:19|20)\d\d)\b", re.I)
_ABOUT = re.compile(r"^(what (do|does|did) (the )?(articles?|pieces?|reports?|stories|story|\w+) (say|report|"
                    r"write|tell)|what happened|what is happening|tell me about|what about|summari[sz]e|"
                    r"what (is|was|are|were) (the )?(role|situation|story|background))\b", re.I)
_STRICT_ONE = re.compile(r"^(who|whom|whose|when|where|which|how (many|much|long|old|far|often|soon)|"
                         r"what (year|date|day|month|time|is the name|was the name))\b", re.I)
_BEHIND = re.compile(r"^what (was|is|were|are)\b.*\bbehind\b", re.I)
_WORDS = re.compile(r"[\w’'.-]+")
_YEAR = re.compile(r"\b(19\d\d|20\d\d)\b")
# "the 2015 article", "the first piece", "the TIME article": the question points at one article
_ARTICLE = re.compile(r"\b(articles?|pieces?|stories|story|reports?|columns?|op-eds?)\b", re.I)


@dataclass(frozen=True)
class Shape:
    """How a question is read: `kind` is ONE, REASONS, COMPARE or ABOUT; `years` and `words` are what the
    question names that can pick an article for each side of a comparison."""

    kind: str
    years: tuple[str, ...] = ()
    text: str = ""

    @cached_property
    def words(self) -> frozenset[str]:
        """The question's words, lowercased, without a possessive "'s"."""
        return frozenset(re.sub(r"['’]s$", "", w.lower().strip(".’'")) for w in _WORDS.findall(self.text))

    @property
    def parts(self) -> bool:
        return self.kind != ONE


def question_sentence(question: str) -> str:
    """The part that asks: "TIME said X. According to the 2020 article, who ...?" asks its last sentence; a lead-in
    ("According to ...,", "In TIME's account,") is dropped."""
    pieces = [p.strip() for p in re.split(r"(?<=[.!?])\s+(?=[A-Z“\"'‘])", question.strip()) if p.strip()]
    asking = [p for p in pieces if p.endswith("?")] or pieces or [question]
    s = asking[-1]
    s = re.sub(r"^\W*((according to [^,]+|in [^,]+?(account|view|words|article|piece)|ok(ay)?),|(so|and|but|also|"
               r"then)\b,?)\s*", "", s, flags=re.I)
    return s.strip(" '\"‘’“”")


def question_shape(question: str) -> Shape:
    asking = question_sentence(question)
    years = tuple(dict.fromkeys(_YEAR.findall(question)))
    if _COMPARE.search(question) or (len(years) >= 2 and _ARTICLE.search(question)):
        kind = COMPARE
    elif _REASONS.match(asking) or _BEHIND.match(asking):
        kind = REASONS
    elif _ABOUT.match(asking):
        kind = ABOUT
    elif _ONE.match(asking):
        kind = ONE
    elif re.match(r"^what\b", asking, re.I) and re.search(r"\b(and (why|how)|reasons?|why)\b", asking, re.I):
        kind = REASONS
    else:
        kind = ONE
    # a one-answer question that happens to say "both", "each" or "compared" stays one ("who compared X to Y?")
    if kind == COMPARE and _STRICT_ONE.match(asking) and len(years) < 2 \
            and not re.search(r"\b(in what context|what role)\b", question, re.I):
        kind = ONE
    return Shape(kind, years, question)


def sides_of(shape: Shape, documents: Mapping[str, Document], retrieved: Sequence[str]) -> list[list[str]]:
    """The documents standing for each side of a comparison, best-retrieved first: one side per year or outlet the
    question names (when articles of the library match it), else, for "both/each/two articles", one side per
    retrieved article (the best two). Fewer than two sides: no comparison by article."""
    if shape.kind != COMPARE:
        return []
    order = {d: i for i, d in enumerate(dict.fromkeys(retrieved))}
    ranked = sorted(documents, key=lambda d: order.get(d, len(order)))
    sides: list[list[str]] = []
    for year in shape.years:
        side = [d for d in ranked if documents[d].published.startswith(year)]
        if side and side not in sides:
            sides.append(side)
    named: list[tuple[int, list[str]]] = []
    for d in ranked:  # an outlet named by its words ("TIME", "the Moscow Times"), in the order the question names
        outlet = documents[d].outlet
        if outlet and _names_outlet(outlet, shape) and not any(d in s for s in sides + [n for _, n in named]):
            where = shape.text.lower().find(_WORDS.findall(outlet)[-1].lower())
            named.append((where, [x for x in ranked if documents[x].outlet == outlet]))
    sides += [side for _, side in sorted(named, key=lambda n: n[0])]
    if len(sides) >= 2:
        return sides[:3]
    if re.search(r"\b(both|each|two|articles|pieces|stories|differ\w*|compare\w*|contrast\w*)\b",
                 " ".join(shape.words)):
        seen = [d for d in dict.fromkeys(retrieved) if d in documents]
        if len(seen) >= 2:
            return [[d] for d in seen[:2]]
    return []


_OUTLET_SKIP = frozenset("the a an of and news times daily post new york press".split())


def _names_outlet(outlet: str, shape: Shape) -> bool:
    """The question names this outlet: its distinctive words are in it ("TIME" as written, "Moscow Times")."""
    own = _WORDS.findall(outlet)
    key = [w for w in own if w.lower() not in _OUTLET_SKIP] or own
    return bool(key) and all(re.search(rf"\b{re.escape(w)}\b", shape.text) if w.isupper() and len(w) > 1
                             else w.lower() in shape.words for w in key)
