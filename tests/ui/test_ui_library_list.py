"""The Library tab's list without a browser: search, order, filters, pages, titles without file names, and the row
actions through `ui.library.Library` (a stub pipeline); the web box's addresses, one per line."""

from __future__ import annotations

import re

import pytest

from rag.bench.library import StubLibraryPipeline, generated_library
from rag.errors import with_detail
from rag.schema import DocumentInfo
from rag.settings import Settings
from rag.web.add import PageResult
from rag.web.fetch import PRIVATE_WORDS
from ui.library import Library
from ui.library_table import (ANY_FEED, NONE, PAGE_SIZE, KeyCache, Query, display_title, feed_choices, list_html,
                              outlet_choices, select)
from ui.web import pages_html, split_addresses


def _doc(doc: str, title: str, outlet: str = "", published: str = "", **kw) -> DocumentInfo:
    return DocumentInfo(doc, title, outlet, published, 3, **kw)


DOCS = [
    _doc("a.md", "Zebra crossing returns", "Valley Voice", "2024-05-02", author="Jane Doe"),
    _doc("b.md", "“Apple” harvest early", "Atlas Review", "2026-03-03", feed="https://f.example/rss"),
    _doc("c.md", "Mayor of Zürich resigns", "Atlas Review", "2015-10-14", published_approx=True,
         url="https://www.zeitung.example/zurich/mayor"),
    _doc("d.md", "Bridge closed", "", ""),
]


def _titles(q: Query) -> list[str]:
    return [d.title for d in select(DOCS, q)]


def test_search_sort_and_filters() -> None:
    assert _titles(Query()) == ["“Apple” harvest early", "Zebra crossing returns", "Mayor of Zürich resigns",
                                "Bridge closed"]  # newest first, undated last
    assert _titles(Query(sort="old")) == ["Mayor of Zürich resigns", "Zebra crossing returns",
                                          "“Apple” harvest early", "Bridge closed"]
    assert _titles(Query(sort="title")) == ["“Apple” harvest early", "Bridge closed", "Mayor of Zürich resigns",
                                            "Zebra crossing returns"]  # the opening quote mark does not count
    assert _titles(Query(sort="outlet")) == ["“Apple” harvest early", "Mayor of Zürich resigns",
                                             "Zebra crossing returns", "Bridge closed"]
    assert _titles(Query(search="zurich")) == ["Mayor of Zürich resigns"]  # accents aside
    assert _titles(Query(search="zeitung")) == ["Mayor of Zürich resigns"]  # the site
    assert _titles(Query(search="jane valley")) == ["Zebra crossing returns"]  # every word, anywhere
    assert _titles(Query(search="mar 2026")) == ["“Apple” harvest early"]  # the date as shown
    assert _titles(Query(outlet="Atlas Review")) == ["“Apple” harvest early", "Mayor of Zürich resigns"]
    assert _titles(Query(outlet=NONE)) == ["Bridge closed"]
    assert _titles(Query(feed=ANY_FEED)) == ["“Apple” harvest early"]
    assert _titles(Query(feed=NONE, outlet="Atlas Review")) == ["Mayor of Zürich resigns"]
    assert Query.of(None, "nonsense", None, None, "2.0") == Query(sort="new", page=2)


def test_filter_choices_count_what_they_keep() -> None:
    assert outlet_choices(DOCS) == [("All outlets (4)", ""), ("Atlas Review (2)", "Atlas Review"),
                                    ("Valley Voice (1)", "Valley Voice"), ("No outlet given (1)", NONE)]
    assert feed_choices(DOCS, {"https://f.example/rss": "Farm news"}) == [
        ("All articles (4)", ""), ("From any feed (1)", ANY_FEED), ("Farm news (1)", "https://f.example/rss"),
        ("Not from a feed: uploads and addresses (3)", NONE)]
    assert feed_choices(DOCS, {})[2][0] == "f.example (no longer followed) (1)"
    assert feed_choices(DOCS[:1], {}) == []  # no feed in the library: no feed filter


