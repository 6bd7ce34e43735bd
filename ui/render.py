"""HTML for chat messages and the sources panel.

Every string that comes from a user, a document or the model goes through `html.escape` before any
markup is added, so article text such as `<script>` shows up as text and never runs. The chat
messages are single-line HTML blocks (newlines become `<br>`), which keeps Markdown from touching
model text and keeps the chatbot's own sanitiser as a second line of defence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

from rag.dates import display_date
from rag.schema import DateRange
from ui import cards, titles
from ui.waiting import clock

CONTEXT_CHARS = 420  # at most this much paragraph text is shown on each side of a quote
_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")

Turn = dict[str, Any]  # one question/answer exchange as kept in gr.State (see ui.chat)
COPY_TIP = "Copy as Markdown: the answer and its quoted sources"


def esc(text: object) -> str:
    """Escape text for HTML, newlines as <br> so a message never contains a blank line."""
    return escape(str(text or "")).replace("\r\n", "\n").replace("\n", "<br>")


def anchor_id(turn: int, n: int) -> str:
    """Unique per turn, so markers of earlier answers keep pointing at their own sources."""
    return f"src-{turn}-{n}"


def link_markers(escaped: str, turn: int, cited: set[int], shared: dict[int, int] | None = None) -> str:
    """Turn `[1]` / `[1, 2]` in already-escaped text into links to this turn's source cards (`shared`: a marker
    whose paragraph another marker's card shows links to that card, `ui.cards.aliases`)."""

    def one(n: str) -> str:
        k = int(n)
        if k not in cited:
            return f"[{k}]"
        return (
            f'<a class="rag-cite" href="#{anchor_id(turn, (shared or {}).get(k, k))}" data-turn="{turn}" '
            f'data-n="{k}" title="Show source [{k}]">[{k}]</a>'
        )

    def repl(m: re.Match[str]) -> str:
        return "".join(one(n.strip()) for n in m.group(1).split(","))

    return _MARKER.sub(repl, escaped)


def _norm(s: str) -> str:
    return " ".join(s.lower().split()).rstrip("?.! ")


def user_message(question: str) -> str:
    return f'<div class="rag-question">{esc(question)}</div>'


def status_message(text: str, elapsed: float | None = None, note: str = "") -> str:
    """A stage of the answer ("Reading 5 passages…"), the time since it was asked (the page counts on from the
    shown value), and why it is slow when that is known."""
    since = (f'<span class="rag-elapsed" title="time since the question was asked">{clock(elapsed)}</span>'
             if elapsed is not None else "")
    slow = f'<div class="rag-slow">{esc(note)}</div>' if note else ""
    return f'<div class="rag-status"><span class="rag-spinner"></span><span>{esc(text)}</span>{since}</div>{slow}'


def draft_message(draft: str) -> str:
    return f'<div class="rag-answer rag-draft">{esc(draft)}<span class="rag-caret">▍</span></div>'


def error_message(text: str) -> str:
    return f'<div class="rag-error">⚠ {esc(text)}</div>'


def query_note(question: str, query: str) -> str:
    """Small print with the search query, only when it differs from what the user typed."""
    if not query or _norm(query) == _norm(question):
        return ""
    return f'<div class="rag-query">Searched for: “{esc(query)}”</div>'


def waiting_message(position: int, others: int = 0, elapsed: float | None = None) -> str:
    """A question waiting its turn: behind this tab's earlier ones, and first behind `others` questions from other
    readers (the reader model answers one question at a time), for `elapsed` seconds so far."""
    if others > 0 and position == 1:
        text = (f"Waiting: {others} question{'s' if others != 1 else ''} from other readers "
                f"{'are' if others != 1 else 'is'} answered first.")
    elif position == 1:
        text = "Waiting: this question will be answered next."
    else:
        text = f"Waiting: this question will be answered after {position - 1} other(s)."
    since = (f' <span class="rag-elapsed">{clock(elapsed)}</span>'
             if elapsed is not None and position == 1 else "")
    return f'<div class="rag-status rag-waiting">{esc(text)}{since}</div>'


