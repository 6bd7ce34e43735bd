"""The page at the issue's two sizes (1280x900, 390x844) in a real headless Chromium, measured from element boxes:
everything needed to ask is on the first screen, nothing runs past its card or the window, no trash icon sits on
the messages, a slow answer shows its stage and the seconds it has taken, and a removed article added
again keeps its id."""

from __future__ import annotations

import pytest
from fake_pipeline import FakeDoc, FakePipeline, default_corpus
from ui_testkit import ARTIFACTS, CHROMIUM, TIMEOUT_MS, Server, ask, expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]

# element boxes, visible ones only: [left, top, right, bottom]
BOXES = """() => {
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const all = s => [...document.querySelectorAll(s)].filter(e => e.offsetParent !== null && e.getClientRects().length);
  const one = s => all(s).map(box)[0] || null;
  return {vw: innerWidth, vh: innerHeight, scrollW: document.documentElement.scrollWidth, scrollY: scrollY,
          bar: one('.rag-askbar'), question: one('#rag-question'), ask: one('#rag-ask'), stop: one('#rag-stop'),
          examples: all('.rag-examples button').map(box), newConv: one('#rag-new'), chat: one('#rag-chat')};
}"""


def _corpus() -> list[FakeDoc]:
    """Three example questions (a headline and two people), as the real library gives."""
    docs = default_corpus(with_xss=False)
    docs.append(FakeDoc("harbour.md", "Port reopens after storm", "Coastal Herald", "2021-03-02",
                        "Harbour master Tomas Varga said on Friday that the port reopened after repairs."))
    return docs


def _inside(inner: list[float], outer: list[float], slack: float = 0.5) -> bool:
    return (inner[0] >= outer[0] - slack and inner[1] >= outer[1] - slack and inner[2] <= outer[2] + slack
            and inner[3] <= outer[3] + slack)


def _first_screen(page) -> dict:
    b = page.evaluate(BOXES)
    screen = [0, 0, b["vw"], b["vh"]]
    assert b["scrollY"] == 0 and b["scrollW"] <= b["vw"] + 1, b  # not scrolled, nothing wider than the window
    for name in ("bar", "question", "ask", "newConv"):
        assert b[name] and _inside(b[name], screen), (name, b)
    assert len(b["examples"]) == 3 and all(_inside(e, screen) for e in b["examples"]), b
    return b


@pytest.mark.parametrize("size", [(1280, 900), (390, 844)], ids=["desktop", "phone"])
def test_everything_to_ask_with_is_on_the_first_screen(browser, serve, settings, size) -> None:
    ctx = browser.new_context(viewport={"width": size[0], "height": size[1]}, is_mobile=size[0] < 700,
                              has_touch=size[0] < 700)
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        srv: Server = serve(FakePipeline(_corpus(), token_delay_s=0.15), settings)
        page.goto(srv.url)
        expect(page.locator(".rag-examples button")).to_have_count(3)
        page.wait_for_timeout(700)  # the chat is fitted to the window once the examples are in
        idle = _first_screen(page)
        ask(page, "Why did Putin enter Syria?")
        page.locator("#rag-chat .rag-draft").first.wait_for()  # Ask and Stop side by side now
        b = page.evaluate(BOXES)
        assert b["stop"] and b["ask"], b
        for name in ("question", "ask", "stop"):  # nothing runs past the card on the right
            assert _inside(b[name], b["bar"]) and b[name][2] <= b["vw"], (name, b)
        # the question box keeps its height: its placeholder does not wrap for lack of room
        assert abs((b["question"][3] - b["question"][1]) - (idle["question"][3] - idle["question"][1])) < 1, b
        assert b["scrollW"] <= b["vw"] + 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"ui-{'phone' if size[0] < 700 else 'desktop'}-writing.png"))
    finally:
        ctx.close()


def test_no_trash_icon_sits_on_the_messages(desktop, serve, settings) -> None:
    """"New conversation" is the one way to start afresh: the chat's own trash icon (the same thing) is hidden, and
    the messages take the chat's whole width."""
    srv: Server = serve(FakePipeline(token_delay_s=0.0), settings)
    page = desktop
    page.goto(srv.url)
    for n, q in enumerate(["Why did Putin enter Syria?", "What did the EU agree on emissions?"], start=1):
        ask(page, q)
        page.locator(f"#src-{n}-1").wait_for()
    page.locator("#rag-chat").hover()
    trash = page.locator("#rag-chat button[aria-label='Clear']")
    assert trash.count() == 0 or not trash.first.is_visible()
    assert page.locator("#rag-chat .icon-button-wrapper").evaluate_all("es => es.every(e => !e.offsetParent)")


def test_a_slow_answer_says_what_it_is_doing_and_for_how_long(page, serve, settings) -> None:
    srv: Server = serve(FakePipeline(read_s=6, token_delay_s=0.005), settings)
    page.goto(srv.url)
    ask(page, "Why did Putin enter Syria?")
    status = page.locator("#rag-chat .rag-status")
    expect(status).to_contain_text("Reading 3 passages from 1 article…")
    clock = status.locator(".rag-elapsed")
    expect(clock).to_have_text("2 s", timeout=TIMEOUT_MS)  # counts on while nothing else changes on screen
    expect(clock).to_have_text("3 s", timeout=TIMEOUT_MS)
    page.locator("#src-1-1").wait_for()
    expect(page.locator("#rag-chat .rag-elapsed")).to_have_count(0)  # gone with the answer


def test_a_removed_article_uploaded_again_keeps_its_id(page, serve, settings, tmp_path) -> None:
    """Through the page: remove an article, upload its file again, and the library lists it under its old id."""
    from rag.index.embed import HashEmbedder
    from rag.pipeline import Pipeline

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    original = "# Port reopens after storm\n\nHarbour master Tomas Varga said the port reopened after repairs.\n"
    (settings.data_dir / "002_harbour.md").write_text(original)

    class LibraryOnly(Pipeline):  # the real library (ids, trash, index); no reader model is needed here
        def warm_up(self) -> None:
            self._ready.set()

    pipe = LibraryOnly(settings.replace(index_dir=tmp_path / "index"), embedder=HashEmbedder(dim=64))
    pipe.ingest()
    srv: Server = serve(pipe, settings)
    page.goto(srv.url)
    page.get_by_role("tab", name="Library").click()
    docs = page.locator("#rag-docs")
    expect(docs).to_contain_text("Port reopens after storm")
    docs.get_by_role("button", name="Remove “Port reopens after storm”").click()
    page.get_by_role("button", name="Yes, remove").click()
    expect(docs).not_to_contain_text("Port reopens after storm")
    upload = tmp_path / "002_harbour.md"
    upload.write_text(original)
    page.locator("#rag-upload input[type=file]").set_input_files([str(upload)])
    expect(page.locator("#rag-upload")).to_contain_text("002_harbour")
    page.get_by_role("button", name="Add to library").click()
    expect(page.locator("#rag-report")).to_contain_text("Added 1 article: Port reopens after storm")
    expect(docs).to_contain_text("Port reopens after storm")
    assert "002_harbour" not in docs.inner_text() and "uploads/" not in docs.inner_text()  # no file names shown
    assert {d.doc for d in pipe.documents()} == {"002_harbour.md"}
