"""The llama.cpp that `make test` built, on this machine's CPU, with the real models: it must read a prompt with
llama.cpp's own default parameters (weights repacked for this CPU, the path that crashed on CPUs with AMX) and with
each of the app's settings. Each run is a child process, so a crash fails the test with its cause instead of
killing pytest."""

from __future__ import annotations

import importlib.util
import platform

import pytest
from rag_testdata import smollm2_gguf

from rag import models
from rag.generate.llama_check import check
from rag.settings import Settings

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs llama-cpp-python")]

X86 = platform.machine().lower() in {"x86_64", "amd64"}


def _reader_gguf():
    spec, settings = models.get("qwen2.5-coder-1.5b"), Settings()
    if not models.is_ready(spec, settings):
        pytest.fail("The reader model is missing: run 'rag models fetch' (make test does)")
    return models.model_path(spec, settings)


def _failure(result) -> str:
    return f"{result.cause()}\nllama.cpp's build: {result.system_info}\nthe end of its output:\n{result.error}"


@pytest.fixture(scope="module")
def reader_with_defaults():
    return check(_reader_gguf(), None, threads=1, prompt_tokens=64, decode_tokens=4)


def test_llama_cpp_reads_a_prompt_with_its_default_parameters(reader_with_defaults):
    """What `llama_cpp.Llama(model_path=...)`, its OpenAI-compatible server and a user's own script get."""
    r = reader_with_defaults
    assert r.ok, _failure(r)
    assert r.prompt_tokens == 64 and r.prompt_tokens_per_s > 0 and r.decode_tokens_per_s > 0
    if X86:  # Q4_K weights are repacked for AVX2/AVX-512 by default: the configuration this test is about
        assert "CPU_REPACK" in r.buffers, r.buffers


def test_the_build_leaves_the_amx_kernels_out(reader_with_defaults):
    """`make install` builds llama.cpp with -mno-amx-*: its AMX kernels, miscompiled by GCC 12, are not in it."""
    info = reader_with_defaults.system_info
    assert info, _failure(reader_with_defaults)
    assert "AMX_INT8 = 1" not in info, ("this llama.cpp was built with its AMX kernels, which crash on CPUs with "
                                        f"AMX when built by GCC 12 or older; rebuild it with `make install`: {info}")


@pytest.mark.parametrize("repack", [False, True], ids=["repack-off", "repack-on"])
def test_each_repack_setting_reads_and_writes(repack):
    r = check(_reader_gguf(), repack, threads=1, prompt_tokens=64, decode_tokens=4)
    assert r.ok, _failure(r)
    assert ("CPU_REPACK" in r.buffers) is (repack and X86), r.buffers


def test_the_model_server_configuration_reads_a_prompt():
    """SmolLM2's Q4_1 weights behind `python -m llama_cpp.server`, which runs llama.cpp's defaults."""
    path = smollm2_gguf()
    if path is None:
        pytest.fail("The SmolLM2 GGUF file is missing: run 'rag models fetch smollm2-135m' (make test does)")
    r = check(path, None, threads=1, prompt_tokens=64, decode_tokens=4)
    assert r.ok, _failure(r)