def date_text(item: dict) -> str:
    """"14 Oct 2015", or "about Oct 2015" when the date is only known roughly."""
    return display_date(str(item.get("published") or ""), bool(item.get("published_approx")))


def answer_message(turn: Turn) -> str:
    """The final answer: markers linked, refusals styled apart, the search query in small print."""
    if turn.get("error"):
        return error_message(turn["error"])
    n = int(turn["n"])
    cited = {int(c["n"]) for c in turn.get("citations", [])}
    body = link_markers(esc(turn.get("answer", "")), n, cited, cards.aliases(turn.get("citations", [])))
    cls = "rag-answer rag-refused" if turn.get("refused") else "rag-answer"
    parts = [f'<div class="{cls}">{body}</div>' if body else ""]
    if turn.get("stopped"):
        parts.append('<div class="rag-query rag-stopped">Stopped: '
                     f'{"the answer above may be incomplete." if body else "no sentence had been checked yet."}</div>')
    parts.append(query_note(str(turn.get("question", "")), str(turn.get("query") or "")))
    if turn.get("notice"):
        parts.append(f'<div class="rag-query">Note: {esc(turn["notice"])}</div>')
    if isinstance(turn.get("dates"), dict):  # asked with the chat's date filter on (ui.chat_dates)
        dates = DateRange(str(turn["dates"].get("since") or ""), str(turn["dates"].get("until") or ""))
        parts.append(f'<div class="rag-query rag-dated">Only articles {esc(dates.label())}</div>' if dates else "")
    if body:
        parts.append(f'<div class="rag-actions"><a class="rag-copy" href="#copy-{n}" data-turn="{n}" role="button" '
                     f'title="{COPY_TIP}" aria-label="{COPY_TIP}">'
                     '<span class="rag-copy-icon" aria-hidden="true"></span>'
                     '<span class="rag-copy-label">Copy</span></a></div>')
    return "".join(parts)


def answer_markdown(turn: Turn) -> str:
    """The answer as Markdown for the clipboard: its text, then each numbered source with its quote as a block
    quote (`> ...`), so quotes never nest inside quotation marks."""
    lines = [str(turn.get("answer", "")).strip()]
    for c in turn.get("citations") or []:
        where = ", ".join(x for x in (f"*{name(c)}*", str(c.get("outlet") or ""),
                                      date_text(c)) if x)
        quote = " ".join(str(c.get("quote", "")).split())
        url = web_url(c)
        lines += ["", f"[{int(c['n'])}] {where}" + (f", <{url}>" if url else ""), f"> {quote}"]
    return "\n".join(lines) + "\n"


def quote_context(text: str, start: int, end: int, quote: str) -> tuple[str, str, str]:
    """(before, quote, after) within the enclosing paragraph of `text`.

    The paragraph is the "\n\n"-separated block around [start, end). If the offsets do not match
    the quote (the document changed since), the quote is looked up again and shown alone if lost.
    """
    span = locate(text, start, end, quote)
    if span is None:
        return "", quote, ""
    start, end = span
    ps, pe = paragraph_of(text, start, end)
    before, after = text[ps:start], text[end:pe]
    if len(before) > CONTEXT_CHARS:
        cut = before[-CONTEXT_CHARS:]
        before = "…" + cut[cut.find(" ") + 1 :] if " " in cut else "…" + cut
    if len(after) > CONTEXT_CHARS:
        cut = after[:CONTEXT_CHARS]
        after = (cut[: cut.rfind(" ")] if " " in cut else cut) + "…"
    return before, text[start:end], after


def locate(text: str, start: int, end: int, quote: str) -> tuple[int, int] | None:
    """Where the quote is in `text`: at its offsets, else looked up again (the document changed since); None
    when it is lost."""
    if text and text[start:end] == quote:
        return start, end
    found = text.find(quote) if text and quote else -1
    return (found, found + len(quote)) if found >= 0 else None


