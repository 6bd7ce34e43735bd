"""The Library tab's list at news scale: search, sort, filters by outlet and by feed, and one page of rows at a time,
each with its own Show and Remove buttons (the list's script turns their clicks into events; `ui.library` answers
them). Everything here is plain Python over `DocumentInfo` rows: 5,000 articles are searched, sorted and paged in a
few milliseconds, and only the page shown is turned into HTML."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rag.dates import display_date
from rag.schema import DocumentInfo
from ui import titles as naming
from ui.render import esc
from ui.titles import site

PAGE_SIZE = 50
SORTS = [("Newest first", "new"), ("Oldest first", "old"), ("Title A–Z", "title"), ("Outlet A–Z", "outlet")]
_SORT_KEYS = {key for _, key in SORTS}
ALL = ""  # a filter that keeps everything
NONE = "__none__"  # the outlet filter's "no outlet given", the feed filter's "not from a feed"
ANY_FEED = "__any__"  # the feed filter's "from any followed feed"
LOADING_HTML = '<p class="rag-placeholder">Loading the library…</p>'


@dataclass(frozen=True)
class Query:
    """What the list shows: the search words, the order, the two filters and the page (from 1)."""

    search: str = ""
    sort: str = "new"
    outlet: str = ALL
    feed: str = ALL
    page: int = 1

    @classmethod
    def of(cls, search: str | None = "", sort: str | None = "new", outlet: str | None = ALL, feed: str | None = ALL,
           page: int | float | str | None = 1) -> Query:
        """From the page's widgets, whatever they hold (None, a float page number from the browser)."""
        try:
            n = max(1, int(float(page or 1)))
        except (TypeError, ValueError):
            n = 1
        return cls((search or "").strip(), sort if sort in _SORT_KEYS else "new", outlet or ALL, feed or ALL, n)

    @property
    def filtered(self) -> bool:
        return bool(self.search or self.outlet or self.feed)


# ---------- titles, sites, words ----------
def display_title(d: DocumentInfo, text_of: Callable[[str], str] | None = None) -> str:
    """The headline; without one, the first words of the article, then its web address: never its internal id."""
    if naming.real_title(d.doc, d.title):
        return d.title
    words = ""
    if text_of is not None:
        try:
            words = naming.first_words(text_of(d.doc))
        except Exception:  # noqa: BLE001 - no text just means the next fallback
            words = ""
    return naming.readable_title(d.doc, d.title, d.url, words)


def _fold(text: str) -> str:
    """Lower case without accents: "Zürich" is found by "zurich"."""
    text = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in text if not unicodedata.combining(c)) if not text.isascii() else text


def haystack(d: DocumentInfo) -> str:
    """What a search looks in: the headline, outlet, author, site and date as written and as shown."""
    return _fold(" ".join((d.title, d.outlet, d.author or "", site(d.url), d.published,
                           display_date(d.published, d.published_approx))))


# ---------- search, filters, order ----------
def _keep(d: DocumentInfo, q: Query) -> bool:
    if q.outlet and (d.outlet or NONE) != q.outlet:
        return False
    if q.feed == ANY_FEED:
        return bool(d.feed)
    if q.feed == NONE:
        return not d.feed
    return not q.feed or d.feed == q.feed


def _title_key(d: DocumentInfo) -> tuple[bool, str]:
    title = naming.real_title(d.doc, d.title)
    return not title, _fold(re.sub(r"^[^\w]+", "", title))


Keys = Mapping[str, tuple[DocumentInfo, str, tuple[bool, str]]]  # doc -> (its row, search text, title key)


