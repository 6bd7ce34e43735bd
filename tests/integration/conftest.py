"""Real models (MiniLM, SmolLM2), real FAISS: loaded once per test session."""

import shutil
from pathlib import Path

import pytest

from rag.pipeline import Pipeline
from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """The user's cache of converted model weights, so a test run converts the GGUF file at most once."""
    return Path.home() / ".cache" / "rag-news"


@pytest.fixture(scope="session")
def real_data(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("real") / "data"
    data.mkdir()
    for f in (ROOT / "data").glob("*.md"):
        shutil.copy(f, data / f.name)
    return data


@pytest.fixture(scope="session")
def real_settings(real_data, model_cache) -> Settings:
    return Settings(data_dir=real_data, index_dir=real_data.parent / "index", cache_dir=model_cache)


@pytest.fixture(scope="session")
def real_pipeline(real_settings) -> Pipeline:
    p = Pipeline(real_settings)
    p.warm_up()
    return p
