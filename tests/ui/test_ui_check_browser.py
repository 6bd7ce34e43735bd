"""In a real headless Chromium: checking a true and a false claim in the "Check a claim" tab, narrowing the chat to a
date range, and Stop taking effect at once with the question back in the box."""

from __future__ import annotations

import time

import pytest
from fake_pipeline import FakePipeline
from ui_testkit import ARTIFACTS, CHROMIUM, TIMEOUT_MS, Server, ask, expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]

TRUE_CLAIM = "Putin entered Syria to protect Russia's only naval base on the Mediterranean."
FALSE_CLAIM = "EU leaders agreed to cut emissions by at least 40 percent by 2030."
Q_BOTH = "What did Western governments and environmental groups say?"  # cites a 2015 and a 2020 article


def _check(page, claim: str, enter: bool = False) -> None:
    box = page.locator("#rag-claim textarea")
    box.fill(claim)
    if enter:
        box.press("Enter")
    else:
        page.get_by_role("button", name="Check", exact=True).click()


def test_check_a_true_and_a_false_claim(page, serve, settings) -> None:
    srv: Server = serve(FakePipeline(check_s=0.3), settings)
    page.goto(srv.url)
    page.get_by_role("tab", name="Check a claim").click()
    result = page.locator("#rag-check-result")
    _check(page, TRUE_CLAIM)
    expect(result.locator(".rag-badge")).to_have_text("Supported", timeout=TIMEOUT_MS)
    first = result.locator(".rag-card").first
    quote = srv.pipeline.check_claim(TRUE_CLAIM)["quote"]
    expect(first.locator("mark")).to_have_text(quote)
    expect(first).to_contain_text("Western governments said most of the first strikes")  # its paragraph
    expect(first.locator(".rag-meta")).to_contain_text("The Global Ledger")
    green = result.locator(".rag-badge").evaluate("e => getComputedStyle(e).color")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-check-supported.png"), full_page=True)

    _check(page, FALSE_CLAIM, enter=True)
    expect(result.locator(".rag-badge")).to_have_text("Contradicted", timeout=TIMEOUT_MS)
    expect(result.locator(".rag-card").first.locator("mark")).to_contain_text("at least 55 percent by 2030")
    expect(result.locator(".rag-card").first.locator(".rag-meta")).to_contain_text("Continental Post")
    assert result.locator(".rag-badge").evaluate("e => getComputedStyle(e).color") != green  # told apart at a glance
    page.screenshot(path=str(ARTIFACTS / "ui-check-contradicted.png"), full_page=True)

    page.locator("#rag-claim textarea").fill("")
    page.get_by_role("button", name="Check", exact=True).click()
    expect(result).to_have_text("⚠ The claim is empty: paste one sentence to check.")
    assert srv.pipeline.claims == [TRUE_CLAIM, TRUE_CLAIM, FALSE_CLAIM]  # the empty one never reached it


def test_the_date_filter_narrows_an_answers_sources(page, serve, settings) -> None:
    srv: Server = serve(FakePipeline(token_delay_s=0.005), settings)
    page.goto(srv.url)
    line = page.locator("#rag-range")
    expect(line).to_be_hidden()
    page.get_by_role("button", name="Dates", exact=True).click()
    page.locator("#rag-since input, #rag-since textarea").first.fill("in the spring")
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(line).to_contain_text("'in the spring' is not a date I can read")
    page.locator("#rag-since input, #rag-since textarea").first.fill("2020")
    page.locator("#rag-until input, #rag-until textarea").first.fill("December 2020")
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(line).to_contain_text("Only articles from 1 Jan 2020 to 31 Dec 2020 · Clear")
    expect(page.locator("#rag-dates")).to_be_hidden()
    ask(page, Q_BOTH)
    page.locator("#src-1-1").wait_for()
    expect(page.locator("#rag-stop")).to_be_hidden(timeout=TIMEOUT_MS)
    sources = page.locator("#turn-1 .rag-cards")
    expect(sources).to_contain_text("EU agrees deeper emissions cut")
    assert "Why Russia went into Syria" not in sources.inner_text()  # the 2015 article is left out
    expect(page.locator("#rag-chat .rag-dated")).to_have_text("Only articles from 1 Jan 2020 to 31 Dec 2020")
    page.screenshot(path=str(ARTIFACTS / "ui-date-filter.png"))
    line.locator("a.rag-range-clear").click()  # Clear: every article again
    expect(line).to_be_hidden()
    ask(page, Q_BOTH)
    page.locator("#src-2-1").wait_for()
    expect(page.locator("#turn-2 .rag-cards")).to_contain_text("Why Russia went into Syria")
    assert srv.pipeline.dates[-1] is None and srv.pipeline.dates[-2].since == "2020-01-01"


def test_stop_shows_at_once_and_puts_the_question_back(page, serve, settings) -> None:
    # the reader notices Stop only 4 s later (a long prompt read on a busy machine)
    srv: Server = serve(FakePipeline(token_delay_s=0.15, stop_lag_s=4.0), settings)
    page.goto(srv.url)
    q = "Why did Putin enter Syria?"
    ask(page, q)
    stop = page.locator("#rag-stop")
    expect(page.locator("#rag-chat .rag-draft")).to_contain_text("[1]", timeout=TIMEOUT_MS)
    t0 = time.monotonic()
    stop.click()
    expect(stop).to_be_hidden(timeout=1500)
    expect(page.locator("#rag-chat .rag-stopped")).to_contain_text("Stopped", timeout=1500)
    expect(page.locator("#rag-question textarea")).to_have_value(q, timeout=1500)
    assert time.monotonic() - t0 < 3.0
    page.locator("#src-1-1").wait_for()  # the checked sentence keeps its source once the reader has stopped
    assert page.locator("#src-1-2").count() == 0
    expect(stop).to_be_hidden()

