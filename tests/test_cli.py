"""The `rag` command through click's runner, with the fake embedder and generator behind it."""

import json

import pytest
from click.testing import CliRunner
from rag_testdata import ARTICLES

from rag import pipeline as pipeline_mod
from rag.cli import cli
from rag.generate.base import ScriptedGenerator
from rag.index.embed import HashEmbedder


@pytest.fixture
def env(corpus, tmp_path, monkeypatch, store_kind):
    """The CLI over the test corpus, once per store (RAG_STORE=faiss, RAG_STORE=milvus with Milvus Lite)."""
    monkeypatch.setenv("RAG_STORE", store_kind)
    monkeypatch.setenv("RAG_DATA_DIR", str(corpus))
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setattr(pipeline_mod, "make_embedder", lambda settings: HashEmbedder(dim=64))
    gen = ScriptedGenerator(default="Putin wanted to end Russia's isolation from the West.")
    monkeypatch.setattr("rag.generate.base.make_generator", lambda settings: gen)
    env_gen.append(gen)
    return corpus


env_gen: list = []  # the scripted generator of the current test's `env`


def run(*args, input=None):
    result = CliRunner().invoke(cli, list(args), input=input, obj={}, catch_exceptions=False)
    return result


def test_ingest_prints_summary_and_skips_bad_files(env):
    (env / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    r = run("ingest")
    assert r.exit_code == 0, r.output
    assert f"{len(ARTICLES)} documents" in r.output and "chunks/s" in r.output and "1 skipped" in r.output
    assert "broken.pdf" in r.output  # the reason is reported
    again = run("ingest")
    assert f"{len(ARTICLES)} unchanged" in again.output


def test_search_json_contract(env):
    r = run("search", "Ash Carter technical talks briefing", "--json", "--k", "2")
    assert r.exit_code == 0, r.output
    hits = json.loads(r.output)
    assert len(hits) == 2
    for h in hits:
        assert {"doc", "title", "published", "text", "start", "end", "score"} <= set(h)
        assert isinstance(h["start"], int) and h["end"] > h["start"]
    assert hits[0]["doc"] == "syria.md" and "Carter" in hits[0]["text"]


def test_search_plain_output(env):
    r = run("search", "oil prices budget")
    assert r.exit_code == 0 and "[1]" in r.output and "oil.md" in r.output


def test_ask_json_lines_from_stdin(env):
    env_gen[-1].enqueue("Putin wanted to end Russia's isolation from the West [1].", "NONE")  # the model refuses
    r = run("ask", "--json", "-", input="Why did Putin want to end Russia's isolation from the West?\n\n"
                                         "What is the recipe for banana bread?\n")
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 2
    assert {"question", "answer", "refused", "citations", "passages", "query", "timings"} <= set(lines[0])
    assert lines[1]["refused"] is True


def test_empty_question_is_a_friendly_error(env):
    r = CliRunner().invoke(cli, ["ask", "   "], obj={})
    assert r.exit_code == 1 and "Please type a question" in r.output and "Traceback" not in r.output


def test_missing_path_is_a_friendly_error(env, tmp_path):
    r = CliRunner().invoke(cli, ["ingest", str(tmp_path / "nope")], obj={})
    assert r.exit_code == 1 and "does not exist" in r.output


def test_corrupt_index_names_file_and_fix(env, tmp_path, store_kind):
    if store_kind != "faiss":
        pytest.skip("FAISS files; tests/test_ingest.py damages a Milvus collection")
    assert run("ingest").exit_code == 0
    current = (tmp_path / "index" / "CURRENT").read_text()
    (tmp_path / "index" / current / "vectors.npy").write_bytes(b"garbage")
    r = CliRunner().invoke(cli, ["search", "oil"], obj={})
    assert r.exit_code == 1 and "vectors.npy" in r.output and "rag ingest --rebuild" in r.output
    assert run("ingest", "--rebuild").exit_code == 0
    assert run("search", "oil").exit_code == 0


def test_unknown_store_is_a_friendly_error(monkeypatch):
    monkeypatch.setenv("RAG_STORE", "elastic")
    r = CliRunner().invoke(cli, ["search", "oil"], obj={})
    assert r.exit_code == 1 and "RAG_STORE='elastic'" in r.output and "faiss, milvus" in r.output
    assert "Traceback" not in r.output


def test_a_milvus_lite_path_must_be_a_db_file(monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_STORE", "milvus")
    monkeypatch.setenv("RAG_MILVUS_URI", str(tmp_path / "vectors"))
    r = CliRunner().invoke(cli, ["search", "oil"], obj={})
    assert r.exit_code == 1 and "ending in .db" in r.output and "Traceback" not in r.output
