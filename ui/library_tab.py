"""The Library tab's widgets and their wiring: the list (search, order, outlet and feed filters, pages, Show and Remove
on each row), uploads, web addresses and feeds. `ui.library` and `ui.web` do the work; `ui.library_table` draws the
list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from rag.settings import Settings
from ui.library import Library
from ui.library_table import ALL, LOADING_HTML, SORTS
from ui.uploads import ALLOWED_SUFFIXES
from ui.web import WebSources, feeds_html

# The list's rows are drawn as HTML, one page at a time (a Gradio component per row would not stay quick at
# thousands); a click on a row's button becomes an event with the article's id, handled in Python.
LIST_JS = """
element.addEventListener('click', function (ev) {
  var b = ev.target && ev.target.closest ? ev.target.closest('button[data-act]') : null;
  if (!b || b.disabled || !element.contains(b)) return;
  ev.preventDefault();
  var act = b.getAttribute('data-act'), doc = b.getAttribute('data-doc');
  if (act === 'page') { element.__ragTop = true; trigger('go_page', {page: Number(b.getAttribute('data-page'))}); }
  else if (act === 'show') trigger('show_doc', {doc: doc});
  else if (act === 'remove') trigger('remove_doc', {doc: doc});
  else if (act === 'clear') trigger('clear_filters', {});
});
watch('value', function () {  // another page starts at its top
  if (!element.__ragTop) return;
  element.__ragTop = false;
  for (var n = element; n && n.id !== 'rag-docs'; n = n.parentElement) n.scrollTop = 0;
  var box = document.getElementById('rag-docs'); if (box) box.scrollTop = 0;
});
"""
# The article shown by a row's Show button is scrolled into view (it opens below the list).
TEXT_JS = """
watch('value', function () {
  if (element.textContent.trim()) element.scrollIntoView({block: 'nearest'});
});
"""


def _doc(evt: gr.EventData) -> str:
    return str((getattr(evt, "_data", None) or {}).get("doc") or "")


@dataclass
class LibraryTab:
    search: Any
    sort: Any
    outlet: Any
    feed: Any
    page: Any
    refresh: Any
    docs: Any
    pick: Any
    confirm: Any
    confirm_text: Any
    yes: Any
    no: Any
    list_report: Any
    doc_text: Any
    upload: Any
    add: Any
    report: Any
    web_urls: Any
    web_add: Any
    web_report: Any
    feeds_list: Any
    feed_url: Any
    follow: Any
    update: Any
    unfollow: Any
    feed_report: Any

    @property
    def listing(self) -> list[Any]:
        """What the list shows: search, order, outlet, feed and page (the inputs of every redraw)."""
        return [self.search, self.sort, self.outlet, self.feed, self.page]

    @property
    def view_outputs(self) -> list[Any]:
        """The tab's part of `Library.view`'s outputs (the orientation line and examples follow them)."""
        return [self.docs, self.outlet, self.feed, self.page]

    @classmethod
    def build(cls, settings: Settings) -> LibraryTab:
        """The tab's widgets, inside the caller's `gr.Tab`."""
        gr.Markdown("Every article in the index. Search, sort and filter the list; **Show** reads an article, "
                    "**Remove…** takes it out of the index (after a confirmation).")
        with gr.Row(equal_height=False, elem_classes="rag-libbar"):
            search = gr.Textbox(label="Search", placeholder="Headline, outlet, author, site or date…", lines=1,
                                max_lines=1, scale=3, min_width=220, elem_id="rag-lib-search")
            sort = gr.Dropdown(label="Order", choices=SORTS, value="new", scale=1, min_width=180, filterable=False,
                               elem_id="rag-lib-sort")
            outlet = gr.Dropdown(label="Outlet", choices=[("All outlets", ALL)], value=ALL, scale=2, min_width=180,
                                 elem_id="rag-lib-outlet")
            feed = gr.Dropdown(label="Feed", choices=[("All articles", ALL)], value=ALL, scale=2, min_width=180,
                               visible=False, elem_id="rag-lib-feed")
            refresh = gr.Button("Refresh list", size="sm", scale=0, min_width=120, elem_id="rag-lib-refresh")
        page = gr.State(1)
        pick = gr.Textbox(visible=False, elem_id="rag-pick")  # the article a row's Remove asked about
        with gr.Row(visible=False, elem_id="rag-confirm") as confirm:
            confirm_text = gr.Markdown()
            yes = gr.Button("Yes, remove", variant="stop", size="sm", scale=0, min_width=130)
            no = gr.Button("Cancel", size="sm", scale=0, min_width=100)
        list_report = gr.HTML("", visible=False, js_on_load=None, elem_id="rag-list-report",
                              elem_classes="rag-reportbox")
        docs = gr.HTML(LOADING_HTML, js_on_load=LIST_JS, elem_id="rag-docs", max_height=560,
                       elem_classes="rag-listbox")
        doc_text = gr.HTML("", js_on_load=TEXT_JS, elem_id="rag-doc-text", max_height=420)
        gr.Markdown(f"#### Add articles: {', '.join(ALLOWED_SUFFIXES)} files (up to {settings.max_upload_mb} MB "
                    "each), indexed right away")
        with gr.Row():
            upload = gr.File(label="Articles to add", file_count="multiple", type="filepath", height=150, scale=3,
                             elem_id="rag-upload")
            with gr.Column(scale=2):
                add = gr.Button("Add to library", variant="primary")
        report = gr.HTML("", label="Report", js_on_load=None, elem_id="rag-report", elem_classes="rag-reportbox")
        with gr.Row(equal_height=False, elem_classes="rag-webbar"):
            web_urls = gr.Textbox(label="Add by web address", placeholder="https://… (one address per line)",
                                  lines=1, max_lines=6, scale=3, elem_id="rag-url")
            web_add = gr.Button("Add from the web", variant="primary", scale=0, min_width=200, elem_id="rag-url-add")
        web_report = gr.HTML("", js_on_load=None, elem_id="rag-web-report", elem_classes="rag-reportbox")
        gr.Markdown("#### Feeds (RSS or Atom): their new articles are added on each update")
        feeds_list = gr.HTML(feeds_html([]), js_on_load=None, elem_id="rag-feeds", elem_classes="rag-listbox")
        with gr.Row(equal_height=False, elem_classes="rag-feedbar"):
            feed_url = gr.Textbox(label="Follow a feed", placeholder="https://…/feed.xml", lines=1, scale=3,
                                  elem_id="rag-feed-url")
            follow = gr.Button("Follow", scale=0, min_width=100, elem_id="rag-follow")
            update = gr.Button("Update now", scale=0, min_width=150, elem_id="rag-feed-update")
            unfollow = gr.Button("Stop following", scale=0, min_width=150, variant="secondary",
                                 elem_id="rag-unfollow")
        feed_report = gr.HTML("", js_on_load=None, elem_id="rag-feed-report", elem_classes="rag-reportbox")
        return cls(search, sort, outlet, feed, page, refresh, docs, pick, confirm, confirm_text, yes, no, list_report,
                   doc_text, upload, add, report, web_urls, web_add, web_report, feeds_list, feed_url, follow, update,
                   unfollow, feed_report)

    def wire(self, library: Library, web: WebSources, tab: Any, view: list[Any], group: str) -> None:
        """The tab's events. `view`: `Library.view`'s outputs (this tab's, then the orientation line and examples);
        `group`: the concurrency group of everything that changes the library (one change at a time)."""
        hidden = dict(api_visibility="private", show_progress="hidden")
        quick = dict(queue=False, **hidden)
        changes = dict(concurrency_id=group, concurrency_limit=1)
        refresh = dict(fn=library.view, inputs=self.listing, outputs=view, **hidden)
        listed = [self.docs, self.page]

        # the list: a new search, order or filter starts at page 1; typing redraws after the last key only
        def library_first_page(search: str, sort: str, outlet: str, feed: str) -> tuple[str, int]:
            return library.browse(search, sort, outlet, feed, 1)

        def library_go_page(search: str, sort: str, outlet: str, feed: str, evt: gr.EventData) -> tuple[str, int]:
            return library.browse(search, sort, outlet, feed, (getattr(evt, "_data", None) or {}).get("page") or 1)

        def library_clear(sort: str) -> tuple[Any, ...]:
            return ("", ALL, ALL, *library.browse("", sort, ALL, ALL, 1))

        # (change, not input: a pasted or dropped text counts too)
        self.search.change(library_first_page, self.listing[:4], listed, trigger_mode="always_last", **quick)
        self.search.submit(library_first_page, self.listing[:4], listed, **quick)
        for box in (self.sort, self.outlet, self.feed):
            box.input(library_first_page, self.listing[:4], listed, **quick)
        self.docs.go_page(library_go_page, self.listing[:4], listed, **quick)
        self.docs.clear_filters(library_clear, [self.sort], [self.search, self.outlet, self.feed, *listed], **quick)
        self.refresh.click(**refresh)
        tab.select(**refresh)

        # each row's Show and Remove…; removing asks first
        def library_row_show(evt: gr.EventData) -> str:
            return library.show_text(_doc(evt))

        def library_row_remove(evt: gr.EventData) -> tuple[Any, ...]:
            return (*library.ask_remove(_doc(evt)), gr.HTML(visible=False))  # the last removal's line goes

        def library_removed(doc: str) -> tuple[Any, ...]:
            row, report, text = library.remove(doc)
            return row, gr.HTML(report, visible=True), text

        self.docs.show_doc(library_row_show, None, [self.doc_text], **quick)
        self.docs.remove_doc(library_row_remove, None, [self.confirm, self.confirm_text, self.pick, self.list_report],
                             **quick)
        self.no.click(lambda: gr.Row(visible=False), None, [self.confirm], **quick)
        self.yes.click(library_removed, [self.pick], [self.confirm, self.list_report, self.doc_text],
                       api_name="remove_confirmed", show_progress="hidden", **changes).then(**refresh)

        # adding: files, web addresses, feeds
        self.add.click(library.add_files, [self.upload], [self.report, self.upload], api_name="upload",
                       **changes).then(**refresh)
        # a new pick of files starts afresh: the last upload's report would read as this one's
        self.upload.upload(lambda: "", None, [self.report], **quick)
        tab.select(web.feeds, None, self.feeds_list, **hidden)
        for trigger, api in ((self.web_add.click, dict(api_name="add_url")),
                             (self.web_urls.submit, dict(api_visibility="private"))):
            trigger(web.add, [self.web_urls], [self.web_report, self.web_urls], **changes, **api).then(**refresh)
        for trigger in (self.feed_url.submit, self.follow.click):
            trigger(web.follow, [self.feed_url], [self.feed_report, self.feeds_list, self.feed_url],
                    api_visibility="private", **changes).then(**refresh)
        self.unfollow.click(web.unfollow, [self.feed_url], [self.feed_report, self.feeds_list, self.feed_url],
                            **changes, **hidden)
        self.update.click(web.update_now, None, [self.feed_report, self.feeds_list], api_name="update_feeds",
                          **changes).then(**refresh)

