"""Three minutes of mixed use against a real `rag serve` (`rag bench soak`, short): simulated readers ask, follow
up, stop, reload, upload and remove; nothing fails, nothing is lost or shown in the wrong tab, nothing piles up."""

from __future__ import annotations

import pytest
from rag_testdata import REPO_DATA, smollm2_gguf

from rag.bench.soak import bench_soak
from rag.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_three_minutes_of_mixed_use(tmp_path, model_cache):
    import shutil

    gguf = smollm2_gguf()
    if gguf is None:
        pytest.fail("The SmolLM2 GGUF file is missing: run 'rag models fetch smollm2-135m' (make test does)")
    data = tmp_path / "data"
    data.mkdir()
    for f in REPO_DATA.glob("*.md"):
        shutil.copy(f, data / f.name)
    settings = Settings(data_dir=data, cache_dir=model_cache)
    # the small model keeps the answers coming, so three minutes hold many of each action
    result = bench_soak(settings, minutes=3, users=3, window_min=1, seed=1, sample_s=2,
                        server_env={"RAG_LLM": str(gguf), "RAG_CACHE_DIR": str(model_cache), "HF_HUB_OFFLINE": "1"})
    print(result.table())
    assert result.errors == 0, result.problems
    assert result.lost == 0 and result.mixed == 0, result.problems
    assert result.actions.get("ask", 0) + result.actions.get("follow_up", 0) >= 6
    assert {"upload", "stop", "reload"} <= set(result.actions)
    assert result.threads_growth <= 4 and result.files_growth <= 8
    assert all(w.answers for w in result.windows)