def test_rows_show_titles_dates_and_buttons_never_file_names() -> None:
    html, page = list_html(DOCS, Query())
    assert page == 1 and '<span class="rag-count" role="status">4 articles</span>' in html
    assert "3 Mar 2026" in html and "about Oct 2015" in html and "2026-03-03" not in html  # dates as everywhere
    assert 'data-act="show" data-doc="a.md"' in html and 'data-act="remove" data-doc="a.md"' in html
    assert 'aria-label="Remove “Zebra crossing returns” from the library"' in html
    assert not re.search(r">[^<]*\b[a-d]\.md\b", html)  # ids only in the buttons' data, never as text
    hashed = _doc("000_27674378f27b9ee8.md", "000 27674378f27b9ee8")  # the loader's last-resort title
    text = "# Heading\n\nThe council met on Monday to vote on the budget for next year and the year after."
    assert display_title(hashed, lambda _: text) == "The council met on Monday to vote on the budget for next…"
    assert display_title(_doc("x.md", "", url="https://www.news.example/a/b/")) == "news.example/a/b"
    assert display_title(_doc("x.md", "")) == "Untitled article"
    assert display_title(_doc("council-budget.md", "Council budget")) == "Council budget"  # a name people chose
    html, _ = list_html(DOCS, Query(search="nothing like it"))
    assert "No article matches “nothing like it”" in html and 'data-act="clear"' in html
    assert "No articles yet" in list_html([], Query())[0]
    grouped, _ = list_html(DOCS, Query(sort="outlet"))
    assert grouped.count('class="rag-group"') == 3 and "No outlet given" in grouped


def test_pages_of_a_large_library() -> None:
    docs = generated_library(5000)
    keys = KeyCache()
    html, page = list_html(docs, Query(page=3), keys.of(docs))
    assert page == 3 and "101–150 of 5,000 articles" in html and html.count('class="rag-row"') == PAGE_SIZE
    assert 'data-page="2"' in html and 'data-page="4"' in html
    html, page = list_html(docs, Query(page=999), keys.of(docs))
    assert page == 100 and "4,951–5,000 of 5,000" in html and 'aria-label="Next page" disabled' in html
    again = keys.of(docs)
    assert all(again[d.doc][0] is d for d in docs[:10])  # kept between searches


def test_library_actions_through_a_stub_pipeline(tmp_path) -> None:
    from ui.warmup import Warmup

    pipe = StubLibraryPipeline(generated_library(120))
    warm = Warmup(pipe)  # type: ignore[arg-type]
    assert warm.wait()
    lib = Library(pipe, Settings(data_dir=tmp_path / "data"), warm)  # type: ignore[arg-type]
    html, outlets, feeds, page, about, *_ = lib.view("", "new", "", "", 9)
    assert page == 3 and "101–120 of 120 articles" in html and "120 articles from" in about
    assert outlets.value == "" and feeds.visible is True
    victim = pipe.documents()[0]
    row, question, pick = lib.ask_remove(victim.doc)
    assert row.visible is True and pick == victim.doc and pipe.removed == []
    assert question.startswith("Remove **") and "data folder" not in question and ".md" not in question
    text = lib.show_text(victim.doc)
    assert victim.title.split(" (")[0] in text and victim.doc not in text
    _, report, _ = lib.remove(victim.doc)
    assert pipe.removed == [victim.doc] and f"Removed: {victim.title}." in report
    with pytest.warns(UserWarning, match="no longer in the library"):  # removed meanwhile in another window
        _, report, _ = lib.remove(victim.doc)
    assert "no longer in the library" in report
    html, page = lib.browse(victim.title.split()[0], "title", "", "", 1)
    assert victim.title not in html
    gone_outlet = lib.view("", "new", "No such outlet", "", 1)[1]
    assert gone_outlet.value == ""  # a filter whose outlet is gone shows everything


def test_web_addresses_one_per_line_and_errors_named_once() -> None:
    assert split_addresses("not a url") == ["not a url"]
    assert split_addresses("https://a.example/1 https://b.example/2,\n\nwww.c.example\n") == [
        "https://a.example/1", "https://b.example/2", "www.c.example"]
    failed = PageResult("not a url", status="failed", error="“not a url” is not a web address: it has spaces in it")
    html = pages_html([failed])
    assert html.count("<li") == 1 and "✖ “not a url” is not a web address: it has spaces in it</li>" in html
    assert failed.line() == "✖ “not a url” is not a web address: it has spaces in it"
    private = PageResult("http://127.0.0.1:8000/", status="failed",
                         error=with_detail(PRIVATE_WORDS, "127.0.0.1, on this machine; RAG_FETCH_PRIVATE=1 allows"))
    html = pages_html([private])
    assert html.count("127.0.0.1") == 2  # the address, and the folded detail: not in the words
    words = html.split("</span>: ", 1)[1].split(" <details", 1)[0]
    assert words == PRIVATE_WORDS and "RAG_FETCH_PRIVATE" not in words
    added = PageResult("https://n.example/a", status="added", title="Valley reservoir", outlet="Courier",
                       published="2024-06-11")
    assert "(Courier, 11 Jun 2024)" in pages_html([added])
