"""The chat page as people use it, in a real headless Chromium: typing and asking while an answer is
written, stopping it, clearing and restoring conversations, managing the library, phone layout, copy."""

from __future__ import annotations

import pytest
from fake_pipeline import FakeDoc, FakePipeline, default_corpus
from ui_testkit import ARTIFACTS, CHROMIUM, TIMEOUT_MS, Server, ask, ask_example, expect

from ui.render import COPY_TIP, answer_markdown

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]

Q1 = "Why did Putin enter Syria?"
Q2 = "What did the EU agree on emissions?"
SLOW = 0.15  # seconds per streamed word: an answer takes a few seconds, time enough to act during it


def _box(page):
    return page.locator("#rag-question textarea")


def _wait_for_draft(page) -> None:
    page.locator("#rag-chat .rag-draft").first.wait_for()


def _idle(page) -> None:
    """The answer (and any queued one) is done: the Stop button is gone again."""
    expect(page.locator("#rag-stop")).to_be_hidden(timeout=TIMEOUT_MS)


def test_typing_during_an_answer_is_kept(page, serve, settings) -> None:
    srv: Server = serve(FakePipeline(token_delay_s=SLOW), settings)
    page.goto(srv.url)
    ask(page, Q1)
    _wait_for_draft(page)
    typed = "What did Klimov say about sanctions"
    _box(page).press_sequentially(typed, delay=40)  # keystrokes while drafts stream in
    assert page.locator("#rag-chat .rag-draft").count() == 1  # it really was typed during the answer
    page.locator("#src-1-1").wait_for()
    _idle(page)
    assert _box(page).input_value() == typed


def test_a_question_asked_during_an_answer_runs_next(page, serve, settings) -> None:
    srv: Server = serve(FakePipeline(token_delay_s=SLOW), settings)
    page.goto(srv.url)
    ask(page, Q1)
    _wait_for_draft(page)
    _box(page).fill(Q2)
    _box(page).press("Enter")
    expect(page.locator("#rag-chat .rag-waiting")).to_contain_text("answered next")  # said plainly
    assert _box(page).input_value() == ""  # the asked question moved into the chat
    page.locator("#src-2-1").wait_for()
    _idle(page)
    assert [q for q, _ in srv.pipeline.questions] == [Q1, Q2]
    history = srv.pipeline.questions[1][1]
    assert history[0] == {"role": "user", "content": Q1} and "Putin entered Syria" in history[1]["content"]
    assert "emissions" in page.locator("#src-2-1 mark").inner_text()
    assert page.locator("#rag-chat .rag-waiting").count() == 0


def test_clearing_forgets_the_conversation(page, serve, settings) -> None:
    srv: Server = serve(FakePipeline(token_delay_s=0.005), settings)
    ask_example(page, srv.url)
    _idle(page)
    page.get_by_role("button", name="New conversation").click()  # the one way: the chat has no trash icon
    expect(page.locator("#rag-chat .rag-answer")).to_have_count(0)
    expect(page.locator("#rag-sources")).to_contain_text("appear here")
    ask(page, Q2)
    page.locator("#src-1-1").wait_for()  # numbering starts again
    _idle(page)
    assert srv.pipeline.questions[-1] == (Q2, [])  # the cleared turn is not follow-up context
    assert "Putin" not in page.locator("#rag-sources").inner_text()
    page.reload()
    page.locator("#src-1-1").wait_for()
    assert "Putin" not in page.locator("#rag-chat").inner_text()  # and it does not come back on reload


def test_reload_restores_the_conversation(page, serve, settings) -> None:
    srv: Server = serve(FakePipeline(token_delay_s=0.005), settings)
    ask_example(page, srv.url)
    _idle(page)
    answer = page.locator("#rag-chat .rag-answer").first.inner_text()
    page.reload()
    restored = page.locator("#rag-chat .rag-answer").first
    expect(restored).to_have_text(answer, timeout=TIMEOUT_MS)
    page.locator('#rag-chat a.rag-cite[href="#src-1-1"]').click()
    expect(page.locator("#src-1-1 mark")).to_contain_text("Putin entered Syria")
    ask(page, "Where is the naval base?")  # the restored turn is follow-up context again
    page.locator("#src-2-1").wait_for()
    assert srv.pipeline.questions[-1][1][0] == {"role": "user", "content": Q1}


