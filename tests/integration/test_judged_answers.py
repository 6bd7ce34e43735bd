"""The cases users reported against answers that cited a quote saying something else, with the real embedder, index
and reader (issue: "answers that say only what their quote says"). Each test checks a property any answer must have
(every shown sentence passes the judge's rules against the quote it cites; a "when" answer holds a time; a follow-up
names whom it means), not the model's exact words."""

import re

import pytest

from rag.answer.check import check_pair
from rag.answer.judge import answer_gap, rule_failure
from rag.answer.parts import invented_purpose
from rag.ingest.segment import split_sentences

pytestmark = pytest.mark.integration

_MARK = re.compile(r"\s*\[(\d+)\]")
# a comparison's sentence is led by its side's outlet and date ("TIME (Oct 2015, approx.): ..."): not a claim
_SIDE = re.compile(r"^[^:\[\]]{1,80} \((?:[A-Z][a-z]{2} )?\d{4}(?:, approx\.)?\): ")


def sentences_with_quotes(answer):
    """Each shown sentence (markers removed) with the quotes of the citations it carries."""
    quotes = {c.n: c.quote for c in answer.citations}
    text = answer.answer
    out = []
    for s in split_sentences(text):
        raw = text[s.start:s.end]
        marks = [int(n) for n in _MARK.findall(raw)]
        out.append((_SIDE.sub("", _MARK.sub("", raw).strip()), [quotes[n] for n in marks if n in quotes]))
    return out


def assert_each_sentence_stands_on_its_quote(pipeline, answer):
    for c in answer.citations:
        assert pipeline.document_text(c.doc)[c.start:c.end] == c.quote
    if answer.refused:
        return
    for sentence, quotes in sentences_with_quotes(answer):
        assert quotes, (sentence, answer.answer)
        failures = [rule_failure(sentence, q, answer.query) for q in quotes]
        assert any(f is None for f in failures), (sentence, failures)


@pytest.mark.parametrize("question", [
    "Why did Putin enter Syria?",
    "Was Putin acting as a global spoiler in Syria?",
    "What do the articles say about Sergei Ivanov?",
    "What did Lavrov propose to Washington?",
    "What did Putin propose to Washington?",
    "What share of Russians approved of Putin after the strikes?",
])
def test_every_shown_sentence_stands_on_the_quote_it_cites(real_pipeline, question):
    a = real_pipeline.answer(question)
    assert_each_sentence_stands_on_its_quote(real_pipeline, a)


def test_why_putin_entered_syria_gets_several_reasons_each_cited(real_pipeline):
    """The page's own first example: an answer with parts, one checked sentence per reason, each with its quote."""
    a = real_pipeline.answer("Why did Putin enter Syria?")
    assert not a.refused, a.answer
    assert_each_sentence_stands_on_its_quote(real_pipeline, a)
    shown = sentences_with_quotes(a)
    assert shown and all(quotes for _, quotes in shown), a.answer
    assert len({c.start for c in a.citations}) == len(a.citations)  # each reason from its own passage
    # no purpose the quote does not give: "Putin entered Syria to pursue contact" from "Putin instructed the forces
    # to pursue contact" is the reader's link, not the article's
    for sentence, quotes in shown:
        assert not invented_purpose(sentence, a.query, " ".join(quotes)), sentence
    assert not any(re.match(r"\W*(he|she|it|they|this|that)\b", s, re.I) for s, _ in shown), a.answer


def test_a_proposal_is_never_given_to_someone_else(real_pipeline):
    a = real_pipeline.answer("What did Lavrov propose to Washington?")
    assert_each_sentence_stands_on_its_quote(real_pipeline, a)
    # Putin proposed sending Medvedev: an answer that tells it is Putin's, with Putin in the quote, or a refusal
    if "Medvedev" in a.answer:
        assert "Lavrov" not in a.answer, a.answer


def test_ivanov_is_not_given_putins_proposal(real_pipeline):
    a = real_pipeline.answer("What do the articles say about Sergei Ivanov?")
    assert_each_sentence_stands_on_its_quote(real_pipeline, a)
    assert not re.match(r"\W*(he|she|they)\b", a.answer, re.I), a.answer  # a pronoun nobody was named for


@pytest.mark.parametrize("question", ["When did Russia begin bombing Syria?",
                                      "When did the air strikes begin after the upper house vote?"])
def test_a_when_question_is_answered_with_a_time_or_not_at_all(real_pipeline, question):
    a = real_pipeline.answer(question)
    if not a.refused:  # never "Saving Assad was a key objective for Moscow [1]."
        assert answer_gap(question, a.answer) == "", a.answer
    assert_each_sentence_stands_on_its_quote(real_pipeline, a)


def test_a_why_question_is_not_answered_with_a_sentence_that_gives_no_reason(real_pipeline):
    a = real_pipeline.answer("Why was an alliance with Russia a nonstarter for Obama?")
    assert_each_sentence_stands_on_its_quote(real_pipeline, a)
    assert _MARK.sub("", a.answer).strip() != "Obama has been even more blunt.", a.answer


def test_a_name_the_articles_do_not_give_is_not_made_up(real_pipeline):
    a = real_pipeline.answer("What's the name of Russia's naval base in Syria?")
    assert_each_sentence_stands_on_its_quote(real_pipeline, a)
    assert a.refused or not re.fullmatch(r"\W*(the )?Syrian coast\W*(\[\d+\])?\W*", a.answer, re.I), a.answer


def test_a_qualifier_is_kept():
    from rag.answer.judge import QUALIFIER

    quote = "It sent his approval ratings to new highs of over 80% as the nation relished its first taste."
    assert rule_failure("His approval ratings reached 80%.", quote)[0] == QUALIFIER
    assert rule_failure("His approval ratings rose to over 80%.", quote) is None


def test_follow_up_names_whom_it_means(real_pipeline):
    first = real_pipeline.answer("Who succeeded Soleimani?")
    assert not first.refused and "Ghaani" in first.answer, first.answer
    history = [{"role": "user", "content": first.question}, {"role": "assistant", "content": first.answer}]
    a = real_pipeline.answer("What did he say about it?", history)
    assert "Ghaani" in a.query and not re.search(r"\bhe\b", a.query), a.query
    assert_each_sentence_stands_on_its_quote(real_pipeline, a)


@pytest.mark.parametrize("claim, supported", [
    ("Putin was acting as a global spoiler by unleashing his military in Syria.", False),
    ("Putin was trying to end Russia's isolation from the West.", True),
])
def test_the_judge_with_the_reader_on_a_reversed_claim(real_pipeline, claim, supported):
    quote = ("Rather than just acting as a global spoiler by unleashing his military in Syria, Putin was trying to "
             "end Russia’s economically crippling isolation from the West.")
    r = check_pair(real_pipeline.generator, claim, quote, threshold=real_pipeline.settings.judge_threshold)
    assert (r.verdict == "supported") == supported, r


@pytest.mark.parametrize("question, term", [
    ("Who is Soleimani's successor?", "Ghaani"),
    ("When did the air strikes begin after the upper house vote?", "few hours"),
])
def test_what_the_articles_state_is_not_refused(real_pipeline, question, term):
    a = real_pipeline.answer(question)
    assert not a.refused and term in a.answer, a.answer
