"""The claim judge's rules, the sentence choice, `rag check` and the ladder's summary, with deterministic fakes.

The sentences here are invented for the tests (none comes from an eval set or the claims set)."""

import json

import pytest

from rag.answer.check import accuracy_by_kind, check_pair
from rag.answer.choose import Choice, choose
from rag.answer.evidence import Unit
from rag.answer.judge import (NOT_ANSWER, NUMBER, PROPOSAL, QUALIFIER, REVERSED, WRONG_PERSON, answer_gap, judge,
                              model_score, rule_failure)
from rag.generate.base import ScriptedGenerator

QUOTE_PLAN = "Mayor Lena Ortiz proposed closing the old bridge to trucks, but the council has not voted yet."
QUOTE_RATHER = "Rather than raising fares, the transit board cut two night routes, its chair Omar Haddad said."
QUOTE_OVER = "The strike drew more than 4,000 workers to the square on March 3, organisers said."
QUOTE_HEDGE = "The fire was reportedly started by a faulty heater in the kitchen."
QUOTE_DENIED = "Police said a guard had opened the gate, a claim the security firm denied."
QUOTE_TRYING = "Instead of waiting for the state, the town was trying to rebuild the pier before the summer season."
QUOTE_SAID = "“Our port does not plan ahead,” says harbour master Ines Varga. “It reacts to each storm.”"
QUOTE_UNWILLING = "Volunteers from two villages filled the sandbags that the county did not want to pay for."


@pytest.mark.parametrize("claim, quote, kind", [
    ("Lena Ortiz closed the old bridge to trucks.", QUOTE_PLAN, PROPOSAL),
    ("The transit board raised fares.", QUOTE_RATHER, REVERSED),
    ("The transit board cut night routes rather than raise fares... no: raised fares rather than cut night routes.",
     QUOTE_RATHER, REVERSED),
    ("The strike drew 4,000 workers to the square.", QUOTE_OVER, QUALIFIER),
    ("The strike drew more than 4,000 workers on March 4.", QUOTE_OVER, NUMBER),
    ("The strike drew more than 5,000 workers.", QUOTE_OVER, NUMBER),
    ("The strike drew more than 4,000 workers in April.", QUOTE_OVER, NUMBER),
    ("A faulty heater in the kitchen started the fire.", QUOTE_HEDGE, QUALIFIER),
    ("The security firm confirmed that a guard opened the gate.", QUOTE_DENIED, REVERSED),
    ("Council member Ruth Kline proposed closing the old bridge to trucks.", QUOTE_PLAN, WRONG_PERSON),
    ("The transit board did not cut night routes.", QUOTE_RATHER, REVERSED),
    ("The town rebuilt the pier before the summer season.", QUOTE_TRYING, PROPOSAL),
    ("The county agreed to pay for the sandbags.", QUOTE_UNWILLING, REVERSED),
])
def test_rules_catch_what_a_reader_gets_wrong(claim, quote, kind):
    failure = rule_failure(claim, quote)
    assert failure is not None and failure[0] == kind, failure


@pytest.mark.parametrize("claim, quote", [
    ("Lena Ortiz proposed closing the old bridge to trucks.", QUOTE_PLAN),
    ("Omar Haddad said the board cut two night routes instead of raising fares.", QUOTE_RATHER),
    ("The transit board cut two night routes.", QUOTE_RATHER),
    ("More than 4,000 workers joined the strike on March 3.", QUOTE_OVER),
    ("The fire was reportedly caused by a faulty kitchen heater.", QUOTE_HEDGE),
    ("The security firm denied that a guard had opened the gate.", QUOTE_DENIED),
    ("Omar Haddad", QUOTE_RATHER),  # a bare phrase answer
    # a goal given as the purpose of what was done is not a plan told as done
    ("The town acted on its own to rebuild the pier before the summer season.", QUOTE_TRYING),
    # a word inside the speaker's quotation, reported as said, is no plan
    ("Ines Varga said the port does not plan ahead but reacts to each storm.", QUOTE_SAID),
    # the negation is about what the county would not pay for, not about the volunteers' work
    ("Volunteers from two villages filled the sandbags.", QUOTE_UNWILLING),
])
def test_rules_let_faithful_claims_through(claim, quote):
    assert rule_failure(claim, quote) is None


