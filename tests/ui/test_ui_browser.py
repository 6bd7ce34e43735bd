"""The page in a real headless Chromium: example question, citations, sources panel, XSS safety."""

from __future__ import annotations

import pytest
from fake_pipeline import FakePipeline
from ui_testkit import ARTIFACTS, CHROMIUM, TIMEOUT_MS, Server, ask, ask_example, expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium "
                       "(apt-get install -y chromium); Playwright cannot download browsers here"),
]


def test_example_question_shows_cited_answer(page, serve, settings) -> None:
    srv: Server = serve(FakePipeline(warm_up_s=1.5), settings)
    page.goto(srv.url)
    banner = page.locator("#rag-banner")
    banner.get_by_text("Loading models").wait_for()  # shown while the pipeline warms up
    page.get_by_role("button", name="Ask", exact=True).wait_for()
    ask(page, "Why did Putin enter Syria?")  # asked before the models are ready
    page.locator("#rag-sources mark").first.wait_for()
    banner.wait_for(state="hidden")

    chat = page.locator("#rag-chat")
    marker = chat.locator('a.rag-cite[href="#src-1-1"]')
    marker.wait_for()
    assert marker.inner_text() == "[1]"
    assert "rag-draft" not in chat.inner_html()  # the draft was replaced by the final answer
    quote = srv.pipeline.answer("Why did Putin enter Syria?").citations[0].quote
    card = page.locator("#src-1-1")
    assert card.locator("mark").inner_text() == quote
    assert "The Global Ledger · 2 Oct 2015" in card.inner_text()
    assert "Western governments said" in card.inner_text()  # the rest of the paragraph, unmarked
    assert not page.locator("#turn-1 .rag-scores table").is_visible()  # the passages' scores are folded away
    page.locator("#turn-1 summary", has_text="Details").click()
    assert page.locator("#turn-1 .rag-scores table tr").count() == 4  # header + 3 passages
    details = page.locator("#turn-1 .rag-scores").inner_text()
    assert "Why Russia went into Syria" in details and "The Global Ledger · 2 Oct 2015" in details
    assert ".md" not in page.locator("#rag-sources").inner_text()  # internal file names only as data attributes
    assert page.locator('#turn-1 .rag-scores tr[data-doc="putin-syria.md"]').count() >= 1
    assert card.get_attribute("data-doc") == "putin-syria.md"
    examples = page.locator(".rag-examples button")
    assert "Why did Russia go into Syria?" in examples.all_inner_texts()  # drawn from the library's headlines

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-answer.png"), full_page=True)


def test_markers_point_at_their_own_turn(page, serve, settings) -> None:
    srv: Server = serve(FakePipeline(token_delay_s=0.005), settings)
    ask_example(page, srv.url)
    ask(page, "What did the EU agree on emissions?")
    page.locator("#src-2-1").wait_for()
    assert page.locator("#turn-1").get_attribute("open") is None  # earlier turn folded
    page.locator('#rag-chat a.rag-cite[href="#src-1-1"]').click()
    page.wait_for_function("document.getElementById('turn-1').open === true")
    assert page.locator("#src-1-1").is_visible()
    assert "Putin entered Syria" in page.locator("#src-1-1 mark").inner_text()
    assert "emissions" in page.locator("#src-2-1 mark").inner_text()
    assert len(page.context.pages) == 1  # the marker did not open a new tab


def test_refusal_is_styled_differently(page, serve, settings) -> None:
    srv: Server = serve(FakePipeline(token_delay_s=0.005), settings)
    page.goto(srv.url)
    page.locator("#rag-question textarea").fill("What is the capital of Mars?")
    page.locator("#rag-question textarea").press("Enter")
    refusal = page.locator("#rag-chat .rag-refused")
    refusal.wait_for()
    assert refusal.inner_text().startswith("The articles don't say")
    color = refusal.evaluate("e => getComputedStyle(e).color")
    normal = page.evaluate("getComputedStyle(document.querySelector('#rag-chat .message')).color")
    assert color != normal
    assert "No sources cited" in page.locator("#rag-sources").inner_text()
    page.get_by_role("button", name="New conversation").click()
    expect(page.locator("#rag-sources")).to_contain_text("appear here")
    expect(page.locator("#rag-chat .rag-refused")).to_have_count(0)


