"""Fixtures for the UI tests: a fake pipeline, settings in a temp folder, and really launched servers."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_pipeline import FakePipeline  # noqa: E402
from ui_testkit import Server, make_settings, start_server  # noqa: E402

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