def paragraph_of(text: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) of the "\n\n"-separated paragraph around [start, end)."""
    ps = text.rfind("\n\n", 0, start)
    pe = text.find("\n\n", end)
    return (0 if ps < 0 else ps + 2), (len(text) if pe < 0 else pe)


def _texts(document_text: Callable[[str], str]) -> Callable[[str], str]:
    """`document_text`, fetched once per document; "" for one that is gone."""
    texts: dict[str, str] = {}

    def text(doc: str) -> str:
        if doc not in texts:
            try:
                texts[doc] = document_text(doc) or ""
            except Exception:  # noqa: BLE001 - a missing document only loses the context, not the answer
                texts[doc] = ""
        return texts[doc]

    return text


def _opening(item: dict, text: Callable[[str], str]) -> dict:
    """An article without a headline gets `opening`, its first words, to be named by (`name`)."""
    doc = str(item.get("doc", ""))
    return {} if titles.real_title(doc, str(item.get("title") or "")) else {"opening": titles.first_words(text(doc))}


def with_openings(items: Sequence[dict], document_text: Callable[[str], str]) -> list[dict]:
    """Copies of passages (or citations) with `opening` added where the article has no headline."""
    text = _texts(document_text)
    return [{**p, **_opening(p, text)} for p in items]


def with_context(citations: Sequence[dict], document_text: Callable[[str], str]) -> list[dict]:
    """Copy citations adding `before`/`after` paragraph text, fetched once per document, where the quote and
    its paragraph are (`at`, `para`: for one card per paragraph, `ui.cards`), and `opening` for an untitled one."""
    text = _texts(document_text)
    out = []
    for c in citations:
        full = text(str(c.get("doc", "")))
        start, end = int(c.get("start") or 0), int(c.get("end") or 0)
        before, quote, after = quote_context(full, start, end, str(c["quote"]))
        span = locate(full, start, end, quote)
        place = {"at": span[0], "para": list(paragraph_of(full, *span))} if span else {}
        out.append({**c, "quote": quote, "before": before, "after": after, **place, **_opening(c, text)})
    return out


def _fmt(x: object) -> str:
    return "–" if x is None else f"{float(x):.3f}"  # type: ignore[arg-type]


def _details(passages: Sequence[dict]) -> str:
    """The passages the reader was given, by article (headline, outlet, date; the internal id only as `data-doc`),
    with their retrieval scores: useful when checking the system, noise for everyone else."""
    rows = "".join(
        f'<tr data-doc="{escape(str(p.get("doc", "")), quote=True)}"><td>{int(p.get("rank", i + 1))}</td>'
        f'<td class="rag-doc">{esc(name(p))}<span class="rag-doc-meta">'
        f'{esc(" · ".join(x for x in (str(p.get("outlet") or ""), date_text(p)) if x))}</span></td>'
        f"<td>{_fmt(p.get('score'))}</td><td>{_fmt(p.get('dense'))}</td><td>{_fmt(p.get('keyword'))}</td></tr>"
        for i, p in enumerate(passages)
    )
    return (
        f'<details class="rag-scores"><summary>Details: the {len(passages)} passage{"s" if len(passages) != 1 else ""} '
        'read and their search scores</summary>'
        f"<table><thead><tr><th>Rank</th><th>Article</th><th>Fused</th><th>Dense</th><th>Keyword</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></details>" if passages else ""
    )


def web_url(c: dict) -> str:
    """The original address of a cited article, when it came from the web (http/https only)."""
    url = str(c.get("url") or "")
    return url if url.startswith(("https://", "http://")) else ""


def name(item: dict) -> str:
    """What a citation or passage is called: its headline, else its first words (`opening`), its web address, or
    "Untitled article"; never the internal file name."""
    return titles.readable_title(str(item.get("doc", "")), str(item.get("title") or ""), str(item.get("url") or ""),
                                 str(item.get("opening") or ""))


def source_title(c: dict) -> str:
    """The article's headline, linked to its page when it came from the web."""
    title = esc(name(c))
    url = web_url(c)
    if url:
        title = (f'<a class="rag-link" href="{escape(url, quote=True)}" target="_blank" rel="noopener noreferrer" '
                 f'title="{escape(url, quote=True)}">{title}</a>')
    return f'<span class="rag-title">{title}</span>'


