import os
import shutil
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
    from rag.index.embed import HashEmbedder

    return HashEmbedder(dim=64)


STORES = ["faiss", "milvus"]


@pytest.fixture(params=STORES)
def store_kind(request) -> str:
    """Tests that take this run once per store: FAISS files and Milvus (Milvus Lite in a local file)."""
    return request.param


@pytest.fixture
def make_test_store(store_kind, tmp_path):
    """`make(folder)`: a store of this test's kind at `folder` (default tmp_path/index), closed afterwards."""
    from rag.index.store import make_store
    from rag.settings import Settings

    made = []

    def make(folder: Path | None = None):
        store = make_store(Settings(index_dir=folder or tmp_path / "index", store=store_kind))
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def corpus(tmp_path) -> Path:
    data = tmp_path / "data"
    for name, body in ARTICLES.items():
        write_article(data, name, body)
    return data


# ---- real models (MiniLM, SmolLM2) and FAISS, loaded once per session; used by integration and reliability tests
REPO = ROOT


@pytest.fixture(scope="session")
def model_cache() -> Path:
    """The user's cache of converted model weights, so a test run converts the GGUF file at most once."""
    return Path.home() / ".cache" / "rag-news"


@pytest.fixture(scope="session")
def real_data(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("real") / "data"
    data.mkdir()
    for f in (REPO / "data").glob("*.md"):
        shutil.copy(f, data / f.name)
    return data


@pytest.fixture(scope="session")
def real_settings(real_data, model_cache):
    from rag.settings import Settings

    return Settings(data_dir=real_data, index_dir=real_data.parent / "index", cache_dir=model_cache)


@pytest.fixture(scope="session")
def real_pipeline(real_settings):
    from rag.pipeline import Pipeline

    p = Pipeline(real_settings)
    p.warm_up()
    return p