@pytest.mark.parametrize("question, answer, missing", [
    ("When did the strike begin?", "Workers gathered in the square.", True),
    ("When did the strike begin?", "On March 3.", False),
    ("When did the strike begin?", "A few hours after the vote.", False),
    ("Who chairs the transit board?", "The board cut two routes.", True),
    ("Who chairs the transit board?", "Omar Haddad.", False),
    ("How many workers joined the strike?", "Workers filled the square.", True),
    ("How many workers joined the strike?", "More than 4,000.", False),
    ("What is the name of the bridge?", "the old bridge", True),
    ("What is the name of the Kenyan dam?", "Kenya's dam", True),  # a form of the question's own word
    ("What is the name of the Kenyan dam?", "the Turkwel Dam", False),
    ("Why did the board cut routes?", "The board cut routes.", False),  # "why" is the model's to judge
    # the person must be the one doing what was asked, not someone the question names in another role
    ("Which county official ordered the closure of the harbour?", "Omar Haddad, the harbour master", False),
    ("Which county official closed the harbour of Omar Haddad?", "Omar Haddad, the harbour master", True),
    ("Who did Ortiz send to the council?", "Ortiz's chief of staff", False),
    ("Who did Ortiz send to the council?", "Lena Ortiz", True),
    # a time or number the question itself gives is no answer to it
    ("When in 2024 did the strike begin?", "In 2024.", True),
    ("When in 2024 did the strike begin?", "On March 3, 2024.", False),
])
def test_answer_gap_names_what_the_question_asks_for(question, answer, missing):
    assert bool(answer_gap(question, answer)) == missing
    if missing:
        assert rule_failure(answer, answer, question)[0] == NOT_ANSWER


def test_the_questions_own_numbers_are_its_premise_but_not_its_names():
    quote = "Workers left the plant at noon, the union's Ada Brandt said."
    q = "Why did workers at the plant walk out in March 2024?"
    claim = "Workers at the plant left at noon in March 2024."
    assert rule_failure(claim, quote, q) is None  # said in the question, not claimed from the quote
    assert rule_failure(claim, quote)[0] == NUMBER  # without the question, it is made up
    # a name from the question put where the quote has someone else is the wrong person, premise or not
    q2 = "What did Mayor Lena Ortiz say about the plant?"
    assert rule_failure("Lena Ortiz said workers left the plant at noon.", quote, q2)[0] == WRONG_PERSON


def test_the_models_yes_probability_decides_what_the_rules_pass():
    sure = ScriptedGenerator(probs={"yes": 0.7, "Yes": 0.2, "no": 0.1})
    unsure = ScriptedGenerator(probs={"yes": 0.2, "No": 0.6})
    claim = "The transit board cut two night routes."
    assert model_score(sure, claim, QUOTE_RATHER) == pytest.approx(0.9)
    assert judge(sure, claim, QUOTE_RATHER, threshold=0.65).supported
    v = judge(unsure, claim, QUOTE_RATHER, threshold=0.65)
    assert not v.supported and v.kind == "model" and v.score == pytest.approx(0.25)
    # a rule failure is final, whatever the model says
    assert not judge(sure, "The transit board raised fares.", QUOTE_RATHER).supported
    # no probabilities (a chat server): the rules alone
    assert judge(ScriptedGenerator(), claim, QUOTE_RATHER).supported
    assert model_score(ScriptedGenerator(), claim, QUOTE_RATHER) is None


def test_the_judge_prompt_holds_the_question_only_when_there_is_one():
    gen = ScriptedGenerator(probs={"yes": 1.0})
    seen = []
    gen.first_token_probs = lambda messages, words: seen.append(messages) or {"yes": 1.0, "no": 0.0}
    model_score(gen, "Omar Haddad", QUOTE_RATHER, question="Who chairs the board?")
    model_score(gen, "Omar Haddad chairs the board.", QUOTE_RATHER)
    assert "Question: Who chairs the board?" in seen[0][-1]["content"]
    assert "Question:" not in seen[1][-1]["content"] and QUOTE_RATHER in seen[1][-1]["content"]


