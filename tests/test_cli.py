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
    env_gen[-1].enqueue("Putin wanted to end Russia's isolation from the West [1].")
    env_gen[-1].default = "NONE"  # every other read: the model refuses
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


def test_check_a_claim_against_a_quote_says_why_and_exits_by_verdict(env):
    quote = "Rather than raising fares, the transit board cut two night routes, its chair Omar Haddad said."
    r = run("check", "--rules-only", "--quote", quote, "The transit board raised fares.")
    assert r.exit_code == 1 and r.output.startswith("NOT SUPPORTED") and "rejects" in r.output
    assert quote in r.output
    r = run("check", "--rules-only", "--quote", quote, "The transit board cut two night routes.")
    assert r.exit_code == 0 and r.output.startswith("SUPPORTED"), r.output


def test_check_reads_json_lines_and_reports_a_bad_line_without_stopping(env):
    lines = [json.dumps({"claim": "The transit board raised fares.",
                         "quote": "Rather than raising fares, the transit board cut two night routes."}),
             "not json", json.dumps({"quote": "no claim"}),
             json.dumps({"claim": "Ash Carter spoke at a briefing on Oct. 7."})]
    r = run("check", "--rules-only", "--json", "-", input="\n".join(lines) + "\n")
    assert r.exit_code == 0, r.output
    out = [json.loads(line) for line in r.output.splitlines()]
    assert out[0]["verdict"] == "not supported" and {"claim", "verdict", "score", "quote"} <= set(out[0])
    assert out[1]["line"] == 2 and "error" in out[1] and "claim" in out[2]["error"]
    # a claim without a quote is checked against the library: its best quote comes with where it is
    assert out[3]["verdict"] == "supported" and "Carter" in out[3]["quote"] and out[3]["doc"] == "syria.md"


def test_check_against_the_library_names_outlet_and_date_and_refuses_what_is_no_claim(env):
    from rag.dates import display_date

    r = run("check", "--rules-only", "Defense Secretary Ash Carter spoke at a briefing on Oct. 9.")
    assert r.exit_code == 1 and r.output.startswith("CONTRADICTED"), r.output
    # the headline (the test articles' are their file names), outlet and date; no file id with offsets
    assert f"— syria.md (Test Wire, {display_date('2024-01-01', False)})" in r.output and "syria.md:" not in r.output
    for bad, says in (("", "empty"), ("First paragraph.\n\nSecond paragraph.", "whole article"),
                      ("binary\x00data", "not plain text")):
        r = run("check", "--rules-only", bad)
        assert r.exit_code == 1 and says in r.output and len(r.output.strip().splitlines()) == 1, r.output
    r = run("check", "--rules-only", "--json", "-", input='{"claim": "' + " ".join(["word"] * 80) + '"}\n')
    assert "whole article" in json.loads(r.output)["error"]


def test_check_eval_prints_accuracy_per_kind(env, tmp_path):
    quote = "Rather than raising fares, the transit board cut two night routes."
    f = tmp_path / "claims.jsonl"
    f.write_text("\n".join(json.dumps(d) for d in [
        {"id": "a", "claim": "The transit board raised fares.", "quote": quote, "kind": "reversed",
         "label": "not supported"},
        {"id": "b", "claim": "The transit board cut two night routes.", "quote": quote, "kind": "faithful",
         "label": "supported"}]))
    r = run("check", "--rules-only", "--eval", str(f))
    assert r.exit_code == 0 and "| reversed | 1 | 100% |" in r.output and "| faithful | 1 | 100% |" in r.output
    assert run("check").exit_code != 0  # nothing to check: a usage message


def test_eval_ladder_scores_each_rung(env, tmp_path):
    f = tmp_path / "set.jsonl"
    f.write_text("\n".join(json.dumps(d) for d in [
        {"id": "a1", "question": "Who spoke at a briefing on Oct. 7?", "type": "factoid", "must_mention": ["Carter"],
         "evidence": ["Defense Secretary Ash Carter spoke at a briefing on Oct. 7."]},
        {"id": "u1", "question": "What is the recipe for banana bread?", "type": "unanswerable"}]))
    env_gen[-1].default = "Ash Carter."
    out = tmp_path / "rows.jsonl"
    r = run("eval", str(f), "--ladder", "--json", "--out", str(out))
    assert r.exit_code == 0, r.output
    ladder = json.loads(r.stdout)["ladder"]
    assert ladder["factoid"]["gold_sentence"] == 1.0 and ladder["factoid"]["in_evidence"] == 1.0
    assert ladder["all"]["n"] == 2 and ladder["unanswerable"]["answerable"] == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["ladder"]["gold_passage"] is True and rows[1]["ladder"]["gold_sentence"] is None
    plain = run("eval", str(f), "--ladder")
    assert "The ladder" in plain.output and "| factoid | 1 (1) | 100% |" in plain.output
