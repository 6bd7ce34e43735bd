"""Trying a llama.cpp configuration in a child process (`rag.generate.llama_check`) and what the app does with a
configuration that crashes. The children here are small scripts that behave like llama.cpp's failures (a crash
by signal, an error, a hang); the real child runs in tests/integration/test_llama_build.py."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from rag.generate import llama_check
from rag.generate.llama_check import CheckResult, check, checked

AMX_INFO = "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 | AMX_INT8 = 1 | REPACK = 1 | "
PLAIN_INFO = "CPU : SSE3 = 1 | AVX2 = 1 | REPACK = 1 | "


def _fake_child(monkeypatch, tmp_path: Path, body: str) -> Path:
    """Make `check` run `body` (Python) instead of llama.cpp; each run appends a line to the returned file."""
    runs = tmp_path / "runs.txt"
    script = tmp_path / "child.py"
    script.write_text("import json, os, signal, sys, time\n"
                      f"open({str(runs)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n" + body)
    monkeypatch.setattr(llama_check, "_command", lambda *args: [sys.executable, str(script), *args])
    return runs


CRASH_IN_AMX = f"""
print(json.dumps({{"event": "start", "system_info": {AMX_INFO!r}}}), flush=True)
sys.stderr.write("load_tensors:   CPU_Mapped model buffer size =   312.00 MiB\\n")
sys.stderr.write("load_tensors:          AMX model buffer size =   890.00 MiB\\n")
sys.stderr.flush()
os.kill(os.getpid(), signal.SIGSEGV)
"""

FINISHES = f"""
print(json.dumps({{"event": "start", "system_info": {PLAIN_INFO!r}}}), flush=True)
sys.stderr.write("load_tensors:   CPU_Mapped model buffer size =   312.00 MiB\\n")
sys.stderr.write("load_tensors:   CPU_REPACK model buffer size =   890.00 MiB\\n")
print(json.dumps({{"event": "done", "load_s": 0.5, "prompt_tokens": 64, "prompt_tokens_per_s": 120.0,
                   "decode_tokens_per_s": 11.0, "peak_rss_mb": 1800.0}}), flush=True)
"""


def test_a_child_killed_by_a_signal_is_a_one_line_cause_naming_the_amx_kernels(monkeypatch, tmp_path):
    _fake_child(monkeypatch, tmp_path, CRASH_IN_AMX)
    result = check("model.gguf", True, prompt_tokens=64)
    assert not result.ok and result.returncode < 0
    assert result.buffers == ["CPU_Mapped", "AMX"] and result.amx
    cause = result.cause()
    assert "\n" not in cause
    assert "SIGSEGV" in cause and "64-token prompt" in cause and "RAG_LLM_REPACK=1" in cause
    assert "AMX kernels" in cause and "make install" in cause


def test_a_crash_without_amx_buffers_names_no_amx_cause(monkeypatch, tmp_path):
    _fake_child(monkeypatch, tmp_path, f"""
