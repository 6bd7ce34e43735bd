"""`rag bench` with the real models: the command runs and its figures are self-consistent."""

import json
import subprocess
import sys

import pytest
from rag_testdata import cli_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _bench(settings, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "rag.cli", "bench", *args, "--json"], env=cli_env(settings),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_cold_start_serves_the_page_then_answers(real_pipeline, real_settings):
    """real_pipeline first: the index exists, as on any start after the first."""
    r = _bench(real_settings, "coldstart")
    assert r["index_existed"]
    assert not any("error" in n for n in r["notes"]), r["notes"]
    for run in ("before", "first", "warm"):
        assert 0 < r[run]["page_s"] <= r[run]["first_answer_s"], run
        assert not r[run]["refused"], run  # the default question is answered by the bundled articles
        # both models are resident after an answer: the 1.5B reader's weights alone are ~1 GB
        assert 1000 < r[run]["rss_mb"] <= r[run]["peak_rss_mb"], run
    assert {t["target"] for t in r["targets"]} == {"warm restart to first answer <= 6 s",
                                                   "peak RSS of rag serve <= 2.5 GB"}


def test_reader_bench_measures_each_configuration_in_its_own_process(real_settings):
    r = _bench(real_settings, "reader", "--prompt-tokens", "48", "--decode-tokens", "4", "--reps", "1",
               "--threads", "1")
    runs = {str(run["repack"]): run for run in r["runs"]}
    assert set(runs) == {"False", "True", "None"}
    for run in runs.values():
        assert run["ok"], run["error"]
        assert run["prompt_tokens"] == 48 and run["prompt_tokens_per_s"] > 0 and run["decode_tokens_per_s"] > 0
        assert run["peak_rss_mb"] > 500  # the 1.5B reader's weights are ~1 GB, mapped and read
    assert runs["False"]["buffers"] == ["CPU_Mapped"]  # the app's default: no repacking
    assert [t["met"] for t in r["targets"]] == [True]
