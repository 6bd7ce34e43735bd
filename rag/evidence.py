"""Evidence-first answering, step one: pick the few source sentences that answer the question,
and decide whether the articles answer it at all.

Scores mix meaning (cosine of sentence embeddings) and wording (IDF-weighted share of the question's
terms the sentence contains). Answerability adds checks on what kind of answer the question needs:
a number for "how many", a time for "when", a name for "who".
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rag.embed import Embedder
from rag.keyword import tokenize
from rag.schema import Document, Passage
from rag.verify import COMMON_CAPITALISED, names_in

SPEECH = re.compile(r"\b(said|says|say|told|tells|tell|according to|asked|added|wrote|declared|insist\w*|"
                    r"argued?|claim\w*|stated?|noted?|explained?)\b", re.I)
QUOTE_CHARS = "“”\""
NUMBER_WORDS = ("one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty fifty "
                "hundred hundreds thousand thousands million millions billion billions dozen dozens").split()
NUMBER = re.compile(r"\b\d[\d,.]*\b|\b(" + "|".join(NUMBER_WORDS) + r")\b", re.I)
MONTHS = ("january february march april may june july august september october november december "
          "jan feb mar apr jun jul aug sept sep oct nov dec").split()
TIME = re.compile(r"\b(1[89]\d\d|20\d\d|" + "|".join(MONTHS) + r"|monday|tuesday|wednesday|thursday|friday|"
                  r"saturday|sunday|yesterday|today|tomorrow|week|month|year|hours?|days?|ago|later|since|"
                  r"summer|winter|spring|autumn|fall|decade)\b", re.I)
NAME = re.compile(r"\b[A-Z][a-z’'\-]+(?:\s+[A-Z][a-z’'\-]+)*")


@dataclass
class EvidenceSentence:
    doc: str
    start: int
    end: int
    text: str
    passage_rank: int
    index: int  # position of the sentence within its document
    dense: float = 0.0
    lexical: float = 0.0
    score: float = 0.0
    context: list["EvidenceSentence"] = field(default_factory=list)  # neighbours added for attribution/time
    window: str = ""  # the sentence with its neighbours in the paragraph: what a question may restate

    @property
    def key(self) -> tuple[str, int]:
        return (self.doc, self.start)


@dataclass
class Selection:
    sentences: list[EvidenceSentence]  # chosen evidence, best first (each may carry context neighbours)
    candidates: list[EvidenceSentence]  # all scored candidates, best first
    answerable: bool
    reason: str  # why it was judged unanswerable ("" when answerable)


CAUSE = re.compile(r"\b(because|since|so that|in order to|trying to|tried to|aim\w*|goal\w*|objective\w*|"
                   r"reason\w*|wanted to|wants to|needed to|sought|motive\w*|to ensure|to end|to prevent|"
                   r"to protect|to save|to maintain|calculation)\b", re.I)

# Words that shape a question about the articles rather than name what it is about.
SCAFFOLDING = frozenset(tokenize(
    "article articles mention mentioned mentions context role roles play plays played each both two compare "
    "compared comparison differ difference different according describe described explain happen happened "
    "way ways kind end up come comes came appear appears discuss discussed cover covered", keep_stopwords=True))
MULTI_SOURCE = re.compile(r"\b(both|each of the|two articles|the articles|compare[sd]?|comparison|differ\w*|"
                          r"in each)\b", re.I)
SPEECH_QUESTION = re.compile(r"\b(?:what|how) (?:did|does|do|has|have|had) ((?:[\w.’'-]+\s+){0,4}?[\w.’'-]+) "
                             r"(?:say|said|tell|told|"
                             r"write|think|call|respond|react|reply|answer)\b", re.I)
YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
EXACT_DATE_QUESTION = re.compile(r"\b(?:what|which|exact) (?:date|day)\b|\bon what (?:date|day)\b", re.I)
EXACT_DATE = re.compile(r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sept?|oct|nov|dec)[a-z]*\.? \d{1,2}\b|"
                        r"\b\d{1,2} (?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b|"
                        r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|yesterday|today|tomorrow)\b|"
                        r"\b\d{4}-\d\d-\d\d\b", re.I)


def question_terms(question: str) -> set[str]:
    return {t for t in tokenize(question) if t not in SCAFFOLDING}


def _same_word(a: str, b: str) -> bool:
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


def question_kind(question: str) -> str:
    q = question.lower()
    if re.search(r"\bhow (many|much)\b", q):
        return "quantity"
    if re.search(r"\b(when|what year|which year|what date|what day|what month|how long ago)\b", q):
        return "time"
    if re.search(r"^\W*(who|whom|whose)\b|\bwho (said|says|is|was|were|gave|ordered|told)\b|"
                 r"\bwhich (\w+ )?(official|leader|president|minister|person|people|analyst|diplomat)\b", q):
        return "person"
    return "other"


def quantity_focus(question: str) -> list[str]:
    """The thing counted in "how many X": its stemmed content words."""
    m = re.search(r"\bhow (?:many|much)\s+((?:[\w’'-]+\s*){1,3})", question.lower())
    if not m:
        return []
    words = m.group(1).split()
    aux = {"did", "do", "does", "were", "was", "are", "is", "have", "has", "had", "will", "would", "could", "can"}
    cut = next((i for i, w in enumerate(words) if w in aux), min(2, len(words)))
    terms = tokenize(" ".join(words[:cut]))
    return terms[-1:]


_NOT_PEOPLE = {m.capitalize() for m in MONTHS} | {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                                 "Saturday", "Sunday"}
_FULL_NAME = re.compile(r"\b([A-Z][a-z’'\-]+(?:\s+[A-Z][a-z’'\-]+)+)")
_SPEAKER = re.compile(r"\b(?:says|said|told|tells|asks|asked)\s+([A-Z][a-z’'\-]+)|([A-Z][a-z’'\-]+)\s+(?:says|said|told)\b")


def people_in(text: str) -> set[str]:
    """Words that name people: parts of a full name ("Ash Carter") or the one who "said" something."""
    out: set[str] = set()
    for m in _FULL_NAME.finditer(text):
        words = [w for w in m.group(1).split() if w not in _NOT_PEOPLE and w not in COMMON_CAPITALISED]
        if len(words) >= 2:
            out.update(words)
    for m in _SPEAKER.finditer(text):
        out.add(m.group(1) or m.group(2))
    return out - COMMON_CAPITALISED


class SentenceVectors:
    """An LRU cache of sentence embeddings, keyed by document and span, so repeat questions stay fast."""

    def __init__(self, embedder: Embedder, capacity: int = 20000) -> None:
        self.embedder = embedder
        self.capacity = capacity
        self._cache: OrderedDict[tuple[str, int, int], np.ndarray] = OrderedDict()

    def get(self, items: Sequence[tuple[str, int, int, str]]) -> np.ndarray:
        missing = [(k, t) for (*k, t) in items if tuple(k) not in self._cache]
        if missing:
            vecs = self.embedder.embed([t for _, t in missing])
            for (k, _), v in zip(missing, vecs):
                self._cache[tuple(k)] = v
        out = []
        for d, a, b, _ in items:
            self._cache.move_to_end((d, a, b))
            out.append(self._cache[(d, a, b)])
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        return np.vstack(out) if out else np.zeros((0, 1), np.float32)


class EvidenceSelector:
    def __init__(self, embedder: Embedder, idf: dict[str, float], *, min_score: float = 0.42,
                 min_dense: float = 0.42, weak_dense: float = 0.3, strong_coverage: float = 0.6,
                 min_coverage: float = 0.35, max_sentences: int = 2, relative: float = 0.85) -> None:
        self.min_dense = min_dense
        self.weak_dense = weak_dense
        self.strong_coverage = strong_coverage
        self.embedder = embedder
        self.idf = idf
        self.vectors = SentenceVectors(embedder)
        self.min_score = min_score
        self.min_coverage = min_coverage
        self.max_sentences = max_sentences
        self.relative = relative
        self._max_idf = max(idf.values(), default=1.0)

    def weight(self, token: str) -> float:
        return self.idf.get(token, self._max_idf)

    def coverage(self, q_terms: set[str], text: str) -> float:
        """IDF-weighted share of the question's terms found in `text` (a term matches its variants)."""
        if not q_terms:
            return 0.0
        s_terms = set(tokenize(text))
        total = sum(self.weight(t) for t in q_terms)
        return sum(self.weight(t) for t in q_terms if any(_same_word(t, w) for w in s_terms)) / total

    def candidates(self, passages: Sequence[Passage], documents: dict[str, Document]) -> list[EvidenceSentence]:
        seen: set[tuple[str, int]] = set()
        out: list[EvidenceSentence] = []
        for p in passages:
            doc = documents.get(p.chunk.doc)
            if doc is None:
                continue
            for s in p.chunk.sentences:
                if (p.chunk.doc, s.start) in seen:
                    continue
                seen.add((p.chunk.doc, s.start))
                out.append(EvidenceSentence(p.chunk.doc, s.start, s.end, doc.text[s.start:s.end], p.rank, -1))
        return out

    def select(self, query: str, passages: Sequence[Passage], documents: dict[str, Document],
               sentence_index: dict[str, list[tuple[int, int]]]) -> Selection:
        cands = self.candidates(passages, documents)
        if not cands:
            return Selection([], [], False, "no passages")
        q_terms = question_terms(query)
        why = bool(re.match(r"\W*why\b", query, re.I))
        qv = self.embedder.embed([query])[0]
        sv = self.vectors.get([(c.doc, c.start, c.end, c.text) for c in cands])
        dense = sv @ qv
        for c, d in zip(cands, dense):
            c.dense = float(d)
            c.lexical = self.coverage(q_terms, c.text)
            c.score = 0.6 * c.dense + 0.4 * c.lexical - 0.01 * (c.passage_rank - 1)
            if why and CAUSE.search(c.text):
                c.score += 0.05  # an explanation says so: "because", "trying to", "in order to", "aim"
        cands.sort(key=lambda c: -c.score)
        best = cands[0]
        chosen = [best]
        relative, on_topic = self.relative, self.weak_dense
        if why:
            relative = 0.75  # reasons are often given in more than one place
        if MULTI_SOURCE.search(query):
            # a question about several articles or a comparison needs more than one piece of evidence
            relative, on_topic = 0.7, self.weak_dense - 0.1
            for c in cands[1:]:
                if c.doc not in {x.doc for x in chosen} and c.score >= 0.6 * best.score and c.dense >= on_topic:
                    chosen.append(c)
        for c in cands[1:]:
            if len(chosen) >= self.max_sentences:
                break
            # extra evidence must be about the question too, not just share a word with it
            if (c not in chosen and c.score >= relative * best.score and c.score >= self.min_score
                    and c.dense >= on_topic):
                chosen.append(c)
        for c in chosen:
            c.context = self._context(c, query, documents, sentence_index)
        answerable, reason = self._answerable(query, chosen, q_terms)
        return Selection(chosen, cands, answerable, reason)

    def _context(self, c: EvidenceSentence, query: str, documents: dict[str, Document],
                 sentence_index: dict[str, list[tuple[int, int]]]) -> list[EvidenceSentence]:
        """Neighbouring sentences a reader needs: who said a quote, or when it happened."""
        spans = sentence_index.get(c.doc, [])
        pos = next((i for i, (a, _) in enumerate(spans) if a == c.start), -1)
        c.index = pos
        if pos < 0:
            return []
        text = documents[c.doc].text
        lo, hi = pos, pos
        while lo > max(0, pos - 2) and "\n" not in text[spans[lo - 1][1]:spans[lo][0]]:
            lo -= 1
        while hi < min(len(spans) - 1, pos + 2) and "\n" not in text[spans[hi][1]:spans[hi + 1][0]]:
            hi += 1
        c.window = text[spans[lo][0]:spans[hi][1]]
        kind = question_kind(query)
        attributed = bool(people_in(c.text)) and bool(SPEECH.search(c.text))
        need_speaker = not attributed and (any(ch in c.text for ch in QUOTE_CHARS) or kind == "person")
        need_time = kind == "time" and not TIME.search(c.text)
        out = []
        if re.match(r"\W*why\b", query, re.I) and pos + 1 < len(spans):
            # an explanation usually goes on in the next sentence of the paragraph
            a, b = spans[pos + 1]
            if "\n" not in text[c.end:a]:
                out.append(EvidenceSentence(c.doc, a, b, text[a:b], c.passage_rank, pos + 1))
        if need_speaker or need_time:
            for j in (pos - 1, pos + 1):
                if 0 <= j < len(spans):
                    a, b = spans[j]
                    t = text[a:b]
                    introduces_quote = j == pos - 1 and t.rstrip().endswith(":")
                    if "\n" in text[min(a, c.start):max(b, c.end)] and not introduces_quote:
                        continue  # stay inside the paragraph, unless it ends "..., said this:" before a quote
                    if (need_speaker and SPEECH.search(t) and NAME.search(t)) or (need_time and TIME.search(t)):
                        out.append(EvidenceSentence(c.doc, a, b, t, c.passage_rank, j))
                        break
        return out

    def _answerable(self, query: str, chosen: list[EvidenceSentence], q_terms: set[str]) -> tuple[bool, str]:
        best = chosen[0]
        texts = [s.text for c in chosen for s in [c, *c.context]]
        joined = " ".join(texts)
        # a question often restates what the sentences around the answer say
        around = " ".join([joined, *(c.window for c in chosen)])
        covered = self.coverage(q_terms, around)
        # close in meaning, or holding most of the question's words while not far off in meaning
        if not (best.dense >= self.min_dense or (covered >= self.strong_coverage and best.dense >= self.weak_dense)):
            return False, f"evidence is not close enough (cosine {best.dense:.2f}, covers {covered:.0%} of terms)"
        if covered < self.min_coverage:
            return False, f"evidence covers only {covered:.0%} of the question's terms"
        kind = question_kind(query)
        speech = SPEECH_QUESTION.search(query)
        if speech:
            who = [w for w in re.findall(r"[A-Z][\w’'-]+", speech.group(1))]
            said = [t for t in texts if SPEECH.search(t) or any(ch in t for ch in QUOTE_CHARS)]
            if not said or (who and not any(all(w in t for w in who) for t in said)):
                return False, f"no statement by {speech.group(1)!r} in the evidence"
        if kind == "quantity":
            focus = quantity_focus(query)
            # a day of the month or a year is not a count
            with_number = [t for t in texts if NUMBER.search(YEAR.sub(" ", EXACT_DATE.sub(" ", t)))]
            if not with_number:
                return False, "no number in the evidence for a 'how many' question"
            if focus and not any(set(focus) & set(tokenize(t)) for t in with_number):
                return False, f"no number about {' '.join(focus)!r} in the evidence"
        elif kind == "person":
            if not (people_in(joined) - names_in(query)):
                return False, "no person named in the evidence for a 'who' question"
            # what the person did ("gave the order") must be there, not just the names around it
            entity_words = set(tokenize(" ".join(names_in(query))))
            predicate = {t for t in q_terms if t not in entity_words}
            if predicate and self.coverage(predicate, around) < 0.4:
                return False, "the evidence names people, but not doing what the question asks"
        elif kind == "time" and not TIME.search(joined):
            return False, "no date or time in the evidence for a 'when' question"
        if EXACT_DATE_QUESTION.search(query) and not EXACT_DATE.search(joined):
            return False, "the question asks for a date; the evidence gives none"
        return True, ""


def document_idf(chunks_tokens: Sequence[set[str]]) -> dict[str, float]:
    n = len(chunks_tokens)
    df: dict[str, int] = {}
    for toks in chunks_tokens:
        for t in toks:
            df[t] = df.get(t, 0) + 1
    return {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