def test_stop_keeps_the_checked_sentences(page, serve, settings) -> None:
    srv: Server = serve(FakePipeline(token_delay_s=SLOW), settings)
    page.goto(srv.url)
    ask(page, Q1)
    stop = page.locator("#rag-stop")
    expect(stop).to_be_visible()
    expect(page.locator("#rag-chat .rag-draft")).to_contain_text("[1]", timeout=TIMEOUT_MS)
    stop.click()
    expect(page.locator("#rag-chat .rag-stopped")).to_contain_text("Stopped", timeout=TIMEOUT_MS)
    _idle(page)
    expect(_box(page)).to_have_value(Q1)  # the stopped question is back in the box, to edit or ask again
    page.locator("#src-1-1").wait_for()  # the page shows it stopped at once; the kept sentence's source follows
    full = srv.pipeline.answer(Q1)
    assert len(full.citations) == 2  # the whole answer would have cited two passages
    shown = page.locator("#rag-chat .rag-answer").first.inner_text()
    assert full.citations[0].quote in shown and full.citations[1].quote not in shown
    assert page.locator("#src-1-1").count() == 1 and page.locator("#src-1-2").count() == 0
    ask(page, Q2)  # the next question is answered in full
    page.locator("#src-2-1").wait_for()
    assert page.locator("#rag-chat .rag-stopped").count() == 1


def test_remove_a_document_and_read_one(page, serve, settings) -> None:
    srv: Server = serve(FakePipeline(token_delay_s=0.005), settings)
    page.goto(srv.url)
    examples = page.locator(".rag-examples button")
    expect(examples.first).to_have_text("Why did Russia go into Syria?", timeout=TIMEOUT_MS)
    page.get_by_role("tab", name="Library").click()
    expect(page.locator("#rag-docs")).to_contain_text("Why Russia went into Syria", timeout=TIMEOUT_MS)
    # no file names and no separate picker: each row has its own buttons
    assert "putin-syria.md" not in page.locator("#rag-docs").inner_text()
    assert page.locator("#rag-pick").count() == 0 or not page.locator("#rag-pick").is_visible()
    row = page.locator("#rag-docs li.rag-row", has_text="Why Russia went into Syria")
    row.get_by_role("button", name="Show").click()
    expect(page.locator("#rag-doc-text")).to_contain_text("Russian warplanes began striking targets")
    expect(page.locator("#rag-doc-text")).to_contain_text("The Global Ledger · 2 Oct 2015")
    row.get_by_role("button", name="Remove “Why Russia went into Syria” from the library").click()
    confirm = page.locator("#rag-confirm")
    expect(confirm).to_contain_text("Remove Why Russia went into Syria from the library?")
    assert "data folder" not in confirm.inner_text()
    page.get_by_role("button", name="Cancel").click()  # nothing happens before the confirmation
    expect(confirm).to_be_hidden()
    assert srv.pipeline.removed == []
    row.get_by_role("button", name="Remove “Why Russia went into Syria”").click()
    page.get_by_role("button", name="Yes, remove").click()
    expect(page.locator("#rag-list-report")).to_contain_text("Removed: Why Russia went into Syria.")
    expect(page.locator("#rag-docs")).not_to_contain_text("Why Russia went into Syria")
    expect(page.locator("#rag-docs .rag-count")).to_have_text("2 articles")
    assert srv.pipeline.removed == ["putin-syria.md"]
    page.get_by_role("tab", name="Ask").click()
    expect(page.locator("#rag-about")).to_contain_text("2 articles")
    expect(examples.filter(has_text="Why Russia went into Syria?")).to_have_count(0)  # examples follow


def test_corrupt_upload_is_marked_failed_and_not_kept(page, serve, settings, tmp_path) -> None:
    srv: Server = serve(FakePipeline(token_delay_s=0.005), settings)
    bad, good = tmp_path / "quarterly_report.pdf", tmp_path / "council.md"
    bad.write_bytes(b"%PDF-1.4 this file is damaged")
    good.write_text("# How Larkspur Falls approved its budget\n\nThe council approved the budget on Monday.")
    page.goto(srv.url)
    page.get_by_role("tab", name="Library").click()
    page.locator("#rag-upload input[type=file]").set_input_files([str(bad), str(good)])
    expect(page.locator("#rag-upload")).to_contain_text("council")
    page.get_by_role("button", name="Add to library").click()
    report = page.locator("#rag-report")
    expect(report).to_contain_text("✔ Added 1 article: How Larkspur Falls approved its budget (1 passage).")
    expect(report.locator(".rag-fail")).to_contain_text("✖ Skipped 1:")
    expect(report.locator(".rag-fail")).to_contain_text("quarterly_report.pdf")
    assert "✔" not in report.locator(".rag-fail").inner_text()
    # in words; pypdf's own message is kept behind a toggle, folded
    expect(report.locator(".rag-fail")).to_contain_text("the file is damaged or not a complete PDF")
    detail = report.locator(".rag-fail details.rag-detail")
    expect(detail.locator("summary")).to_have_text("Technical detail")
    assert not detail.locator("code").is_visible() and "corrupt PDF" in (detail.locator("code").text_content() or "")
    detail.locator("summary").click()
    expect(detail.locator("code")).to_be_visible()
    red = report.locator(".rag-fail p").first.evaluate("e => getComputedStyle(e).color")
    assert red == "rgb(153, 27, 27)"
    assert sorted(p.name for p in settings.upload_path.iterdir()) == ["council.md"]
    page.locator("#rag-upload input[type=file]").set_input_files([str(good)])  # the next upload starts afresh
    expect(report).to_have_text("")
    page.get_by_role("tab", name="Ask").click()  # the new article's headline is an example now, asked properly
    expect(page.locator(".rag-examples button", has_text="How did Larkspur Falls approve its budget?")).to_be_visible()


