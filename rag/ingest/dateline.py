"""Outlet, published date and author read from the top of a plain-text article (no front matter).

Only what the text states is taken: a short line of its own ("The Millbrook Gazette, March 4, 2024",
"By Jane Doe | The Gazette", "Published: 4 March 2024") or a wire dateline opening the first paragraph
("WASHINGTON (AP) —"). Dates go through dateutil; a numeric date whose day and month could be swapped
("03/04/2024") is left out with a warning rather than guessed, and body sentences are never mined for dates.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass

from dateutil import parser as dateparser

log = logging.getLogger(__name__)

MAX_LINES = 8  # non-empty lines looked at: headline, dek, byline, dateline, first paragraph
MAX_SHORT_WORDS = 12  # longer lines are prose; only a wire dateline is looked for in them

WIRES = {"AP": "Associated Press", "AFP": "Agence France-Presse", "UPI": "United Press International",
         "REUTERS": "Reuters", "BLOOMBERG": "Bloomberg", "DPA": "dpa", "XINHUA": "Xinhua", "TASS": "TASS",
         "CNN": "CNN", "BBC": "BBC", "NPR": "NPR", "PA": "PA Media", "ANSA": "ANSA", "EFE": "EFE"}
_WIRE_NAMES = {**WIRES, **{name.upper(): name for name in WIRES.values()}}  # "THE ASSOCIATED PRESS" too
_OUTLET_WORD = re.compile(
    r"\b(?:Gazette|Times|News|Post|Journal|Herald|Tribune|Press|Daily|Chronicle|Review|Star|Guardian|Telegraph"
    r"|Observer|Monitor|Record|Courier|Mail|Express|Register|Sun|Magazine|Weekly|Radio|Network|Media|Wire"
    r"|Agency|Bulletin|Dispatch|Standard|Independent|Inquirer|Examiner|Sentinel|Today|Politico|Axios|Forbes"
    r"|Newsweek|Economist|Atlantic|Insider)\b|\.(?:com|org|net|co\.uk)\b")
_MON = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
        r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
_DATE = re.compile(
    rf"(?P<named>\b{_MON}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b|\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MON},?\s+\d{{4}}\b)"
    r"|(?P<iso>\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:T[\d:.]+(?:Z|[+-]\d\d:?\d\d)?)?)(?![\d/.-])"
    r"|(?P<num>\b(?P<a>\d{1,2})[/.-](?P<b>\d{1,2})[/.-]\d{4}\b)", re.I)
_TIME = re.compile(r"\b\d{1,2}(?::\d{2}){0,2}\s*[ap]\.?m\b\.?|\b\d{1,2}:\d{2}(?::\d{2})?\b"
                   r"|(?-i:\b(?:[ECMP][SD]?T|GMT|UTC|BST|CES?T)\b)", re.I)
_STAMP = re.compile(r"\b(published|posted|updated|modified|revised|edited)\b", re.I)
_NO_YEAR = re.compile(rf"\b{_MON}\s+\d{{1,2}}\b", re.I)  # "LONDON, March 4 (Reuters) -": no year, so no date
_LABELS = re.compile(r"\b(?:(?:first|last|originally)\s+)?(?:published|posted|updated|modified|revised|dated?|on|at"
                     r"|(?:mon|tues|wednes|thurs|fri|satur|sun)day)\b", re.I)
_SEP = " \t,;:|•·/—–-"
_PUNCT = str.maketrans({c: " " for c in _SEP + ".()[]"})
_CONNECT = {"the", "of", "and", "&", "de", "da", "van", "von", "der", "la", "le", "du", "di", "bin", "al", "el",
            "for", "in"}
_PARTICLES = _CONNECT - {"the", "of", "and", "&", "for", "in"}
_BYLINE = re.compile(r"^(?:(?:posted|written|story|words|text|reporting)\s+)?by[:\s]\s*(?P<rest>.+)$", re.I)
_ROLE = re.compile(r"\b(?:writer|correspondent|editor|reporter|columnist|contributor|staff|bureau|chief|senior"
                   r"|photographer|analyst|intern|fellow|critic|producer)s?\b", re.I)
_WIRE = re.compile(r"^(?P<head>[A-Z][^()]{0,60}?)?\s*\((?P<agency>[A-Za-z][\w.&' -]{0,30})\)\s*(?:[-–—_]{1,2}|:)")
_NAME_TOKEN = re.compile(r"^[A-Z][\w'’.-]*$")


@dataclass(frozen=True)
class TextMeta:
    outlet: str = ""
    published: str = ""  # ISO YYYY-MM-DD
    author: str = ""
    found: tuple[str, ...] = ()  # the fields read from the text, e.g. ("outlet", "published")


def _plain(line: str) -> str:
    """Markdown markup off, so '**By** [Jane Doe](/a)' reads as 'By Jane Doe'."""
    line = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", line)
    line = re.sub(r"^(?:#{1,6}|>)\s*", "", line.strip())
    return re.sub(r"\*+|(?<!\w)_+|_+(?!\w)", "", line).strip()


def _parse_date(m: re.Match[str], ambiguous: list[str]) -> str:
    """ISO date of one match; "" (noted in `ambiguous`, or with a warning) when it cannot be read for sure."""
    s = m.group(0)
    try:
        if m.group("iso"):
            return dateparser.parse(s, yearfirst=True, dayfirst=False).date().isoformat()
        if m.group("num"):
            a, b = int(m.group("a")), int(m.group("b"))
            if a <= 12 and b <= 12 and a != b:
                ambiguous.append(s)
                return ""
            return dateparser.parse(s, dayfirst=a > 12).date().isoformat()
        return dateparser.parse(re.sub(r"(?<=\d)(?:st|nd|rd|th)\b", "", s)).date().isoformat()
    except (ValueError, OverflowError) as e:
        log.warning("ignoring the date %r at the top of the article: not a real date (%s)", s, e)
        return ""


def _only_names(rest: str) -> bool:
    """What is left of a line once its dates are out is names (an outlet, a city), not a sentence."""
    toks = rest.translate(_PUNCT).split()
    return len(toks) <= 8 and all(_NAME_TOKEN.match(t) or t.lower() in _CONNECT for t in toks)


def _is_name(part: str) -> bool:
    """A person's name: 2-5 capitalised words (particles allowed), not starting with a month."""
    toks = part.split()
    return (2 <= len(toks) <= 5 and not re.match(_MON + "$", toks[0], re.I)
            and all(_NAME_TOKEN.match(t) or t.lower() in _PARTICLES for t in toks))


