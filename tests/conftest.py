import os
from pathlib import Path

import pytest

from rag_testdata import ARTICLES, write_article  # noqa: F401 - shared with test modules

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test reads the user's RAG_* settings or writes to the real cache."""
    for key in list(os.environ):
        if key.startswith("RAG_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def hash_embedder():
    from rag.embed import HashEmbedder

    return HashEmbedder(dim=64)


@pytest.fixture
def corpus(tmp_path) -> Path:
    data = tmp_path / "data"
    for name, body in ARTICLES.items():
        write_article(data, name, body)
    return data