def test_desktop_layout_dates_and_copy(desktop, serve, settings) -> None:
    docs = [FakeDoc(d.doc, d.title, d.outlet, "2015-10-14" if d.doc == "putin-syria.md" else d.published, d.text,
                    d.doc == "putin-syria.md") for d in default_corpus(with_xss=False)]
    srv: Server = serve(FakePipeline(docs, token_delay_s=0.005), settings)
    page = desktop
    page.goto(srv.url)
    page.wait_for_function("!!document.activeElement && !!document.activeElement.closest('#rag-question')")
    # what the library holds, by headline, with the estimated date marked as on the cards
    expect(page.locator("#rag-about")).to_contain_text(
        "2 articles: “Why Russia went into Syria” (The Global Ledger, about Oct 2015)")
    new = page.get_by_role("button", name="New conversation")
    box = new.bounding_box()
    assert box and box["y"] + box["height"] <= 900  # visible without scrolling
    ask_btn = page.get_by_role("button", name="Ask", exact=True)
    assert ask_btn.evaluate("e => e.tagName") == "BUTTON" and ask_btn.bounding_box()["width"] >= 60
    assert page.get_by_text("Conversation", exact=True).count() == 0  # no floating label over messages
    ask(page, Q1)
    card = page.locator("#src-1-1")
    card.wait_for()
    _idle(page)
    assert "The Global Ledger · about Oct 2015" in card.inner_text()
    assert "2015-10-14" not in page.locator("#rag-sources").inner_text()
    assert "putin-syria.md" not in card.inner_text()  # the file name is behind "Details"
    copy = page.locator("#rag-chat a.rag-copy")
    assert copy.get_attribute("title") == COPY_TIP and copy.get_attribute("role") == "button"
    box = copy.bounding_box()
    assert box and box["width"] >= 24 and box["height"] >= 20  # a button to see and hit, not a small grey link
    copy.click()
    expect(copy.locator(".rag-copy-label")).to_have_text("Copied ✓")
    copied = page.evaluate("navigator.clipboard.readText()")
    turn = srv.pipeline.answer(Q1)
    assert copied.startswith(turn.answer)
    assert copied == answer_markdown(turn.to_dict())
    assert (f"[1] *Why Russia went into Syria*, The Global Ledger, about Oct 2015\n"
            f"> {turn.citations[0].quote}\n") in copied  # a Markdown block quote, no quotation marks to nest
    page.get_by_role("tab", name="Library").click()
    docs_box = page.locator("#rag-docs")
    expect(docs_box).to_contain_text("The Global Ledger · about Oct 2015")  # as on the card and the line above
    assert docs_box.evaluate("e => e.scrollWidth <= e.clientWidth + 1")  # nothing cut off
    page.get_by_role("tab", name="Ask").click()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-desktop-1280.png"))


def test_phone_layout_and_way_back_from_a_citation(phone, serve, settings) -> None:
    srv: Server = serve(FakePipeline(token_delay_s=0.005), settings)
    page = phone
    page.goto(srv.url)
    page.locator(".rag-examples button").first.wait_for()
    page.wait_for_timeout(500)
    assert page.evaluate("window.scrollY") == 0  # not scrolled past the title on load
    assert page.locator(".rag-header h1").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")  # no sideways scroll
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-phone-390.png"))
    ask(page, Q1)
    marker = page.locator('#rag-chat a.rag-cite[href="#src-1-1"]')
    marker.wait_for()
    _idle(page)
    marker.click()
    card = page.locator("#src-1-1")
    page.wait_for_function("(() => { const r = document.getElementById('src-1-1').getBoundingClientRect();"
                           " return r.top >= 0 && r.top < window.innerHeight; })()")
    card.locator("a.rag-back").click()
    page.wait_for_function("(() => { const m = document.querySelector('#rag-chat a.rag-cite[href=\"#src-1-1\"]');"
                           " const r = m.getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight; })()")
    page.get_by_role("tab", name="Library").click()
    expect(page.locator("#rag-docs")).to_contain_text("Why Russia went into Syria")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.screenshot(path=str(ARTIFACTS / "ui-phone-390-library.png"), full_page=True)