def source_meta(c: dict) -> str:
    """Outlet · author · date, then the other outlets that ran the same story."""
    author = f"by {c['author']}" if c.get("author") else ""
    meta = " · ".join(esc(x) for x in (c.get("outlet"), author, date_text(c)) if x)
    also = c.get("also_published_by") or []
    also_line = f'<div class="rag-also">Also published by: {esc(", ".join(also))}</div>' if also else ""
    return f'<div class="rag-meta">{meta}</div>{also_line}'


def quote_paragraph(group: Sequence[dict]) -> str:
    """The paragraph of one or more citations (see `with_context`), each quote marked in it."""
    parts = "".join(f"<mark>{escape(t)}</mark>" if marked else escape(t) for t, marked in cards.segments(group))
    return f'<blockquote class="rag-para">{parts}</blockquote>'


def _card(turn: int, group: Sequence[dict]) -> str:
    """One card per paragraph: every marker that quotes it, the paragraph once with each quote marked."""
    c, first = group[0], int(group[0]["n"])
    markers = "".join(f'<span class="rag-n">[{int(x["n"])}]</span>' for x in group)
    return (
        f'<div class="rag-card" id="{anchor_id(turn, first)}" data-doc="{escape(str(c.get("doc", "")), quote=True)}">'
        f'<div class="rag-card-head">{markers}{source_title(c)}'
        f'<a class="rag-back" href="#back-{turn}-{first}" title="Back to the answer">↩ answer</a></div>'
        f'{source_meta(c)}{quote_paragraph(group)}</div>'
    )


def _turn_section(t: Turn, latest: bool) -> str:
    n = int(t["n"])
    if t.get("error"):
        body = '<p class="rag-empty">No answer: an error occurred.</p>'
    elif t.get("citations"):
        body = '<div class="rag-cards">' + "".join(_card(n, g) for g in cards.group_citations(t["citations"])) + \
            "</div>"
    else:
        body = '<p class="rag-empty">No sources cited for this answer.</p>'
    body += _details(t.get("passages", []))
    md = escape(answer_markdown(t), quote=True) if t.get("answer") and not t.get("error") else ""
    return (
        f'<details class="rag-turn" id="turn-{n}" data-md="{md}"{" open" if latest else ""}>'
        f'<summary><span class="rag-turn-no">Q{n}</span> {esc(t.get("question", ""))}</summary>'
        f"{body}</details>"
    )


EMPTY_SOURCES = (
    '<div class="rag-sources"><p class="rag-placeholder">The quoted passages behind each answer appear '
    "here. Click a marker such as [1] in an answer to jump to its source.</p></div>"
)


def sources_panel(turns: Sequence[Turn]) -> str:
    """All turns, newest first and open; earlier turns folded but still linkable by their markers."""
    done = [t for t in turns if t.get("final")]
    if not done:
        return EMPTY_SOURCES
    sections = "".join(_turn_section(t, i == 0) for i, t in enumerate(reversed(done)))
    return f'<div class="rag-sources">{sections}</div>'


def banner(kind: str, text: str) -> str:
    """The status line under the header: kind is "loading", "ready" or "error"."""
    spin = '<span class="rag-spinner"></span>' if kind == "loading" else ""
    return f'<div class="rag-banner rag-banner-{escape(kind)}">{spin}{esc(text)}</div>'
