"""Dates as people read them: an approximate publication date is shown only as precisely as it is known."""

from __future__ import annotations

import re

APPROX_SUFFIX = " (approx.)"
_ISO = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def display_date(published: str, approx: bool) -> str:
    """"2015-10-14" when the date is exact; "Oct 2015 (approx.)" when it is an estimate, because its day
    (and often its month) is a guess; "2015 (approx.)" when only the year is known. Other strings pass
    through unchanged, and "" stays "" (undated)."""
    s = (published or "").strip()
    if not s:
        return ""
    if not approx:
        return s
    m = _ISO.match(s)
    if m is None or (m.group(2) is not None and not 1 <= int(m.group(2)) <= 12):
        return s + APPROX_SUFFIX  # not an ISO date: shown as written
    year, month = m.group(1), m.group(2)
    if month is None:
        return year + APPROX_SUFFIX
    return f"{_MONTHS[int(month) - 1]} {year}{APPROX_SUFFIX}"
