"""The OpenAI-compatible backend against a real server: llama-cpp-python serving the SmolLM2 GGUF file."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from rag_testdata import smollm2_gguf

from rag.generate.openai_backend import OpenAIChatGenerator

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 120


def _gguf_path() -> Path:
    path = smollm2_gguf()
    if path is None:
        pytest.fail("The SmolLM2 GGUF file is missing: run 'rag models fetch smollm2-135m' (make test does)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """`python -m llama_cpp.server` on a free local port, up until the module's tests are done."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama_cpp is not importable: install it with "
                    "pip install 'llama-cpp-python[server]' (see the Makefile's install recipe)")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("llama_server") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(_gguf_path()), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "2048", "--n_threads", str(min(os.cpu_count() or 1, 4))]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(url + "/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server not ready after {READY_TIMEOUT_S} s:\n"
                            f"{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_backend_streams_a_reply_in_pieces(llama_server):
    gen = OpenAIChatGenerator(llama_server)
    gen.warm_up()
    assert gen.model  # the first model the server lists
    pieces = list(gen.stream([{"role": "user", "content": "Name three colours."}], max_new_tokens=24))
    assert len(pieces) >= 3, pieces
    assert "".join(pieces).strip()


def test_early_close_leaves_the_server_usable(llama_server):
    gen = OpenAIChatGenerator(llama_server)
    it = gen.stream([{"role": "user", "content": "Count from one to fifty in words."}], max_new_tokens=200)
    next(it)
    it.close()
    assert "".join(gen.stream([{"role": "user", "content": "Say hello."}], max_new_tokens=8)).strip()


def test_pipeline_answers_with_citations_through_the_server(llama_server, tmp_path, model_cache):
    from rag.pipeline import Pipeline
    from rag.settings import Settings

    data = tmp_path / "data"
    data.mkdir()
    for f in (REPO / "data").glob("*.md"):
        shutil.copy(f, data / f.name)
    settings = Settings(llm_url=llama_server, data_dir=data, index_dir=tmp_path / "index", cache_dir=model_cache)
    p = Pipeline(settings)
    assert isinstance(p.generator, OpenAIChatGenerator)
    p.warm_up()
    a = p.answer("Which U.S. official said contact with the Russians in Syria would be limited to "
                 "technical discussions?")
    # the bundled 135M model behind this server cannot follow the reading prompt and may refuse; either way the
    # reply goes through the same verification and cites the passage that names Carter, verbatim
    assert "Carter" in a.answer, a.answer
    assert a.citations
    for c in a.citations:
        assert p.document_text(c.doc)[c.start : c.end] == c.quote
