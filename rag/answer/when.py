"""When a question is asked about: now (the newest articles), a date ("in March 2026", "as of April", "last year"),
or a story's course ("how has X changed", "timeline of X"); which articles are about the same story; and how an
answer sentence says the date of its source ("As of 14 May 2026, ...").

News changes: the best-matching sentence may be March's picture of a strike that ended in June, with a perfectly
valid citation. A question's time words are read here, not by the model: they narrow the articles the answer may
read, and are taken out of the text that is searched and read (they match nothing in an article's sentences).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rag.dates import MONTH_PATTERN, days_in_month, month_number, prose_date
from rag.schema import DateRange, Document, Passage
from rag.text import COMMON_CAPITALISED, names_in

LATEST, AS_OF, TIMELINE = "latest", "asof", "timeline"
SAME_TIME_DAYS = 7  # reports this close to the newest one are "about the same date": their figures are compared
REPORTED_WITHIN_DAYS = 31  # a time asked about with no report of its own: the reports of the month after it
STORY_DENSE_MARGIN = 0.12  # without a name in the question, a story's articles match about as well as the best

_LATEST = re.compile(r"\b(now|right now|currently|current|latest|still|so far|to date|at present|presently|today|"
                     r"these days|at the moment|most recent|newest|as it stands|any ?more|as things stand)\b", re.I)
_CHANGE_VERB = (r"(?:chang\w*|evolv\w*|develop\w*|grow\w*|grown|gr[eo]w|ris\w*|risen|rose|f[ae]ll\w*|fallen|"
                r"mov\w*|progress\w*|shift\w*|unfold\w*|gone|went)")
_TIMELINE = re.compile(rf"\b(?:how (?:has|have|did|do|does) (?P<subject>.{{2,90}}?) {_CHANGE_VERB}(?: over time)?"
                       r"|(?:give me |what is |what's )?(?:a |the )?timeline (?:of|for) "
                       r"(?P<subject2>.{2,90}?)(?=[?.!]*$)"
                       r"|(?:the )?changes? (?:in|to) (?P<subject3>.{2,90}?) over time|over time|month by month"
                       r"|week by week|chronolog\w*|timeline)\b", re.I)
_PREP = r"(?P<prep>as of|as at|by|until|till|up to|before|since|after|from|in|during|on|at|of|for)?\s*"
_PART = r"(?:(?:the )?(?P<part>early|late|mid|start of|beginning of|end of|middle of)[-\s]+(?:of\s+)?)?"
_DAY_DATE = re.compile(rf"\b{_PREP}(?:(?P<d1>\d{{1,2}})\s+(?P<m1>{MONTH_PATTERN})\.?"
                       rf"|(?P<m2>{MONTH_PATTERN})\.?\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?,?)"
                       rf"\s+(?P<y>(?:19|20)\d{{2}})\b", re.I)
_MONTH_DATE = re.compile(rf"\b{_PREP}{_PART}(?P<m>{MONTH_PATTERN})\.?,?\s+(?P<y>(?:19|20)\d{{2}})\b", re.I)
_YEAR_DATE = re.compile(rf"\b(?P<prep>as of|by|until|before|since|after|in|during|of|for)\s+{_PART}"
                        r"(?P<y>(?:19|20)\d{2})\b(?!\s*(?:%|percent|people|workers|cases))", re.I)
_RELATIVE = re.compile(rf"\b{_PREP}(?P<rel>(?:earlier |later )?(?:last|this|past) (?:year|month))\b", re.I)


@dataclass
class TimeFocus:
    """What a question asks about in time: `kind` LATEST, AS_OF, TIMELINE or "" (no time asked), the articles'
    dates it restricts to, the question without its time words, and for a timeline what it follows."""

    kind: str = ""
    dates: DateRange = field(default_factory=DateRange)
    query: str = ""
    subject: str = ""


def time_focus(question: str, newest: str = "") -> TimeFocus:
    """Read the time words of `question`; relative ones ("last year") count back from `newest` (the newest
    article's date), since a library of old news is read as of its own time."""
    q = " ".join(question.split())
    dates, spans = _dates_in(q, newest)
    timeline = _TIMELINE.search(q)
    if timeline:
        subject = next((timeline.group(g) for g in ("subject", "subject2", "subject3") if timeline.group(g)), "")
        cut = _cut(q, spans + [(timeline.start(), timeline.end())] if not subject else spans)
        return TimeFocus(TIMELINE, dates, cut, _clean_subject(subject or cut))
    if dates and len(spans) > 1:  # "in 2015 ... in 2020": a question across times reads them all, as asked
        return TimeFocus("", dates, q)
    if dates:
        return TimeFocus(AS_OF, dates, _cut(q, spans))
    latest = [(m.start(), m.end()) for m in _LATEST.finditer(q)]
    if latest:
        return TimeFocus(LATEST, DateRange(), _cut(q, latest))
    return TimeFocus("", DateRange(), q)


def _dates_in(q: str, newest: str) -> tuple[DateRange, list[tuple[int, int]]]:
    """The range the question's date phrases give (several: from the first's start to the last's end), and where
    they are."""
    found: list[DateRange] = []
    spans: list[tuple[int, int]] = []
    for pattern in (_DAY_DATE, _MONTH_DATE, _YEAR_DATE, _RELATIVE):
        for m in pattern.finditer(q):
            if any(a <= m.start() < b or a < m.end() <= b for a, b in spans):
                continue
            lo_hi = _bounds(m, newest)
            if lo_hi is None:
                continue
            spans.append((m.start(), m.end()))
            found.append(_with_prep(lo_hi, (m.group("prep") or "").lower()))
    if len(found) < 2:
        return (found or [DateRange()])[0], spans
    since = "" if any(not r.since for r in found) else min(r.since for r in found)
    until = "" if any(not r.until for r in found) else max(r.until for r in found)
    return DateRange(since, until, undated=True), spans


def _bounds(m: re.Match, newest: str) -> tuple[dt.date, dt.date] | None:
    g = m.groupdict()
    if g.get("rel"):
        if not newest:
            return None
        ref = dt.date.fromisoformat(newest[:10])
        rel = g["rel"].lower()
        if rel.endswith("year"):
            year = ref.year - 1 if ("last" in rel or "past" in rel) else ref.year
            return dt.date(year, 1, 1), dt.date(year, 12, 31)
        month = (ref.replace(day=1) - dt.timedelta(days=1)) if ("last" in rel or "past" in rel) else ref
        return month.replace(day=1), month.replace(day=days_in_month(month.year, month.month))
    year = int(g["y"])
    month_word = g.get("m") or g.get("m1") or g.get("m2")
    day = g.get("d1") or g.get("d2")
    if month_word:
        month = month_number(month_word)
        if day:
            d = int(day)
            if not 1 <= d <= days_in_month(year, month):
                return None
            return dt.date(year, month, d), dt.date(year, month, d)
        last = days_in_month(year, month)
        lo, hi = _part(g.get("part"), 1, last)
        return dt.date(year, month, lo), dt.date(year, month, hi)
    lo, hi = _part(g.get("part"), 1, 12)
    return dt.date(year, lo, 1), dt.date(year, hi, days_in_month(year, hi))


def _part(part: str | None, first: int, last: int) -> tuple[int, int]:
    """Early/mid/late: the first, middle and last third of a month's days or a year's months."""
    part = (part or "").lower()
    third = (last - first + 1) / 3
    if part in ("early", "start of", "beginning of"):
        return first, first + round(third) - 1
    if part in ("mid", "middle of"):
        return first + round(third), first + round(2 * third) - 1
    if part in ("late", "end of"):
        return first + round(2 * third), last
    return first, last


def _with_prep(lo_hi: tuple[dt.date, dt.date], prep: str) -> DateRange:
    lo, hi = lo_hi
    if prep in ("as of", "as at", "by", "until", "till", "up to"):
        return DateRange("", hi.isoformat(), undated=True)
    if prep == "before":
        return DateRange("", (lo - dt.timedelta(days=1)).isoformat(), undated=True)
    if prep in ("since", "from"):
        return DateRange(lo.isoformat(), "", undated=True)
    if prep == "after":
        return DateRange((hi + dt.timedelta(days=1)).isoformat(), "", undated=True)
    return DateRange(lo.isoformat(), hi.isoformat(), undated=True)


def _cut(q: str, spans: Sequence[tuple[int, int]]) -> str:
    """The question without its time phrases (and the comma or "the" they leave behind)."""
    out = q
    for a, b in sorted(spans, reverse=True):
        out = out[:a] + " " + out[b:]
    out = re.sub(r"\s+([?.!,])", r"\1", " ".join(out.split()))
    out = re.sub(r"^[,\s]+|,(?=[?.!])", "", out).strip()
    return out[:1].upper() + out[1:] if out else q


def _clean_subject(subject: str) -> str:
    return re.sub(r"^(?:the (?:story|situation) (?:of|at|in|with)\s+)", "", subject.strip(" ?.!,")).strip()


def intersect(a: DateRange, b: DateRange) -> DateRange:
    """Both ranges at once (an empty result is a range that nothing falls in, not an open one)."""
    since = max(a.since, b.since)
    until = min(x for x in (a.until, b.until) if x) if (a.until or b.until) else ""
    undated = (a.undated or not a) and (b.undated or not b)
    if since and until and until < since:
        return DateRange(since, _day_before(since))  # an empty range that stays active
    return DateRange(since, until, undated)


def reported_after(dates: DateRange, days: int = REPORTED_WITHIN_DAYS) -> DateRange:
    """The range with the reports published up to `days` after its end: news of a time comes out after it."""
    if not dates.until:
        return dates
    return DateRange(dates.since, (dt.date.fromisoformat(dates.until) + dt.timedelta(days=days)).isoformat(),
                     dates.undated)


def _day_before(iso: str) -> str:
    return (dt.date.fromisoformat(iso) - dt.timedelta(days=1)).isoformat()


def newest_date(documents: Iterable[Document]) -> str:
    return max((d.published[:10] for d in documents if len(d.published or "") >= 10), default="")


def window_before(day: str, days: int = SAME_TIME_DAYS) -> DateRange:
    """The `days` up to `day`: reports this close to it tell the same moment."""
    return DateRange((dt.date.fromisoformat(day[:10]) - dt.timedelta(days=days)).isoformat(), day[:10])


def story_docs(query: str, passages: Sequence[Passage], documents: dict[str, Document]) -> list[str]:
    """The articles (best match first) that are about what the question is about: they name what it names (the
    names the question shares with any retrieved article; "Brannock"), or, when it names nothing the articles
    know, their best passage matches nearly as well as the best one does."""
    best: dict[str, Passage] = {}
    for p in passages:
        if p.chunk.doc in documents and p.chunk.doc not in best:
            best[p.chunk.doc] = p
    if not best:
        return []
    texts = {doc: f"{documents[doc].title} {documents[doc].text}".lower() for doc in best}
    opener = re.match(r"\W*([\w’'-]+)", query)  # "Give me the timeline of ...": a capital, but no name
    named = [n.lower() for n in names_in(query) if not (opener and n == opener.group(1))]
    known = [n for n in named if any(_has_word(t, n) for t in texts.values())]
    if known:
        return [doc for doc in best if all(_has_word(texts[doc], n) for n in known)]
    top = max((p.dense for p in best.values() if p.dense is not None), default=None)
    if top is None:
        return list(best)
    return [doc for doc, p in best.items() if p.dense is not None and p.dense >= top - STORY_DENSE_MARGIN]


def _has_word(text: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text) is not None


def dated_prefix(published: str, approx: bool, outlet: str = "") -> str:
    """"As of 14 May 2026, " (and "according to the Harbor Courier, " where reports of that time differ);
    "As of about October 2015, " for an estimated date; "" for an undated article."""
    when = prose_date(published, approx)
    if not when:
        return f"According to {outlet}, " if outlet else ""
    return f"As of {when}, according to {outlet}, " if outlet else f"As of {when}, "


def with_prefix(prefix: str, sentence: str, texts: str | Iterable[str]) -> str:
    """`prefix` before `sentence`, its first word lower-cased unless it is a name: `texts` (the article's text first,
    then the library's others) are searched for the first that shows which: the word written capitalised
    mid-sentence ("challenger Odile Brennagh") is a name; written in lower case ("many experts") it is not."""
    if not prefix:
        return sentence
    first = re.match(r"[\w’'-]+", sentence)
    if first and not _is_name(first.group(0), [texts] if isinstance(texts, str) else texts) \
            and not first.group(0).isupper():
        sentence = sentence[:1].lower() + sentence[1:]
    return prefix + sentence


def _is_name(word: str, texts: Iterable[str]) -> bool:
    """Whether an opening word keeps its capital; a word no text ever writes capitalised mid-sentence is taken
    for a common word ("Many experts" in a library that never writes "many" otherwise): names recur inside
    sentences."""
    if word[:1].islower():
        return True
    if word in COMMON_CAPITALISED:
        return False
    word = re.sub(r"[’']s$", "", word)  # "Syria's": Syria, however the article writes the apostrophe
    inside = re.compile(rf"(?<=[a-z0-9,;:’'\"“)] ){re.escape(word)}(?![\w-])")
    lower = re.compile(rf"(?<![\w’'-]){re.escape(word.lower())}(?![\w-])")
    for text in texts:
        if inside.search(text):
            return True
        if lower.search(text):
            return False
    return False
