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