def _units(scores):
    return [Unit("d", i * 10, i * 10 + 5, f"Sentence number {i}.", "", score=s) for i, s in enumerate(scores)]


def test_choose_ranks_by_the_readers_choice_and_the_retrieval_score():
    units = _units([0.5, 0.1, 0.2])
    gen = ScriptedGenerator(probs={"1": 0.1, "2": 0.6, "3": 0.2, "NONE": 0.1})
    c = choose(gen, "Which one?", units, retrieval_weight=0.0)
    assert c.order == [1, 2, 0] and c.p_none == pytest.approx(0.1)
    assert sum(c.p) + c.p_none == pytest.approx(1.0)
    # a strong retrieval score can overrule a weak preference
    assert choose(gen, "Which one?", units, retrieval_weight=10.0).best == 0
    # no probabilities: retrieval order, answerability unknown
    c = choose(ScriptedGenerator(), "Which one?", units, retrieval_weight=1.0)
    assert c.order == [0, 2, 1] and c.p_none is None


def test_a_why_question_reads_the_sentences_rated_nearly_as_high():
    c = Choice(order=[2, 0, 1], p=[0.3, 0.05, 0.4], p_none=0.0)
    assert c.chosen("Why did the board cut routes?", share=0.5) == [2, 0]
    assert c.chosen("Who cut the routes?", share=0.5) == [2]


def test_check_pair_and_accuracy_by_kind():
    r = check_pair(None, "The transit board raised fares.", QUOTE_RATHER, use_model=False)
    assert r.verdict == "not supported" and r.kind == REVERSED and r.quote == QUOTE_RATHER
    d = r.to_dict()
    assert {"claim", "verdict", "score", "quote", "reason"} <= set(d)
    ok = check_pair(None, "The transit board cut two night routes.", QUOTE_RATHER, use_model=False)
    table = accuracy_by_kind([({"kind": "reversed", "label": "not supported"}, r),
                              ({"kind": "faithful", "label": "supported"}, ok),
                              ({"kind": "faithful", "label": "not supported"}, ok)])
    assert table["reversed"]["accuracy"] == 1.0 and table["faithful"]["accuracy"] == 0.5


def test_ladder_summary_and_table():
    from rag.evaluate.ladder import LadderRow, ladder_summary, ladder_table
    from rag.evaluate.score import ItemResult

    def item(i, kind, terms, refused):
        return ItemResult(f"q{i}", kind, "?", "", refused, 1.0, True, True, terms if kind != "unanswerable" else None,
                          None, None, 0, 0, 1.0, 1.0, 1.0)

    rows = [LadderRow(item(1, "factoid", True, False), True, True, True, True, True),
            LadderRow(item(2, "factoid", False, True), True, False, False, True, True),
            LadderRow(item(3, "unanswerable", None, True), None, None, None, None, None)]
    s = ladder_summary(rows)
    assert s["factoid"]["gold_sentence"] == 1.0 and s["factoid"]["gold_passage"] == 0.5
    assert s["factoid"]["chosen_at1"] == 0.5 and s["factoid"]["chosen_at3"] == 1.0
    assert s["all"]["pipeline"] == 0.5 and s["all"]["false_refusals"] == 0.5 and s["all"]["refused_unanswerable"] == 1
    table = ladder_table(s)
    assert "| factoid | 2 (2) | 100% | 50% |" in table and table.count("\n") == 4  # head, rule, 3 rows
    json.dumps(s)


def test_likely_voters_are_not_a_hedge():
    from rag.answer.judge import rule_failure

    quote = "Brennagh had the support of 44 percent of likely voters, a poll found."
    assert rule_failure("A poll put Brennagh on 44 percent.", quote) is None
    assert rule_failure("Brennagh will win.", "Brennagh will likely win.") is not None  # still a hedge