print(json.dumps({{"event": "start", "system_info": {PLAIN_INFO!r}}}), flush=True)
os.kill(os.getpid(), signal.SIGILL)
""")
    cause = check("model.gguf", None).cause()
    assert "SIGILL" in cause and "llama.cpp's default parameters" in cause and "AMX" not in cause


def test_an_error_exit_quotes_the_childs_last_line(monkeypatch, tmp_path):
    _fake_child(monkeypatch, tmp_path, "sys.stderr.write('ValueError: Failed to load model from file\\n'); sys.exit(1)")
    result = check("model.gguf", False)
    assert not result.ok and result.returncode == 1
    assert "exit 1" in result.cause() and "Failed to load model" in result.cause()


def test_a_child_that_hangs_is_stopped_and_reported(monkeypatch, tmp_path):
    _fake_child(monkeypatch, tmp_path, "time.sleep(30)")
    result = check("model.gguf", True, timeout_s=1)
    assert not result.ok and "did not finish in time" in result.cause()
    assert result.seconds < 15


def test_a_finished_child_gives_its_figures_and_buffers(monkeypatch, tmp_path):
    runs = _fake_child(monkeypatch, tmp_path, FINISHES)
    result = check("model.gguf", True, threads=3, prompt_tokens=64, decode_tokens=4)
    assert result.ok and result.cause() == ""
    assert result.buffers == ["CPU_Mapped", "CPU_REPACK"] and not result.amx
    assert (result.load_s, result.prompt_tokens_per_s, result.decode_tokens_per_s) == (0.5, 120.0, 11.0)
    args = runs.read_text().split()
    assert args[0] == "model.gguf" and args[args.index("--repack") + 1] == "1"
    assert args[args.index("--threads") + 1] == "3"
    _fake_child(monkeypatch, tmp_path, FINISHES)
    check("model.gguf", None)
    assert "--repack" not in runs.read_text().splitlines()[-1]  # the defaults: the parameter is not touched


def test_the_verdict_is_kept_per_model_file_and_not_asked_again(monkeypatch, tmp_path):
    runs = _fake_child(monkeypatch, tmp_path, CRASH_IN_AMX)
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF one")
    first = checked(model, True, tmp_path / "cache")
    again = checked(model, True, tmp_path / "cache")
    assert len(runs.read_text().splitlines()) == 1
    assert not again.ok and again.cause() == first.cause()
    checked(model, False, tmp_path / "cache")  # another configuration is another question
    model.write_bytes(b"GGUF two, another file")
    checked(model, True, tmp_path / "cache")  # so is another model file
    assert len(runs.read_text().splitlines()) == 3


def test_a_time_out_is_not_kept(monkeypatch, tmp_path):
    runs = _fake_child(monkeypatch, tmp_path, "time.sleep(30)")
    monkeypatch.setattr(llama_check, "check", lambda *a, **k: CheckResult(repack=True, ok=False, returncode=llama_check.TIMED_OUT))
    checked("model.gguf", True, tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.json"))
    assert not runs.exists()


def test_repacking_that_crashes_is_turned_off_with_one_warning(monkeypatch, tmp_path, caplog):
    """RAG_LLM_REPACK=1 never takes the process down: the failed check is one warning line and the model loads
    without repacking. (The real model is not needed: loading stops at the missing file, after the check.)"""
    from rag.errors import ModelLoadError
    from rag.generate.llama_backend import LlamaCppGenerator

    _fake_child(monkeypatch, tmp_path, CRASH_IN_AMX)
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    gen = LlamaCppGenerator(str(model), n_threads=1, repack=True, check_dir=tmp_path / "cache")
    loaded = []
    monkeypatch.setattr("rag.generate.llama_backend._model_params", _recording_params(loaded))
    with caplog.at_level(logging.WARNING, logger="rag.generate.llama_backend"), pytest.raises(ModelLoadError):
        gen._load()  # the file is no model: llama.cpp refuses it after the check
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "SIGSEGV" in warnings[0] and "Running without repacking" in warnings[0]
    assert gen.repack is False and loaded == [False]


def _recording_params(seen: list):
    import contextlib

    @contextlib.contextmanager
    def params(repack: bool, sequences: int = 1):
        seen.append(repack)
        yield

    return params


def test_repacking_that_works_stays_on(monkeypatch, tmp_path):
    from rag.errors import ModelLoadError
    from rag.generate.llama_backend import LlamaCppGenerator

    _fake_child(monkeypatch, tmp_path, FINISHES)
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    loaded = []
    monkeypatch.setattr("rag.generate.llama_backend._model_params", _recording_params(loaded))
    gen = LlamaCppGenerator(str(model), n_threads=1, repack=True, check_dir=tmp_path / "cache")
    with pytest.raises(ModelLoadError):
        gen._load()
    assert gen.repack is True and loaded == [True]


def test_no_check_runs_when_repacking_is_off(monkeypatch, tmp_path):
    from rag.errors import ModelLoadError
    from rag.generate.llama_backend import LlamaCppGenerator

    runs = _fake_child(monkeypatch, tmp_path, CRASH_IN_AMX)
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    with pytest.raises(ModelLoadError):
        LlamaCppGenerator(str(model), n_threads=1, check_dir=tmp_path / "cache")._load()
    assert not runs.exists()


def test_results_round_trip_through_json():
    r = CheckResult(repack=None, ok=False, returncode=-11, buffers=["AMX"], system_info=AMX_INFO, prompt_tokens=64)
    assert CheckResult(**json.loads(json.dumps(r.to_dict()))).cause() == r.cause()
