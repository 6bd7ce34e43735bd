"""The Library tab's web part: add articles by web address, follow feeds, and update them now."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import gradio as gr

from rag.dates import display_date
from rag.errors import RagError, split_detail
from rag.pipeline_api import PipelineAPI
from rag.settings import Settings
from rag.web.add import PageResult, add_urls
from rag.web.feeds import Feed, FeedList, FeedUpdate, follow, unfollow, update
from ui.render import esc
from ui.warmup import Warmup

log = logging.getLogger(__name__)

MAX_ADDRESSES = 20  # per click: a longer list is a job for `rag add` or a feed


_ADDRESS = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|www\.)\S+$|^[^\s/:]+\.[a-z]{2,}(?:[/:?#]\S*)?$", re.I)


def split_addresses(text: str) -> list[str]:
    """One address per line, each once. A line of several addresses (separated by spaces or commas, as pasted from
    a list) gives each; any other line is one entry, so "not a url" is reported once, whole, as not an address."""
    out: list[str] = []
    for line in (text or "").splitlines():
        parts = [a for a in re.split(r"[\s,]+", line) if a]
        if len(parts) == 1 or (parts and all(_ADDRESS.match(a) for a in parts)):
            out += parts
        elif parts:
            out.append(" ".join(line.split()))
    return list(dict.fromkeys(out))


def _page_html(p: PageResult) -> str:
    if p.status == "failed":
        words, detail = split_detail(p.error)
        more = (f' <details class="rag-detail"><summary>Technical detail</summary><code>{esc(detail)}</code>'
                "</details>" if detail else "")
        if words.startswith("“"):  # the message names the address already
            return f'<li class="rag-fail">✖ {esc(words)}{more}</li>'
        return f'<li class="rag-fail">✖ <span class="rag-doc">{esc(p.url)}</span>: {esc(words)}{more}</li>'
    where = ", ".join(x for x in (p.outlet, display_date(p.published, False)) if x)
    return (f'<li class="rag-ok">✔ {esc(p.status)}: <b>{esc(p.title)}</b>'
            + (f" ({esc(where)})" if where else "") + "</li>")


def pages_html(pages: Sequence[PageResult], heading: str = "") -> str:
    items = "".join(_page_html(p) for p in pages)
    return f'<div class="rag-report">{f"<p>{esc(heading)}</p>" if heading else ""}<ul>{items}</ul></div>'


def updates_html(results: Sequence[FeedUpdate]) -> str:
    parts = []
    for r in results:
        head = f"{r.title or r.feed}: {r.summary()}"
        cls = "rag-fail" if r.error else "rag-ok"
        note = f'<p class="rag-meta">{esc(r.note)}</p>' if r.note else ""
        items = "".join(_page_html(p) for p in [*r.new, *r.failed])
        parts.append(f'<p class="{cls}">{esc(head)}</p>{note}' + (f"<ul>{items}</ul>" if items else ""))
    return f'<div class="rag-report">{"".join(parts)}</div>'


def feeds_html(feeds: Sequence[Feed]) -> str:
    if not feeds:
        return '<p class="rag-placeholder">No feeds followed yet.</p>'
    rows = []
    for f in feeds:
        # "last update: 6 Dec 2026, 13:44 UTC" (dates read as everywhere else on the page)
        when = (f"last update: {display_date(f.last_update[:10], False)}, {f.last_update[11:16]} UTC"
                if f.last_update else "not updated yet")
        added = f"{len(f.hashes)} article{'s' if len(f.hashes) != 1 else ''} added"
        meta = " · ".join(x for x in (when, f.last_result, added) if x)
        rows.append(f'<li><span class="rag-title">{esc(f.title or f.url)}</span>'
                    f'<span class="rag-meta">{esc(meta)}</span><span class="rag-doc">{esc(f.url)}</span></li>')
    return f'<ul class="rag-doclist rag-feedlist">{"".join(rows)}</ul>'


class WebSources:
    def __init__(self, pipeline: PipelineAPI, settings: Settings, warmup: Warmup, library) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.warmup = warmup
        self.library = library  # `busy()` while indexing: a slow answer's status line says why

    def feeds(self) -> str:
        try:
            return feeds_html(FeedList(self.settings.feeds_path).read())
        except RagError as e:
            return f'<p class="rag-fail">{esc(e)}</p>'

    def _ready(self) -> None:
        if not self.warmup.wait():
            raise gr.Error(self.warmup.error or "The models are not available.")

    def _step(self, progress: gr.Progress):
        def step(done: int, total: int, label: str) -> None:
            progress((done, total) if total else None, desc=label or "Indexing")
        return step

    def add(self, text: str, progress: gr.Progress = gr.Progress()) -> tuple[str, Any]:
        """(report, address box): the box keeps what failed, so it can be corrected and tried again."""
        urls = split_addresses(text)
        if not urls:
            gr.Warning("Type or paste a web address first (https://…).")
            return "", gr.skip()
        if len(urls) > MAX_ADDRESSES:
            gr.Warning(f"At most {MAX_ADDRESSES} addresses at once; for more, follow the site's feed.")
            return "", gr.skip()
        self._ready()
        fetched = self._fetch_step(progress)
        with self.library.busy():
            report = add_urls(urls, self.pipeline, self.settings, progress=self._step(progress), fetched=fetched)
        if report.failed:
            gr.Warning(f"{len(report.failed)} of {len(urls)} could not be added; see the report.")
        return pages_html(report.pages), "\n".join(p.url for p in report.failed)

    @staticmethod
    def _fetch_step(progress: gr.Progress):
        def fetched(done: int, total: int, url: str) -> None:
            progress((done, total), desc="Fetching")
        return fetched

    def follow(self, url: str, progress: gr.Progress = gr.Progress()) -> tuple[str, str, Any]:
        """(report, feed list, feed box): follow the feed and take its articles now."""
        url = (url or "").strip()
        if not url:
            gr.Warning("Type or paste a feed address first (https://…/rss).")
            return "", self.feeds(), gr.skip()
        self._ready()
        try:
            feed = follow(url, self.settings)
        except RagError as e:
            return f'<div class="rag-report"><p class="rag-fail">✖ {esc(split_detail(str(e))[0])}</p></div>', \
                self.feeds(), gr.skip()
        html = self._update([feed.url], progress)
        return html, self.feeds(), ""

    def unfollow(self, url: str) -> tuple[str, str, Any]:
        """(report, feed list, feed box): stop following the feed in the box; its articles stay."""
        url = (url or "").strip()
        if not url:
            gr.Warning("Type or paste the address of the feed to stop following, as listed above.")
            return "", self.feeds(), gr.skip()
        try:
            feed = unfollow(url, self.settings)
        except RagError as e:  # not a web address
            return f'<div class="rag-report"><p class="rag-fail">✖ {esc(split_detail(str(e))[0])}</p></div>', \
                self.feeds(), gr.skip()
        if feed is None:
            return f'<div class="rag-report"><p class="rag-fail">✖ not following {esc(url)}</p></div>', \
                self.feeds(), gr.skip()
        html = (f'<div class="rag-report"><p class="rag-ok">✔ No longer following {esc(feed.title or feed.url)}; '
                "the articles it brought stay in the library (remove them from the list above).</p></div>")
        return html, self.feeds(), ""

    def update_now(self, progress: gr.Progress = gr.Progress()) -> tuple[str, str]:
        """(report, feed list): every feed followed, now."""
        if not FeedList(self.settings.feeds_path).read():
            gr.Warning("No feeds followed yet: add a feed address first.")
            return "", self.feeds()
        self._ready()
        return self._update(None, progress), self.feeds()

    def _update(self, urls: list[str] | None, progress: gr.Progress) -> str:
        try:
            with self.library.busy():
                results = update(urls, self.pipeline, self.settings, progress=self._step(progress),
                                 fetched=self._fetch_step(progress))
        except RagError as e:
            return f'<div class="rag-report"><p class="rag-fail">✖ {esc(e)}</p></div>'
        return updates_html(results)
