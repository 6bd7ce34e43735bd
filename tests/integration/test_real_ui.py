"""The chat UI in front of the real pipeline: a launched server, gradio_client and headless Chromium."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
QUESTION = "Why did Putin enter Syria?"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def real_server(real_pipeline, real_settings):
    from ui.app import launch

    demo = launch(real_pipeline, real_settings, port=_free_port(), prevent_thread_lock=True, quiet=True)
    yield demo
    demo.close()


def test_ask_api_answers_with_verified_citations(real_server, real_pipeline):
    from gradio_client import Client

    out = Client(real_server.local_url, verbose=False).predict(QUESTION, api_name="/ask")
    assert not out["refused"] and out["citations"]
    for c in out["citations"]:
        assert real_pipeline.document_text(c["doc"])[c["start"] : c["end"]] == c["quote"]
        assert f"[{c['n']}]" in out["answer"]


def test_chat_streams_the_real_answer(real_server):
    from gradio_client import Client

    job = Client(real_server.local_url, verbose=False).submit(QUESTION, api_name="/chat")
    outputs = list(job)
    assert job.status().success
    assert len(outputs) >= 3  # query/passages, draft tokens, final answer
    chat, sources = outputs[-1]
    assert "<mark>" in sources and 'id="src-1-1"' in sources


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium")
def test_example_click_in_chromium(real_server, real_pipeline):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1400, "height": 950})
        page.set_default_timeout(60_000)
        page.goto(real_server.local_url)
        page.locator("#rag-question textarea").fill(QUESTION)
        page.get_by_role("button", name="Ask", exact=True).click()
        page.locator("#rag-sources mark").first.wait_for()
        marker = page.locator("#rag-chat a.rag-cite").first
        marker.wait_for()
        card = page.locator("#src-1-1")
        quote = " ".join(card.locator("mark").first.inner_text().split())
        texts = [" ".join(real_pipeline.document_text(d.doc).split()) for d in real_pipeline.documents()]
        assert quote and any(quote in t for t in texts)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "ui-real-answer.png"), full_page=True)
        browser.close()
