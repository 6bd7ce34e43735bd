"""Dates as people read them: an approximate publication date is shown only as precisely as it is known."""

from __future__ import annotations

import re

APPROX_SUFFIX = " (approx.)"
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
    """"2015-10-14" when the date is exact; "Oct 2015 (approx.)" when it is an estimate, because its day
    (and often its month) is a guess; "2015 (approx.)" when only the year is known. Other strings pass
    through unchanged, and "" stays "" (undated)."""
    s = (published or "").strip()
    if not s:
        return ""
    return month_year(s) + APPROX_SUFFIX if approx else s
