"""The answering pipeline with a hash-seeded embedder and a scripted generator."""

import json

import pytest

from rag.errors import EmptyQuestionError
from rag.followup import is_follow_up, rewrite_query
from rag.generate import ScriptedGenerator
from rag.pipeline import Pipeline
from rag.settings import Settings

DOCS = {
    "syria.md": (
        "On Sept. 30, Sergei Ivanov asked the upper house of parliament to allow Russian warplanes to bomb Syria. "
        "They obliged with a quick and unanimous vote in favor, and air strikes began a few hours later.\n\n"
        "Putin was trying to end Russia's economically crippling isolation from the West. "
        "“We are not so concerned with this citizen by the name of Assad,” says Andrei Klimov."
    ),
    "ukraine.md": (
        "In September, Moscow ordered the separatist militias in eastern Ukraine to hold their fire. "
        "The proxies announced that they were withdrawing their weapons.\n\n"
        "Obama said Russia's air force did not distinguish between moderate rebels and extremists."
    ),
}
WHEN = "When did the air strikes begin after the quick and unanimous vote?"


@pytest.fixture
def pipeline(tmp_path, hash_embedder):
    data = tmp_path / "data"
    data.mkdir()
    for name, body in DOCS.items():
        (data / name).write_text(f"---\ntitle: {name}\noutlet: Wire\npublished: '2015-10-14'\n---\n{body}")
    settings = Settings(data_dir=data, index_dir=tmp_path / "index", chunk_words=40)
    gen = ScriptedGenerator()
    p = Pipeline(settings, embedder=hash_embedder, generator=gen)
    p.gen = gen
    return p


def assert_citations_exact(p, answer):
    assert answer.citations, "expected at least one citation"
    for c in answer.citations:
        assert c.quote and p.document_text(c.doc)[c.start : c.end] == c.quote
        assert f"[{c.n}]" in answer.answer
        assert c.title and c.published


def test_first_question_builds_the_index(pipeline):
    assert not pipeline.store.exists()
    pipeline.gen.enqueue("Air strikes began a few hours later.")
    pipeline.answer(WHEN)
    assert pipeline.store.exists()


def test_faithful_model_sentence_is_kept_and_cited(pipeline):
    pipeline.gen.enqueue("Air strikes began a few hours after the quick and unanimous vote [1].")
    a = pipeline.answer(WHEN)
    assert not a.refused
    assert a.answer.startswith("Air strikes began a few hours after the quick and unanimous vote [1].")
    assert_citations_exact(pipeline, a)
    assert "few hours later" in a.citations[0].quote
    # the model saw the evidence, numbered, and the question, after the fixed instructions and examples
    messages = pipeline.gen.history[-1]
    assert messages[0]["role"] == "system" and "NONE" in messages[0]["content"]
    prompt = messages[-1]["content"]
    assert "[1]" in prompt and "unanimous vote" in prompt and WHEN in prompt


def test_a_unit_that_leans_back_brings_the_sentence_it_points_to(pipeline):
    pipeline.gen.enqueue("Air strikes began a few hours after the quick and unanimous vote.")
    a = pipeline.answer(WHEN)
    # "They obliged ..." is shown with the sentence that says who "they" are
    assert "Sergei Ivanov asked the upper house" in a.citations[0].quote


def test_fabricated_sentence_is_dropped_and_the_cited_evidence_quoted(pipeline):
    pipeline.gen.enqueue("Sergei Lavrov ordered 40 strikes a few hours after the vote [1].")
    a = pipeline.answer(WHEN)
    assert "Lavrov" not in a.answer and "40" not in a.answer
    assert "air strikes began a few hours later" in a.answer
    assert not a.answer.startswith(("They", "Indeed"))
    assert_citations_exact(pipeline, a)


def test_garbled_number_never_reaches_the_stream(pipeline):
    pipeline.gen.enqueue("Air strikes began a few hours after the quick and unanimous vote [1]. "
                         "The vote was 5-to-a-night in favor [1].")
    events = list(pipeline.answer_stream(WHEN))
    streamed = "".join(e.data for e in events if e.kind == "token")
    assert "5-to-a-night" not in streamed and "5-to-a-night" not in events[-1].data.answer
    assert streamed.strip() == events[-1].data.answer


def test_model_refusal_says_the_articles_dont_say(pipeline):
    pipeline.gen.enqueue("NONE")
    a = pipeline.answer("How many warplanes did Russia send to Syria?")
    assert a.refused and a.answer.startswith("The articles don't say.")
    for c in a.citations:  # a closest passage, if shown, is quoted exactly
        assert pipeline.document_text(c.doc)[c.start : c.end] == c.quote


def test_refusal_from_the_models_probability_skips_generation(pipeline):
    pipeline.gen.probs = {"NONE": 0.6}
    pipeline.gen.enqueue("There were 34 warplanes [1].")
    a = pipeline.answer("How many warplanes did Russia send to Syria?")
    assert a.refused and "34" not in a.answer
    assert not pipeline.gen.history and pipeline.gen.replies  # the model was never asked to write
    pipeline.gen.probs = {"NONE": 0.01}
    a = pipeline.answer(WHEN)
    assert not a.refused


