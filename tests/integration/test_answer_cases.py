"""The cases users reported against the earlier answers, with the real embedder, index and reader model.

Each test checks a property the answer must have (not refused while the articles state it, every number as
written in its citation, no unverified text streamed, a self-contained question searched as asked), not the
model's exact words.
"""

import re

import pytest

from rag.answer.verify import number_phrases
from rag.pipeline import Pipeline
from rag.settings import Settings

pytestmark = pytest.mark.integration

COUNCIL = """---
title: Larkspur Falls Council Approves Downtown Bike Lanes
outlet: Larkspur Falls Ledger
published: '2026-03-04'
---
The Larkspur Falls city council voted 5-4 on Tuesday night to approve a $3.2 million plan for protected bike lanes on Main Street.

Construction is expected to begin in June and take about eight months, according to the city's transportation director, Mara Ellison.

Shop owners on Main Street were divided. Some said the lanes would bring more customers, while others worried about losing 40 parking spaces.
"""


def verbatim(pipeline, answer):
    for c in answer.citations:
        assert pipeline.document_text(c.doc)[c.start : c.end] == c.quote


def test_why_question_gets_an_answer_in_plain_words_from_the_article_about_it(real_pipeline):
    a = real_pipeline.answer("Why did Putin enter Syria?")
    assert not a.refused, a.answer
    verbatim(real_pipeline, a)
    assert not re.match(r"\W*(indeed|but|and|they|he|she)\b", a.answer, re.I), a.answer
    assert any("Why Putin Went Into Syria" in c.title for c in a.citations), a.answer


@pytest.mark.parametrize("question, term", [
    ("Who is Soleimani's successor?", "Ghaani"),
    ("What did Obama say at his news conference on Oct. 2?", "distinguish"),
])
def test_not_refused_while_a_retrieved_sentence_states_it(real_pipeline, question, term):
    a = real_pipeline.answer(question)
    assert not a.refused, a.answer
    assert any(term in c.quote for c in a.citations), a.answer
    verbatim(real_pipeline, a)


def test_streamed_text_is_only_verified_sentences(real_pipeline):
    events = list(real_pipeline.answer_stream("Which French leader did Putin talk to after Soleimani was killed?"))
    kinds = [e.kind for e in events]
    assert "writing" in kinds and kinds.index("writing") < kinds.index("token")
    streamed = "".join(e.data for e in events if e.kind == "token")
    assert streamed.strip() == events[-1].data.answer


def test_self_contained_question_after_a_merkel_question_is_searched_as_asked(real_pipeline):
    first = real_pipeline.answer("Who did Putin invite to visit Russia?")
    history = [{"role": "user", "content": first.question}, {"role": "assistant", "content": first.answer}]
    a = real_pipeline.answer("What is the capital of France?", history)
    assert a.query == a.question
    assert a.refused, a.answer


@pytest.fixture(scope="module")
def council_pipeline(real_pipeline, tmp_path_factory):
    root = tmp_path_factory.mktemp("council")
    data = root / "data"
    data.mkdir()
    (data / "council.md").write_text(COUNCIL)
    settings = Settings(data_dir=data, index_dir=root / "index", cache_dir=real_pipeline.settings.cache_dir)
    return Pipeline(settings, embedder=real_pipeline.embedder, generator=real_pipeline.generator)


@pytest.mark.parametrize("question", [
    "How did the council vote on the bike lane plan, and how much will it cost?",
    "What did the council approve on Tuesday?",
    "How many parking spaces could be lost?",
])
def test_every_number_in_an_answer_is_written_as_in_its_citation(council_pipeline, question):
    a = council_pipeline.answer(question)
    verbatim(council_pipeline, a)
    if a.refused:
        return
    quotes = " ".join(" ".join(c.quote.split()) for c in a.citations).lower()
    for phrase in number_phrases(re.sub(r"\s*\[\d+\]", "", a.answer)):
        assert phrase in quotes, (phrase, a.answer)
