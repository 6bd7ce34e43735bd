import os
from pathlib import Path

import pytest

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


def write_article(folder: Path, name: str, body: str, title: str = "", published: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    front = f"---\ntitle: {title or name}\noutlet: Test Wire\npublished: '{published or '2024-01-01'}'\n---\n"
    p.write_text(front + body, encoding="utf-8")
    return p


ARTICLES = {
    "syria.md": (
        "Russia began air strikes in Syria on Sept. 30 after a unanimous vote in the upper house. "
        "Putin wanted to end Russia's isolation from the West.\n\n"
        "The U.S. said contact would be limited to technical talks. "
        "Defense Secretary Ash Carter spoke at a briefing on Oct. 7."
    ),
    "iran.md": (
        "The general was killed by a drone in Baghdad. Russia's Defense Ministry praised his contribution.\n\n"
        "Putin expressed concern to the French president. He invited the German chancellor to Moscow."
    ),
    "oil.md": (
        "Oil prices fell sharply this year. The budget had to be cut and investments frozen.\n\n"
        "Sanctions made the recession worse, economists said."
    ),
}


@pytest.fixture
def corpus(tmp_path) -> Path:
    data = tmp_path / "data"
    for name, body in ARTICLES.items():
        write_article(data, name, body)
    return data