def test_refusal_is_overruled_when_a_sentence_states_the_question(pipeline):
    pipeline.gen.enqueue("NONE")
    q = "They obliged with a quick and unanimous vote in favor, and air strikes began a few hours later?"
    a = pipeline.answer(q)
    assert not a.refused
    assert "air strikes began a few hours later" in a.answer
    assert_citations_exact(pipeline, a)


def test_empty_reply_is_a_refusal(pipeline):
    a = pipeline.answer("What is the recipe for banana bread?")
    assert a.refused


def test_follow_up_query_uses_the_conversation(pipeline):
    history = [
        {"role": "user", "content": "Why did Putin bomb Syria?"},
        {"role": "assistant", "content": "Putin was trying to end Russia's isolation from the West [1]."},
    ]
    pipeline.gen.enqueue("Putin was trying to end Russia's economically crippling isolation from the West.")
    a = pipeline.answer("And what did Obama say about that?", history)
    assert a.query != a.question
    assert "Putin" in a.query and "Syria" in a.query and a.query.startswith("And what did Obama say")
    pipeline.gen.enqueue("NONE")
    a = pipeline.answer("What is the capital of France?", history)
    assert a.query == a.question


def test_follow_up_rules():
    h = [{"role": "user", "content": "Why did Putin enter Syria?"}]
    assert is_follow_up("and what did Obama say about that?")
    assert not is_follow_up("Which city did ISIS push into in October 2015?")
    assert rewrite_query("Who ordered the strikes there?", h) == "Who ordered the strikes there? (Putin enter Syria)"
    assert rewrite_query("Which German leaders are mentioned in the articles?", h) == \
        "Which German leaders are mentioned in the articles?"
    assert rewrite_query("and why?", None) == "and why?"


def test_stream_shows_a_writing_state_then_only_verified_sentences(pipeline):
    pipeline.gen.enqueue("Air strikes began a few hours after the quick and unanimous vote [1]. "
                         "Sergei Lavrov ordered them [1]. Putin was trying to end Russia's isolation from the West.")
    events = list(pipeline.answer_stream(WHEN))
    kinds = [e.kind for e in events]
    assert kinds[:3] == ["query", "passages", "writing"] and kinds[-1] == "answer"
    tokens = [e.data for e in events if e.kind == "token"]
    assert len(tokens) == 2  # two sentences survived, each sent whole
    assert all("Lavrov" not in t for t in tokens)
    assert "".join(tokens).strip() == events[-1].data.answer
    t = events[-1].data.timings
    assert 0 <= t["retrieve_ms"] <= t["first_token_ms"] <= t["total_ms"]


def test_json_contract(pipeline):
    pipeline.gen.enqueue("Air strikes began a few hours after the quick and unanimous vote.")
    d = json.loads(json.dumps(pipeline.answer(WHEN).to_dict()))
    assert {"question", "answer", "refused", "citations", "passages", "query", "timings"} <= set(d)
    assert {"n", "doc", "title", "published", "quote", "start", "end"} <= set(d["citations"][0])
    assert {"doc", "title", "published", "text", "start", "end", "score"} <= set(d["passages"][0])
    assert {"retrieve_ms", "first_token_ms", "total_ms"} <= set(d["timings"])


def test_empty_and_long_questions(pipeline):
    for q in ["", "   ", "?!...", "\n"]:
        with pytest.raises(EmptyQuestionError):
            pipeline.answer(q)
    assert not pipeline.gen.history
    pipeline.gen.enqueue("Air strikes began a few hours later.")
    a = pipeline.answer("How soon did the air strikes begin? " + "x" * 50_000)
    assert a.notice and "2000" in a.notice and len(a.question) == 2000


def test_evidence_units_bring_what_a_sentence_points_to():
    from rag.evidence import _widen, leans_back

    text = ("Sergei Ivanov spoke first. He asked for a vote.\n\nThe ambassador put it this way:\n\n"
            "“We need them.” Klimov nodded.\n\n“They need us.”\n\nsays Konstantin Sivkov.")
    spans = [(m.start(), m.end()) for m in __import__("re").finditer(r"[^.\n:”]+[.:”]+", text)]
    spans = [(a + len(text[a:b]) - len(text[a:b].lstrip()), b) for a, b in spans]
    he = next(s for s in spans if text[s[0]:s[1]].startswith("He asked"))
    assert text[slice(*_widen(text, *he, spans))] == "Sergei Ivanov spoke first. He asked for a vote."
    colon = next(s for s in spans if text[s[0]:s[1]].endswith("way:"))
    assert text[slice(*_widen(text, *colon, spans))].endswith("“We need them.”")
    quote = next(s for s in spans if text[s[0]:s[1]] == "“They need us.”")
    assert text[slice(*_widen(text, *quote, spans))].endswith("says Konstantin Sivkov.")
    assert leans_back("In remarks aired on Oct. 12, he said so.") and not leans_back("Putin said he would go.")
