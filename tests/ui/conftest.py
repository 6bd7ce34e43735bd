"""Fixtures for the UI tests: a fake pipeline, settings in a temp folder, and really launched servers."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_pipeline import FakePipeline  # noqa: E402
from ui_testkit import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, Server, make_settings, start_server  # noqa: E402

from rag.settings import Settings  # noqa: E402


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, max_upload_mb=1)


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """serve(pipeline, settings, **launch_kw) -> Server; every server is closed at teardown."""
    started: list[Server] = []

    def _serve(pipeline: FakePipeline, settings: Settings, **kw) -> Server:
        s = start_server(pipeline, settings, **kw)
        started.append(s)
        return s

    yield _serve
    for s in started:
        s.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One shared server per test module, for tests that do not change the library."""
    s = start_server(FakePipeline(), make_settings(tmp_path_factory.mktemp("ui"), max_upload_mb=1))
    yield s
    s.close()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Debian's Chromium under Playwright (browser downloads are not possible here)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _page(browser, **context) -> Iterator:
    ctx = browser.new_context(**context)
    pg = ctx.new_page()
    errors: list[str] = []
    ended: list[bool] = []  # after the test, a server stopping first makes the page's polling complain: not ours
    pg.on("pageerror", lambda e: errors.append(str(e)))
    # the page logs no warnings or errors (a refused upload's HTTP status is the browser's own line, not ours)
    pg.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}")
          if m.type in ("warning", "error") and "Failed to load resource" not in m.text and not ended else None)
    pg.set_default_timeout(TIMEOUT_MS)
    yield pg
    ended.append(True)
    ctx.close()
    assert not errors, errors


@pytest.fixture
def page(browser) -> Iterator:
    yield from _page(browser, viewport={"width": 1400, "height": 950})


@pytest.fixture
def desktop(browser) -> Iterator:
    """The issue's desktop size, with the clipboard allowed (copying is tested)."""
    yield from _page(browser, viewport={"width": 1280, "height": 900},
                     permissions=["clipboard-read", "clipboard-write"])


@pytest.fixture
def phone(browser) -> Iterator:
    yield from _page(browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
