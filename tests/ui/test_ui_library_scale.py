"""The Library tab at news scale, in a real headless Chromium: 5,000 generated articles listed a page at a time,
searched, sorted, filtered by outlet and by feed, and a row shown and removed from its own buttons, each timed from the
click or keystroke to the list on screen (printed; the target is a second each)."""

from __future__ import annotations

import re
import time

import pytest
from fake_pipeline import FakeDoc, FakePipeline
from ui_testkit import ARTIFACTS, CHROMIUM, TIMEOUT_MS, Server, expect

from rag.bench.library import generated_library
from rag.dates import display_date
from rag.web.feeds import Feed, FeedList

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]

N = 5000
LIMIT_S = 3.0  # the target is 1 s; a loaded 2-core machine gets some slack, and the times are printed


def _timed(page, times: dict[str, float], name: str, act, selector: str, text: str, gone: bool = False) -> None:
    """Time `act` until the element at `selector` holds `text` (or, `gone`, no longer does), checked at every frame
    (an `expect` polls at growing intervals, which would add up to a second to what is measured)."""
    check = ("([sel, text, gone]) => { const e = document.querySelector(sel);"
             " const has = !!e && e.innerText.includes(text); return gone ? !has : has; }")
    t0 = time.perf_counter()
    act()
    page.wait_for_function(check, arg=[selector, text, gone], polling="raf", timeout=TIMEOUT_MS)
    times[name] = time.perf_counter() - t0


def test_five_thousand_articles_list_search_and_remove_quickly(page, serve, settings) -> None:
    rows = generated_library(N)
    docs = [FakeDoc(d.doc, d.title, d.outlet, d.published, f"{d.title}.\n\nThe article's text.", d.published_approx,
                    url=d.url, author=d.author, feed=d.feed) for d in rows]
    with FeedList(settings.feeds_path).locked() as feeds:
        feeds.append(Feed(url="https://courier.example/rss.xml", title="Courier: local news"))
    srv: Server = serve(FakePipeline(docs, token_delay_s=0.005), settings)
    page.goto(srv.url)
    expect(page.locator("#rag-about")).to_contain_text(f"{N:,} articles from 16 outlets", timeout=TIMEOUT_MS)
    listing = page.locator("#rag-docs")
    count = listing.locator(".rag-count")
    times: dict[str, float] = {}

    _timed(page, times, "list (open the tab)", lambda: page.get_by_role("tab", name="Library").click(),
           "#rag-docs .rag-count", f"1–50 of {N:,} articles")
    assert listing.locator("li.rag-row").count() == 50
    text = listing.inner_text()
    assert not re.search(r"\b[0-9a-f]{8}\.md\b|web/", text)  # no internal file names
    newest = max(rows, key=lambda d: (d.published, d.title.casefold()))  # newest first; ties A to Z
    first_meta = listing.locator("li.rag-row .rag-meta").first.inner_text()
    assert display_date(newest.published, newest.published_approx) in first_meta

    _timed(page, times, "next page", lambda: listing.get_by_role("button", name="Next page").click(),
           "#rag-docs .rag-count", f"51–100 of {N:,} articles")

    word = "reservoir"
    hits = sum(word in d.title.lower() for d in rows)
    _timed(page, times, f"search “{word}”", lambda: page.locator("#rag-lib-search input").fill(word),
           "#rag-docs .rag-count", f"of {hits:,} articles (of {N:,} in the library)")
    assert word in listing.locator("li.rag-row .rag-title").first.inner_text().lower()

    def sort_by_title() -> None:
        page.locator("#rag-lib-sort input").click()
        page.get_by_role("option", name="Title A–Z").click()

    first_title = min((d.title for d in rows if word in d.title.lower()), key=str.casefold)
    _timed(page, times, "sort by title", sort_by_title, "#rag-docs li.rag-row .rag-title", first_title)

    page.locator("#rag-lib-search input").fill("")
    expect(count).to_have_text(f"1–50 of {N:,} articles")
    outlet = "Harbour Gazette"
    n_outlet = sum(d.outlet == outlet for d in rows)

    def pick_outlet() -> None:
        page.locator("#rag-lib-outlet input").click()
        page.get_by_role("option", name=f"{outlet} ({n_outlet:,})").click()

    _timed(page, times, "filter by outlet", pick_outlet,
           "#rag-docs .rag-count", f"of {n_outlet:,} articles (of {N:,} in the library)")
    n_feed = sum(d.feed == "https://courier.example/rss.xml" and d.outlet == outlet for d in rows)
    page.locator("#rag-lib-feed input").click()
    page.get_by_role("option", name=re.compile(r"^Courier: local news \(")).click()
    expect(count).to_contain_text(f"{n_feed:,} articles (of {N:,} in the library)")

    row = listing.locator("li.rag-row").first
    title = row.locator(".rag-title").inner_text()
    victim = next(d for d in rows if d.title == title)
    _timed(page, times, "show a row", lambda: row.get_by_role("button", name="Show").click(),
           "#rag-doc-text h3", title)
    _timed(page, times, "ask to remove a row", lambda: row.get_by_role("button", name=re.compile("^Remove")).click(),
           "#rag-confirm", f"Remove {title} from the library?")
    assert srv.pipeline.removed == []  # nothing happens before the confirmation
    _timed(page, times, "remove it (confirmed)", lambda: page.get_by_role("button", name="Yes, remove").click(),
           "#rag-docs", title, gone=True)
    assert srv.pipeline.removed == [victim.doc]
    expect(page.locator("#rag-list-report")).to_contain_text(f"Removed: {title}.")
    expect(count).to_contain_text(f"{n_feed - 1:,} article")  # the filters stay as they were
    expect(count).to_contain_text(f"of {N - 1:,} in the library")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-library-5000.png"), full_page=True)
    print("\nLibrary tab, 5,000 articles, in Chromium (click or keystroke to the list on screen):")
    for name, s in times.items():
        print(f"  {name:<28} {s * 1000:7.0f} ms")
    slow = {name: round(s, 2) for name, s in times.items() if s > LIMIT_S}
    assert not slow, slow