class KeyCache:
    """Each article's search text and title key, kept between searches: an article's keys are worked out again only
    when its row changes, so a keystroke over 5,000 articles compares strings and nothing more."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[DocumentInfo, str, tuple[bool, str]]] = {}

    def of(self, docs: Sequence[DocumentInfo]) -> Keys:
        old, new = self._keys, {}
        for d in docs:
            hit = old.get(d.doc)
            new[d.doc] = hit if hit is not None and (hit[0] is d or hit[0] == d) else (d, haystack(d), _title_key(d))
        self._keys = new  # one assignment: a search running beside this one reads the old or the new whole
        return new


def select(docs: Sequence[DocumentInfo], q: Query, keys: Keys | None = None) -> list[DocumentInfo]:
    """The articles the query keeps, in its order (undated articles last in either date order; within an outlet,
    newest first). `keys`: from a `KeyCache`, when the caller keeps one between searches."""
    keys = keys if keys is not None else KeyCache().of(docs)
    words = _fold(q.search).split()
    rows = [d for d in docs if _keep(d, q)]
    if words:
        rows = [d for d in rows if all(w in keys[d.doc][1] for w in words)]
    rows.sort(key=lambda d: keys[d.doc][2])  # ties in the orders below read alphabetically (sorts are stable)
    if q.sort == "title":
        return rows
    if q.sort == "old":
        rows.sort(key=lambda d: (not d.published, d.published[:10]))
        return rows
    rows.sort(key=lambda d: d.published[:10], reverse=True)  # "" (undated) sorts last
    if q.sort == "outlet":
        rows.sort(key=lambda d: (not d.outlet, _fold(d.outlet)))
    return rows


def page_of(rows: Sequence[DocumentInfo], page: int, size: int = PAGE_SIZE) -> tuple[list[DocumentInfo], int, int]:
    """(the rows on that page, the page itself after clamping, the number of pages)."""
    pages = max(1, -(-len(rows) // size))
    page = min(max(1, page), pages)
    return list(rows[(page - 1) * size: page * size]), page, pages


def outlet_choices(docs: Sequence[DocumentInfo]) -> list[tuple[str, str]]:
    """"All outlets (5,000)", then each outlet with its count, A to Z; "No outlet given" last."""
    counts = Counter(d.outlet or NONE for d in docs)
    named = sorted((o for o in counts if o != NONE), key=_fold)
    out = [(f"All outlets ({len(docs):,})", ALL)] + [(f"{o} ({counts[o]:,})", o) for o in named]
    return out + ([(f"No outlet given ({counts[NONE]:,})", NONE)] if counts[NONE] else [])


def feed_choices(docs: Sequence[DocumentInfo], titles: Mapping[str, str]) -> list[tuple[str, str]]:
    """"All articles", "From any feed", each feed by its title with its count, and "Not from a feed". A feed no
    longer followed is named by its site. Empty when no article came from a feed."""
    counts = Counter(d.feed for d in docs if d.feed)
    if not counts:
        return []

    def name(url: str) -> str:
        return titles.get(url) or f"{site(url) or url} (no longer followed)"

    feeds = sorted(counts, key=lambda u: _fold(name(u)))
    out = [(f"All articles ({len(docs):,})", ALL), (f"From any feed ({sum(counts.values()):,})", ANY_FEED)]
    out += [(f"{name(u)} ({counts[u]:,})", u) for u in feeds]
    rest = len(docs) - sum(counts.values())
    return out + ([(f"Not from a feed: uploads and addresses ({rest:,})", NONE)] if rest else [])


# ---------- HTML ----------
def _button(act: str, label: str, aria: str, cls: str = "", disabled: bool = False, **data: object) -> str:
    attrs = "".join(f' data-{k}="{esc(v)}"' for k, v in data.items())
    return (f'<button type="button" class="rag-act{" " + cls if cls else ""}" data-act="{act}"{attrs} '
            f'aria-label="{esc(aria)}"{" disabled" if disabled else ""}>{label}</button>')


def _row(d: DocumentInfo, text_of: Callable[[str], str] | None) -> str:
    title = display_title(d, text_of)
    name = esc(title)
    if d.url.startswith(("https://", "http://")):
        name = f'<a href="{esc(d.url)}" target="_blank" rel="noopener noreferrer">{name}</a>'
    meta = " · ".join(esc(x) for x in (d.outlet, f"by {d.author}" if d.author else "",
                                        display_date(d.published, d.published_approx),
                                        f"{d.chunks} passage{'s' if d.chunks != 1 else ''}") if x)
    short = title if len(title) <= 60 else title[:59] + "…"
    return (f'<li class="rag-row"><div class="rag-row-text"><span class="rag-title">{name}</span>'
            f'<span class="rag-meta">{meta}</span></div><div class="rag-row-acts">'
            + _button("show", "Show", f"Show the text of “{short}”", doc=d.doc)
            + _button("remove", "Remove…", f"Remove “{short}” from the library", "rag-act-remove", doc=d.doc)
            + "</div></li>")


def _pager(page: int, pages: int) -> str:
    if pages <= 1:
        return ""
    prev = _button("page", "‹ Previous", "Previous page", disabled=page <= 1, page=page - 1)
    nxt = _button("page", "Next ›", "Next page", disabled=page >= pages, page=page + 1)
    return f'<nav class="rag-pager" aria-label="Pages">{prev}<span>page {page:,} of {pages:,}</span>{nxt}</nav>'


def _no_match(q: Query) -> str:
    said = [f"“{esc(q.search)}”"] if q.search else []
    said += ["the outlet chosen"] * bool(q.outlet) + ["the feed chosen"] * bool(q.feed)
    return (f'<p class="rag-placeholder">No article matches {" and ".join(said) or "these filters"}. '
            + _button("clear", "Show all articles", "Clear the search and the filters") + "</p>")


def list_html(docs: Sequence[DocumentInfo], q: Query, keys: Keys | None = None,
              text_of: Callable[[str], str] | None = None) -> tuple[str, int]:
    """(the list's HTML, the page shown): a count line ("1–50 of 5,000 articles"), the pager, and the page's rows,
    under a heading per outlet when sorted by outlet. `text_of` gives the first words of an untitled article."""
    if not docs:
        return '<p class="rag-placeholder">No articles yet: add some below.</p>', 1
    rows = select(docs, q, keys)
    if not rows:
        return f'<div class="rag-doclist-wrap">{_no_match(q)}</div>', 1
    shown, page, pages = page_of(rows, q.page)
    first = (page - 1) * PAGE_SIZE + 1
    noun = "article" if len(rows) == 1 else "articles"
    count = f"{first:,}–{first + len(shown) - 1:,} of {len(rows):,} {noun}" if pages > 1 else f"{len(rows):,} {noun}"
    if len(rows) < len(docs):
        count += f" (of {len(docs):,} in the library)"
    items, outlet = [], None
    per_outlet = Counter(d.outlet for d in rows) if q.sort == "outlet" else Counter()
    for d in shown:
        if q.sort == "outlet" and d.outlet != outlet:
            outlet = d.outlet
            n = per_outlet[outlet]
            items.append(f'<li class="rag-group">{esc(outlet or "No outlet given")} '
                         f'<span class="rag-meta">{n:,} article{"s" if n != 1 else ""}</span></li>')
        items.append(_row(d, text_of))
    head = (f'<div class="rag-listhead"><span class="rag-count" role="status">{esc(count)}</span>'
            f"{_pager(page, pages)}</div>")
    return f'<div class="rag-doclist-wrap">{head}<ul class="rag-doclist">{"".join(items)}</ul></div>', page


def document_html(d: DocumentInfo | None, text: str) -> str:
    """One article to read: its headline (linked to the page it came from), outlet, author and date, then its text."""
    if d is None:
        return ""
    meta = " · ".join(esc(x) for x in (d.outlet, f"by {d.author}" if d.author else "",
                                        display_date(d.published, d.published_approx)) if x)
    title = esc(display_title(d, lambda _: text))
    if d.url.startswith(("https://", "http://")):
        title = f'<a href="{esc(d.url)}" target="_blank" rel="noopener noreferrer">{title}</a>'
    paras = "".join(f"<p>{esc(p)}</p>" for p in re.split(r"\n\s*\n", text or "") if p.strip())
    return (f'<div class="rag-doctext"><h3>{title}</h3><p class="rag-meta">{meta}</p>'
            f'{paras or "<p><i>No text stored.</i></p>"}</div>')
