"""End to end with the real embedder, index and generator on the bundled articles."""

import json
import os
import subprocess
import sys

import pytest
from rag_testdata import cli_env

from rag.evaluate import evaluate, load_eval, retrieval_recall

pytestmark = pytest.mark.integration

DEV = os.path.join(os.path.dirname(__file__), "..", "fixtures", "dev.jsonl")
HELDOUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "heldout.jsonl")


def test_putin_question_finds_the_isolation_passage(real_pipeline):
    top = real_pipeline.search("why did Putin enter Syria", 3)
    assert any("economically crippling isolation from the West" in p.chunk.text for p in top)
    assert all(p.dense is not None or p.keyword is not None for p in top)


def test_dev_evidence_is_retrieved(real_pipeline):
    r = retrieval_recall(real_pipeline, load_eval(DEV), k=5)
    print(f"\ndev evidence hit@5: {r['hit_rate']:.0%} (misses: {[m['id'] for m in r['misses']]})")
    assert r["hit_rate"] >= 0.9


def test_dev_answers_meet_the_targets(real_pipeline):
    report = evaluate(real_pipeline, load_eval(DEV))
    print("\n" + report.table())
    o = report.overall()
    # Every citation verbatim is the invariant. The rest are floors under today's measured figures (README,
    # "Quality, measured": key terms 46%, cites gold 69%, 2 of 2 unanswerable refused, 2 of 13 falsely refused),
    # so a change that makes the reader worse fails here; the targets are read from `rag eval`.
    assert o["citation_validity"] == 1.0
    assert o["all_terms_rate"] >= 0.38
    assert o["cites_gold_rate"] >= 0.6
    assert o["refusal_rate_unanswerable"] >= 0.5
    assert o["false_refusal_rate"] <= 0.25


def test_follow_up_with_real_models(real_pipeline):
    first = real_pipeline.answer("Why did Putin enter Syria?")
    history = [{"role": "user", "content": first.question}, {"role": "assistant", "content": first.answer}]
    follow = real_pipeline.answer("And what did Obama say about that?", history)
    assert "Putin" in follow.query and "Syria" in follow.query
    assert not follow.refused and "Obama" in follow.answer
    for c in follow.citations:
        assert real_pipeline.document_text(c.doc)[c.start : c.end] == c.quote


def test_cli_ask_json_lines(real_settings):
    env = cli_env(real_settings)
    questions = ("Which U.S. official said contact with the Russians in Syria would be limited to technical discussions?\n"
                 "What is the recipe for banana bread?\n")
    out = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "--json", "-"], input=questions, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert len(rows) == 2
    assert not rows[0]["refused"] and "Carter" in rows[0]["answer"]
    assert rows[1]["refused"] and rows[1]["answer"].startswith("The articles don't say")
    for row in rows:
        assert {"retrieve_ms", "first_token_ms", "total_ms"} <= set(row["timings"])


def test_the_numpy_encoder_matches_sentence_transformers(real_pipeline):
    """Questions are embedded by the NumPy copy of MiniLM, the index by sentence-transformers: the two must agree."""
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from rag.index import bert_numpy

    path = real_pipeline.settings.resolved_embed_model()
    encoder = bert_numpy.load(path)
    assert encoder is not None
    texts = ["Why did Putin enter Syria?", "x", "", "Ünïcode — “quotes” and 5-4 votes, $3.2 million.",
             " ".join(["a long sentence that is truncated"] * 80)]
    texts += [c.text for c in real_pipeline.retriever.data.chunks[:20]]
    st = SentenceTransformer(path, device="cpu").encode(texts, normalize_embeddings=True)
    ours = encoder.encode(texts)
    assert np.abs(ours - st).max() < 1e-5


def test_milvus_store_retrieves_what_faiss_does(real_pipeline, real_settings, tmp_path):
    """The same articles in Milvus Lite (RAG_STORE=milvus) and in FAISS, the same real embedder: the questions of
    both question sets get the same passages, and the same answer to the first question."""
    from rag.pipeline import Pipeline

    milvus = Pipeline(real_settings.replace(index_dir=tmp_path / "index", store="milvus"),
                      embedder=real_pipeline.embedder, generator=real_pipeline.generator)
    try:
        milvus.ingest()
        assert {d.doc for d in milvus.documents()} == {d.doc for d in real_pipeline.documents()}
        items = load_eval(DEV) + load_eval(HELDOUT)
        same_top, same_set = 0, 0
        for it in items:
            a = [(p.chunk.doc, p.chunk.start) for p in real_pipeline.search(it.question, 5)]
            b = [(p.chunk.doc, p.chunk.start) for p in milvus.search(it.question, 5)]
            same_top += a[:1] == b[:1]
            same_set += set(a) == set(b)
        print(f"\nFAISS vs Milvus on {len(items)} questions: same top passage {same_top}, same top 5 {same_set}")
        assert same_top >= 0.95 * len(items) and same_set >= 0.8 * len(items)
        assert retrieval_recall(milvus, load_eval(DEV), k=5)["hit_rate"] >= 0.9
        q = "Why did Putin enter Syria?"
        assert [(p.chunk.doc, p.chunk.start) for p in milvus.search(q, 5)] == \
            [(p.chunk.doc, p.chunk.start) for p in real_pipeline.search(q, 5)]
        assert milvus.answer(q).answer == real_pipeline.answer(q).answer
    finally:
        milvus.close()
