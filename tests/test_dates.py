"""Dates shown to people: exact dates as written, approximate ones only as precisely as they are known."""

import pytest

from rag.dates import display_date


@pytest.mark.parametrize("published, approx, shown", [
    ("", False, ""),
    ("", True, ""),
    ("2015-10-14", False, "2015-10-14"),
    ("2015-10-14", True, "Oct 2015 (approx.)"),
    ("2015-01", True, "Jan 2015 (approx.)"),
    ("2015", True, "2015 (approx.)"),
    ("2015", False, "2015"),
    ("autumn 2015", False, "autumn 2015"),
    ("autumn 2015", True, "autumn 2015 (approx.)"),
    ("2015-13-01", True, "2015-13-01 (approx.)"),  # not a real month: shown as written
    (" 2019-12-31 ", True, "Dec 2019 (approx.)"),
])
def test_display_date(published, approx, shown):
    assert display_date(published, approx) == shown
