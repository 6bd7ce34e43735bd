"""The chat's date filter: narrow a conversation to the articles of a date range.

"Dates" above the chat opens a small panel (From, To: "2026-03", "March 2026", "5 March 2026", "2026"; either may be
left empty). While a range is active, a line under the library's summary says so ("Only articles from 1 Mar 2026 to
31 May 2026 · Clear"), and every answer of the conversation reads only articles published in it. The range is the
conversation's (`ChatSession.dates`): each answer keeps the range it was read with (its small print says so, and the
browser's copy of the conversation brings the range back on reload); "New conversation" or Clear reads every
article again. What can't be read as a date is one line in place of the range line; the panel stays open to fix it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr

from rag.dates import date_range
from rag.errors import DateRangeError
from rag.schema import DateRange
from ui import render
from ui.session import ChatSession

# the line's "Clear" link is the line's click event (gr.HTML's js_on_load and `trigger`)
CLEAR_JS = ("element.addEventListener('click', function (e) { var a = e.target.closest && "
            "e.target.closest('.rag-range-clear'); if (a) { e.preventDefault(); trigger('click'); } });")
CSS = """
#rag-range { margin-top: -.4rem; }
#rag-range .rag-range { margin: 0; font-size: .88rem; color: #3730a3; }
#rag-range .rag-range-error { color: #991b1b; }
#rag-range a.rag-range-clear { color: var(--color-accent); cursor: pointer; text-decoration: underline; }
#rag-dates { align-items: flex-end; gap: .5rem; flex-wrap: wrap; }
#rag-dates button { align-self: flex-end; margin-bottom: .5rem; }
"""
HEAD = f"<style>{CSS}</style>"


def range_line(dates: DateRange | None, error: str = "") -> str:
    """"Only articles from 1 Mar 2026 to 31 May 2026 · Clear", a date that can't be read, or "" (no filter)."""
    if error:
        return f'<p class="rag-range rag-range-error">⚠ {render.esc(error)}</p>'
    if not dates:
        return ""
    return (f'<p class="rag-range">Only articles {render.esc(dates.label())} · '
            '<a class="rag-range-clear" href="#clear-dates" role="button" title="Read every article again">'
            "Clear</a></p>")


def shown(dates: DateRange | None, error: str = "") -> Any:
    """The range line as an update: hidden when there is nothing to say."""
    html = range_line(dates, error)
    return gr.update(value=html, visible=bool(html))


def dates_of(turns: Sequence[dict]) -> DateRange | None:
    """The date filter a kept conversation was last asked with (its last answer's), None for none or junk."""
    last = turns[-1].get("dates") if turns else None
    if not isinstance(last, dict):
        return None
    since, until = last.get("since", ""), last.get("until", "")
    if not isinstance(since, str) or not isinstance(until, str):
        return None
    try:
        return date_range(since, until) or None
    except DateRangeError:
        return None


class DateFilter:
    """The panel's handlers (all instant: nothing waits for the reader), over the chat's per-tab sessions."""

    def __init__(self, session_of: Callable[[gr.Request], ChatSession]) -> None:
        self._session_of = session_of

    @staticmethod
    def toggle(is_open: bool) -> tuple[bool, Any]:
        """"Dates": open the panel, or close it again. Returns (open, panel)."""
        return not is_open, gr.update(visible=not is_open)

    def apply(self, since: str, until: str, request: gr.Request) -> tuple[Any, Any, bool]:
        """Narrow the conversation to [since, until]; both empty reads every article. Returns (range line, panel,
        open)."""
        session = self._session_of(request)
        try:
            dates = date_range(since, until)
        except DateRangeError as e:
            return shown(session.dates, str(e)), gr.skip(), gr.skip()
        with session.lock:
            session.dates = dates or None
        return shown(session.dates), gr.update(visible=False), False

    def clear(self, request: gr.Request) -> tuple[Any, str, str, Any, bool]:
        """Every article again. Returns (range line, from, to, panel, open)."""
        session = self._session_of(request)
        with session.lock:
            session.dates = None
        return shown(None), "", "", gr.update(visible=False), False

    def view(self, request: gr.Request) -> tuple[Any, Any, Any]:
        """After a reload: the range line, and the panel's fields when the kept conversation has a range (else
        what may already be typed there stays). Returns (range line, from, to)."""
        dates = self._session_of(request).dates
        if not dates:
            return shown(None), gr.skip(), gr.skip()
        return shown(dates), dates.since, dates.until
