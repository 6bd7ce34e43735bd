"""Dates shown to people: one form per article wherever it is shown; approximate ones only as precisely as they are
known, without brackets (so they nest in none)."""

import pytest

from rag.dates import display_date


@pytest.mark.parametrize("published, approx, shown", [
    ("", False, ""),
    ("", True, ""),
    ("2015-10-14", False, "14 Oct 2015"),
    ("2026-03-03", False, "3 Mar 2026"),
    ("2026-03-03T08:30:00Z", False, "3 Mar 2026"),
    ("2015-10", False, "Oct 2015"),
    ("2015-10-14", True, "about Oct 2015"),
    ("2015-01", True, "about Jan 2015"),
    ("2015", True, "about 2015"),
    ("2015", False, "2015"),
    ("autumn 2015", False, "autumn 2015"),
    ("autumn 2015", True, "about autumn 2015"),
    ("2015-13-01", False, "2015-13-01"),  # not a real month: shown as written
    ("2015-13-01", True, "about 2015-13-01"),
    (" 2019-12-31 ", True, "about Dec 2019"),
])
def test_display_date(published, approx, shown):
    assert display_date(published, approx) == shown