def _outlet(part: str) -> str:
    """The outlet `part` names ('Associated Press', 'The Gazette', 'AP'), or "" when it may be a place or a role."""
    part = re.sub(r"^(?:special\s+to|for|of)\s+", "", part.strip(_SEP), flags=re.I)
    if not part or len(part.split()) > 8 or _ROLE.search(part):
        return ""
    if (key := part.upper().removeprefix("THE ")) in _WIRE_NAMES:
        return _WIRE_NAMES[key]
    toks = part.split()
    if part.isupper() or not all(t[0].isupper() or t.lower() in _CONNECT for t in toks):
        return ""  # all capitals is a dateline city ("WASHINGTON"), lower case is prose
    return part if toks[0] == "The" or _OUTLET_WORD.search(part) else ""


def _byline(rest: str) -> tuple[str, str]:
    """(authors, outlet) of what follows 'By'; authors as written ('Jane Doe and John Roe'), capitals tamed."""
    parts = [p.strip() for p in re.split(r"\s*(?:[|•·/,;]|\s[-–—]\s)\s*", rest) if p.strip()]
    authors: list[str] = []
    outlet = ""
    for i, part in enumerate(parts):
        people = re.split(r"\s+(?:and|&)\s+", part, flags=re.I)
        if _outlet(part):
            outlet = outlet or _outlet(part)
        elif _ROLE.search(part):
            continue  # "Staff Writer", "Senior Correspondent"
        elif all(_is_name(p) for p in people):
            authors.append(" and ".join(p.title() if p.isupper() else p for p in people))
        elif i == 0:
            return "", ""  # "By the numbers", "By Friday, the council ..."
    return ", ".join(authors), outlet


def _candidate_lines(text: str, title: str) -> list[str]:
    """The first non-empty lines, without the headline, stopping after the second paragraph of prose."""
    out: list[str] = []
    long_lines = 0
    for raw in io.StringIO(text):  # lazily: only the top of a long file is read
        line = _plain(raw)
        if not line or line == _plain(title):
            continue
        out.append(line)
        long_lines += len(line.split()) > MAX_SHORT_WORDS
        if len(out) >= MAX_LINES or long_lines >= 2:
            break
    return out


def _wire_agency(m: re.Match[str]) -> str:
    agency = m["agency"].strip()
    if m["head"] and not _only_names(_NO_YEAR.sub(" ", _DATE.sub(" ", m["head"]))):
        return ""
    return _outlet(agency) or (agency if agency.isalpha() and agency.isupper() and len(agency) <= 6 else "")


def read_text_meta(text: str, title: str = "") -> TextMeta:
    """Outlet, published date and author stated by the article's own dateline or byline; "" for what it doesn't say.

    Outlets rank masthead line > byline > wire agency; a published date ranks above an 'updated' one.
    """
    outlets: list[tuple[int, str]] = []
    dates: list[tuple[bool, str]] = []  # (is an 'updated' date, ISO)
    author = ""
    ambiguous: list[str] = []
    for line in _candidate_lines(text, title):
        wire = _WIRE.match(line)
        if wire and (agency := _wire_agency(wire)):
            outlets.append((2, agency))
            line = wire["head"] or ""
        elif len(line.split()) > MAX_SHORT_WORDS:
            continue
        matches = list(_DATE.finditer(line))
        rest = _LABELS.sub(" ", _TIME.sub(" ", _DATE.sub(" | ", line))).strip(_SEP)
        if by := _BYLINE.match(rest):
            who, outlet = _byline(by["rest"])
            if not (who or outlet):
                continue
            author = author or who
            outlets += [(1, outlet)] if outlet else []
        elif not matches or not _only_names(rest):
            continue  # no date, or a sentence that mentions one: not a dateline
        elif not wire:
            outlets += [(0, o) for o in (_outlet(p) for p in rest.split("|")) if o][:1]
        for m in matches:
            if iso := _parse_date(m, ambiguous):
                stamps = _STAMP.findall(line[: m.start()])  # the nearest label before the date says which
                dates.append((bool(stamps) and stamps[-1].lower() not in ("published", "posted"), iso))
    updated, published = min(dates, key=lambda d: d[0]) if dates else (False, "")
    if updated:
        log.info("no published date at the top of the article; using its 'updated' date %s", published)
    if ambiguous and not published:
        log.warning("published date left empty: %s could be day/month or month/day, and the text does not say "
                    "which", ", ".join(repr(a) for a in ambiguous))
    outlet = min(outlets, key=lambda o: o[0])[1] if outlets else ""
    fields = {"outlet": outlet, "published": published, "author": author}
    return TextMeta(**fields, found=tuple(k for k, v in fields.items() if v))


def is_role(text: str) -> bool:
    """'Football Correspondent', 'Staff Writer': a job, not a person's name."""
    return bool(_ROLE.search(text or ""))
