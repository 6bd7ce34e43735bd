"""Helpers shared by the UI tests (kept out of conftest.py so test modules can import them by a unique name)."""

from __future__ import annotations

import socket
from pathlib import Path

from fake_pipeline import FakePipeline

from rag.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
TIMEOUT_MS = 20_000


def expect(locator):
    from playwright.sync_api import expect as _expect

    return _expect(locator)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A launched app: its URL, pipeline and settings (for assertions)."""

    def __init__(self, demo, pipeline: FakePipeline, settings: Settings) -> None:
        self.demo = demo
        self.pipeline = pipeline
        self.settings = settings
        self.url: str = demo.local_url

    def close(self) -> None:
        self.demo.close()


def start_server(pipeline: FakePipeline, settings: Settings, **kw) -> Server:
    """Launch on a free localhost port without blocking; the caller closes it."""
    from ui.app import launch

    demo = launch(pipeline, settings, port=free_port(), prevent_thread_lock=True, quiet=True, **kw)
    return Server(demo, pipeline, settings)


def make_settings(root: Path, **kw) -> Settings:
    return Settings(data_dir=root / "data", **kw)


def ask(page, question: str) -> None:
    """Type a question and press the Ask button, as a user would."""
    page.locator("#rag-question textarea").fill(question)
    page.get_by_role("button", name="Ask", exact=True).click()


def ask_example(page, url: str, question: str = "Why did Putin enter Syria?") -> None:
    page.goto(url)
    ask(page, question)
    page.locator("#rag-sources mark").first.wait_for()