def test_document_markup_never_runs(page, serve, settings) -> None:
    srv: Server = serve(FakePipeline(token_delay_s=0.005), settings)
    page.goto(srv.url)
    box = page.locator("#rag-question textarea")
    box.fill('What did the security researchers publish? <img src=x onerror="window.__xss=1">')
    page.locator("#rag-question textarea").press("Enter")
    page.locator("#rag-sources mark").first.wait_for()
    page.get_by_role("tab", name="Library").click()
    expect(page.locator("#rag-docs")).to_contain_text(timeout=TIMEOUT_MS, expected="Browser <img")
    page.wait_for_timeout(500)
    assert page.evaluate("typeof window.__xss") == "undefined"
    sources = page.locator("#rag-sources").inner_text()
    assert "<script>window.__xss=1</script>" in sources  # shown as literal text
    assert 'Browser <img src=x onerror="window.__xss=1"> safety & <b>you</b>' in sources
    chat = page.locator("#rag-chat").inner_text()
    assert "<script>window.__xss=1</script>" in chat and '<img src=x onerror="window.__xss=1">' in chat
    assert page.locator("#rag-sources script, #rag-sources img, #rag-chat .message img").count() == 0
    assert "Sec<script>Weekly</script>" in page.locator("#rag-docs").inner_text()


def test_upload_in_the_browser(page, serve, settings, tmp_path) -> None:
    srv: Server = serve(FakePipeline(token_delay_s=0.005), settings)
    article, junk = tmp_path / "orchard.md", tmp_path / "tool.exe"
    article.write_text("# Orchard wins prize\n\nThe village orchard won a national prize for its rare apple trees.")
    junk.write_bytes(b"MZ")
    # what the hidden status line says to screen readers, as each frame shows it
    page.add_init_script("""window.__ragSaid = []; (function look() {
      document.querySelectorAll('.sr-only[role=status]').forEach(e => window.__ragSaid.push(e.textContent.trim()));
      requestAnimationFrame(look); })();""")
    page.goto(srv.url)
    page.get_by_role("tab", name="Library").click()
    expect(page.locator("#rag-docs")).to_contain_text(timeout=TIMEOUT_MS, expected="Why Russia went into Syria")
    page.locator("#rag-upload input[type=file]").set_input_files([str(article), str(junk)])
    page.get_by_text("orchard.md").first.wait_for()
    page.get_by_role("button", name="Add to library").click()
    report = page.locator("#rag-report")
    expect(report).to_contain_text("Added 1 article: Orchard wins prize (1 passage).", timeout=TIMEOUT_MS)
    expect(report).to_contain_text("tool.exe: unsupported file type (.exe)")
    expect(page.locator("#rag-docs")).to_contain_text(timeout=TIMEOUT_MS, expected="Orchard wins prize")
    # no Gradio internals after an upload: no footer ("Use via API", "Runs ⟳"), no run history kept in the browser
    # (and no console warnings: the page fixture fails the test on any, Gradio's "Method not implemented." included)
    page.wait_for_timeout(1500)
    assert page.locator("footer").count() == 0 or not page.locator("footer").first.is_visible()
    assert page.get_by_text("Runs").count() == 0
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('gradio:run-history'))") == []
    # the upload's end is said in words ("Done"; Gradio's own text was its message key, "common.complete")
    page.wait_for_function("window.__ragSaid.includes('Done')", timeout=10_000)
    assert not [said for said in page.evaluate("window.__ragSaid") if said.startswith("common.")]
