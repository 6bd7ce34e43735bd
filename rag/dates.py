"""Dates as people read them: an approximate publication date is shown only as precisely as it is known."""

from __future__ import annotations

import re

APPROX_PREFIX = "about "
_ISO = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def month_year(published: str) -> str:
    """"Oct 2015" for an ISO date (or datetime), "2015" for a bare year; anything else as written."""
    s = (published or "").strip()
    m = _ISO.match(s[:10])
    if m is None or (m.group(2) is not None and not 1 <= int(m.group(2)) <= 12):
        return s
    year, month = m.group(1), m.group(2)
    return year if month is None else f"{_MONTHS[int(month) - 1]} {year}"


def display_date(published: str, approx: bool) -> str:
    """One article's date, the same wherever the page or the CLI shows it: "3 Mar 2026" when the date is exact
    ("Mar 2026" or "2026" when only the month or the year is given); "about Oct 2015" when it is an estimate,
    because its day (and often its month) is a guess ("about 2015" when only the year is known). No brackets, so it
    reads the same inside a parenthesis ("TIME, about Oct 2015"). Other strings pass through unchanged (after
    "about " when estimated), and "" stays "" (undated)."""
    s = (published or "").strip()
    if not s:
        return ""
    if approx:
        return APPROX_PREFIX + month_year(s)
    m = _ISO.match(s[:10])
    if m is None or m.group(3) is None or not 1 <= int(m.group(2)) <= 12 or not 1 <= int(m.group(3)) <= 31:
        return month_year(s)
    return f"{int(m.group(3))} {_MONTHS[int(m.group(2)) - 1]} {m.group(1)}"


MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
               "November", "December")
# a month's name or abbreviation, as people write it in a date ("Sept", "mar"; a full stop after it is the caller's)
MONTH_PATTERN = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|" \
                r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_MONTH_WORD = rf"({MONTH_PATTERN})\.?"
_WORDY = re.compile(rf"^(?:(\d{{1,2}})\s+)?{_MONTH_WORD}\s*,?\s+(\d{{4}})$"
                    rf"|^{_MONTH_WORD}\s+(\d{{1,2}}),?\s+(\d{{4}})$", re.I)


def month_number(word: str) -> int:
    """1-12 for a month's name or its abbreviation ("Sept", "mar."); 0 for anything else."""
    w = word.lower().rstrip(".")[:3]
    return next((i + 1 for i, m in enumerate(MONTH_NAMES) if m[:3].lower() == w), 0)


def days_in_month(year: int, month: int) -> int:
    import calendar

    return calendar.monthrange(year, month)[1]


def prose_date(published: str, approx: bool) -> str:
    """A date inside a sentence: "14 May 2026"; "about October 2015" when it is an estimate (its day is a guess);
    "" when undated."""
    m = re.match(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", (published or "").strip())
    if not m:
        return ""
    year, month, day = m.group(1), m.group(2), m.group(3)
    if month is None or not 1 <= int(month) <= 12:
        return f"about {year}" if approx else year
    named = f"{MONTH_NAMES[int(month) - 1]} {year}"
    if approx:
        return f"about {named}"
    return f"{int(day)} {named}" if day else named


def parse_bound(text: str, end: bool = False) -> str:
    """The ISO day a date filter's bound means: "2026", "2026-03", "2026-03-05", "March 2026", "5 March 2026" or
    "March 5, 2026". A year or a month is its first day as a start (`end` False) and its last day as an end, so
    `--until 2026-03` keeps all of March. Raises DateRangeError for anything else."""
    from rag.errors import DateRangeError

    s = " ".join((text or "").split())
    year = month = day = 0
    iso = _ISO.match(s)
    wordy = _WORDY.match(s)
    if iso:
        year, month, day = int(iso.group(1)), int(iso.group(2) or 0), int(iso.group(3) or 0)
    elif wordy:
        g = wordy.groups()
        if g[2]:
            day, month, year = int(g[0] or 0), month_number(g[1]), int(g[2])
        else:
            month, day, year = month_number(g[3]), int(g[4]), int(g[5])
    if not year or (month and not 1 <= month <= 12) or (day and not 1 <= day <= days_in_month(year, month or 1)):
        raise DateRangeError(f"'{text}' is not a date I can read: use 2026-03-05, 2026-03, 2026, "
                             "'March 2026' or '5 March 2026'.")
    if not month:
        month, day = (12, 31) if end else (1, 1)
    elif not day:
        day = days_in_month(year, month) if end else 1
    return f"{year:04d}-{month:02d}-{day:02d}"


def date_range(since: str | None, until: str | None):
    """A `DateRange` from two user-given bounds (either may be empty); an end before the start is an error."""
    from rag.errors import DateRangeError
    from rag.schema import DateRange

    lo = parse_bound(since, end=False) if since and since.strip() else ""
    hi = parse_bound(until, end=True) if until and until.strip() else ""
    if lo and hi and hi < lo:
        raise DateRangeError(f"The date range ends ({display_date(hi, False)}) before it starts "
                             f"({display_date(lo, False)}).")
    return DateRange(lo, hi)
