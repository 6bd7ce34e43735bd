"""The Library tab's web part in a real headless Chromium: an article added by its web address (from a local fixture
site), then a question whose answer cites it with its outlet, date and a link to the page; a feed followed and
listed with its last update."""

from __future__ import annotations

import pytest
from ui_testkit import ARTIFACTS, CHROMIUM, TIMEOUT_MS, Server, ask, expect
from webfixtures import FixtureSite

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]

SENTENCE = "The Kestrel Valley water board voted to build a second reservoir north of Aldham by 2028."
PAGE = f"""<!doctype html><html><head><title>Valley to get a second reservoir | Kestrel Valley Courier</title>
<meta property="og:site_name" content="Kestrel Valley Courier">
<meta property="article:published_time" content="2024-06-11T08:30:00Z">
<meta name="author" content="Priya Natarajan"></head>
<body><article><h1>Valley to get a second reservoir</h1>
<p>{SENTENCE} The board's chair said the valley had come close to running dry in two of the last five summers.</p>
<p>The reservoir will hold about four billion litres and cost an estimated 180 million pounds, to be paid for by a
small rise in water bills spread over thirty years, according to the board's published plan.</p>
<p>Farmers near Aldham said they would lose grazing land but welcomed a more reliable supply during droughts, which
have become more frequent across the region since the early 2000s.</p></article></body></html>"""


def test_an_article_added_by_web_address_is_cited_with_outlet_date_and_link(page, serve, settings, tmp_path):
    from rag.generate.base import ScriptedGenerator
    from rag.index.embed import HashEmbedder
    from rag.pipeline import Pipeline

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "harbour.md").write_text("# Port reopens after storm\n\nHarbour master Tomas Varga said "
                                                  "on Friday that the port reopened after a week of repairs.\n")
    s = settings.replace(index_dir=tmp_path / "index", fetch_private=True)
    pipe = Pipeline(s, embedder=HashEmbedder(dim=64), generator=ScriptedGenerator(default=SENTENCE))
    pipe.ingest()
    with FixtureSite() as site:
        site.put("/2024/06/11/reservoir.html", PAGE)
        url = site.url("/2024/06/11/reservoir.html")
        srv: Server = serve(pipe, s)
        page.goto(srv.url)
        page.get_by_role("tab", name="Library").click()
        page.locator("#rag-url textarea").fill(url + "?utm_source=newsletter")
        page.get_by_role("button", name="Add from the web").click()
        report = page.locator("#rag-web-report")
        expect(report).to_contain_text("added: Valley to get a second reservoir", timeout=TIMEOUT_MS)
        expect(report).to_contain_text("Kestrel Valley Courier, 11 Jun 2024")
        expect(page.locator("#rag-docs")).to_contain_text("Valley to get a second reservoir")
        expect(page.locator("#rag-url textarea")).to_have_value("")  # nothing failed, nothing left to retry

        page.locator("#rag-url textarea").fill("file:///etc/passwd")
        page.get_by_role("button", name="Add from the web").click()
        expect(report).to_contain_text("only http:// and https://")
        expect(page.locator("#rag-url textarea")).to_have_value("file:///etc/passwd")  # kept, to correct it
        page.locator("#rag-url textarea").fill("not a url")  # one line, one address: one error that names it once
        page.get_by_role("button", name="Add from the web").click()
        expect(report).to_have_text("✖ “not a url” is not a web address: it has spaces in it (one address per line)")

        page.get_by_role("tab", name="Ask").click()
        ask(page, "Where will the second reservoir be built?")
        card = page.locator("#rag-sources .rag-card").first
        card.wait_for()
        expect(card).to_contain_text("Kestrel Valley Courier")
        expect(card).to_contain_text("11 Jun 2024")
        expect(card).to_contain_text("by Priya Natarajan")
        link = card.locator("a.rag-link")
        expect(link).to_have_attribute("href", url)  # the page itself, without the tracking parameters
        expect(link).to_have_attribute("target", "_blank")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "ui-web-source.png"))

        page.get_by_role("tab", name="Library").click()
        feed = ("<?xml version='1.0'?><rss version='2.0'><channel><title>Courier: local news</title>"
                f"<link>{site.url('/')}</link><item><title>Valley to get a second reservoir</title>"
                f"<link>{url}</link><guid>{url}</guid></item></channel></rss>")
        site.put("/rss.xml", feed, "application/rss+xml")
        page.locator("#rag-feed-url textarea").fill(site.url("/rss.xml"))
        page.get_by_role("button", name="Follow", exact=True).click()
        expect(page.locator("#rag-feed-report")).to_contain_text("Courier: local news: 0 new, 1 skipped")
        expect(page.locator("#rag-feeds")).to_contain_text("last update:")
        page.get_by_role("button", name="Update now").click()
        expect(page.locator("#rag-feed-report")).to_contain_text("0 new, 1 skipped")
        page.screenshot(path=str(ARTIFACTS / "ui-web-library.png"), full_page=True)
        page.locator("#rag-feed-url textarea").fill(site.url("/rss.xml"))
        page.get_by_role("button", name="Stop following").click()
        expect(page.locator("#rag-feed-report")).to_contain_text("No longer following Courier: local news")
        expect(page.locator("#rag-feeds")).to_contain_text("No feeds followed yet")
