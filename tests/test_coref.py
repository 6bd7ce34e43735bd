"""A follow-up names whom it means: a pointing pronoun becomes the last answer's subject, else the question's."""

import pytest

from rag.answer.followup import pointing_pronouns, rewrite_query


def turns(*texts: str) -> list[dict]:
    """A history from alternating question and answer texts."""
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(texts)]


GHAANI = turns("Who succeeded Soleimani?", "Esmail Ghaani succeeded Soleimani [1].")


def test_the_reported_case():
    assert rewrite_query("What did he say about it?", GHAANI) == \
        "What did Esmail Ghaani say about it? (succeeded Soleimani)"


def test_possessive_and_object_forms():
    assert rewrite_query("What did his deputy say?", GHAANI) == \
        "What did Esmail Ghaani's deputy say? (succeeded Soleimani)"
    assert rewrite_query("Who appointed him?", GHAANI) == "Who appointed Esmail Ghaani? (succeeded Soleimani)"
    merkel = turns("What did Merkel say?", "Merkel called for restraint [1].")
    assert rewrite_query("what did her party say?", merkel) == "what did Merkel's party say?"
    assert rewrite_query("Did Obama agree with her?", merkel) == "Did Obama agree with Merkel?"


def test_the_answer_subject_comes_before_the_question_subject():
    history = turns("Why did Putin enter Syria?",
                    "According to Reuters, Sergei Lavrov said the strikes would continue [1].")
    assert rewrite_query("What did he say about the West?", history) == \
        "What did Sergei Lavrov say about the West? (Putin enter Syria)"


def test_a_refusal_has_no_subject_so_the_question_gives_it():
    history = turns("What did Obama say about Syria?",
                    "The articles don't say. The closest they come: Kerry said the talks had stalled [1].")
    assert rewrite_query("Did he visit Damascus?", history) == "Did Obama visit Damascus? (Syria)"
    assert rewrite_query("What did he say?", turns("Who succeeded Soleimani?", "The articles don't say.")) == \
        "What did Soleimani say? (succeeded)"


def test_they_means_an_organisation_or_country_not_a_person():
    history = turns("Why did Putin enter Syria?", "Putin wanted to end Russia's isolation from the West [1].")
    assert rewrite_query("What did they say?", history) == "What did Russia say? (Putin enter Syria)"
    assert rewrite_query("What did he say about it?", history) == "What did Putin say about it? (enter Syria)"
    nato = turns("What did NATO decide?", "NATO agreed to send more troops to Poland [1].")
    assert rewrite_query("How many troops did they send?", nato) == "How many troops did NATO send? (decide)"
    assert rewrite_query("What is its budget?", nato) == "What is NATO's budget? (decide)"


def test_a_name_already_in_the_follow_up_is_not_replaced_nor_taken():
    assert rewrite_query("What did Ghaani say about him?", GHAANI) == "What did Ghaani say about Soleimani? (succeeded)"
    assert rewrite_query("Did Ghaani say he would retaliate?", GHAANI) == "Did Ghaani say he would retaliate?"
    met = turns("Who did Obama meet in Paris?", "Obama met Putin in Paris [1].")
    assert rewrite_query("What did Obama say about him?", met) == "What did Obama say about Putin? (meet Paris)"


@pytest.mark.parametrize("history", [None, [], [{"role": "assistant", "content": "Putin spoke [1]."}]])
def test_without_a_previous_question_nothing_changes(history):
    assert rewrite_query("What did he say?", history) == "What did he say?"


CASES = [
    # (question, answer, follow-up, rewritten)
    ("Who bombed Aleppo?", "In 2015, Russia began air strikes on Aleppo [1].", "Why did they do it?",
     "Why did Russia do it? (bombed Aleppo)"),
    ("Who bombed Aleppo?", "Russian jets bombed Aleppo in 2016 [1].", "Where did they take off from?",
     "Where did Russian jets take off from? (bombed Aleppo)"),
    ("Who resigned?", "Prime Minister David Cameron resigned after the referendum [1].", "Who replaced him?",
     "Who replaced Prime Minister David Cameron? (resigned)"),
    ("What did Angela Merkel say about the strikes?", "Merkel called for restraint [1].", "Why did she say that?",
     "Why did Angela Merkel say that? (strikes)"),  # the full name, from the question
    ("Who did Trump beat?", "Trump beat Hillary Clinton [1].", "What did she say after losing?",
     "What did Hillary Clinton say after losing? (Trump beat)"),
    ("Who won the 2016 election?", "Donald Trump won the 2016 election [1].", "What did she say after losing?",
     "What did she say after losing? (won 2016 election)"),  # no woman named: left as it is
    ("Who met Obama in Berlin?", "Obama met Angela Merkel in Berlin [1].", "Did he meet her again?",
     "Did Obama meet Angela Merkel again? (met Berlin)"),
    ("Who met in Geneva?", "Kerry and Lavrov met in Geneva on Monday [1].", "What did they agree?",
     "What did Kerry and Lavrov agree? (met Geneva)"),
    ("Why did the rebels leave Aleppo?", "The rebels withdrew after a ceasefire [1].", "Where did they go?",
     "Where did the rebels go? (leave Aleppo)"),
    ("Who signed the deal?", "Iran and the US signed the deal in Vienna [1].", "When did it take effect?",
     "When did the deal take effect? (signed)"),
    ("Why did Saudi Arabia cut output?", "Saudi Arabia cut output to support prices [1].", "Did its allies agree?",
     "Did Saudi Arabia's allies agree? (cut output)"),
    ("Who is the Iranian foreign minister?", "Iran's foreign minister, Javad Zarif, said talks would continue [1].",
     "What did he say about the deal?", "What did Javad Zarif say about the deal? (Iranian foreign minister)"),
    ("What did the Syrian president say?", '"We will win," Bashar al-Assad told reporters [1].', "Who supports him?",
     "Who supports Bashar al-Assad? (Syrian president)"),
    ("Did Trump sign the order?", "Yes, Trump signed the order on Friday [1].", "What did his critics say?",
     "What did Trump's critics say? (sign order)"),
    ("What did the Kremlin say?", "The Kremlin denied any involvement [2].", "Did they offer proof?",
     "Did the Kremlin offer proof?"),
    ("Who leads Hezbollah?", "Hassan Nasrallah leads Hezbollah [1].", "When did it form?",
     "When did Hezbollah form? (leads)"),  # "it" is not a person: the question's organisation
    ("Who won the war?", "In 1989, the Soviet Union withdrew from Afghanistan [1].", "Why did its army withdraw?",
     "Why did the Soviet Union's army withdraw? (won war)"),
    ("Who heads the IMF?", "Christine Lagarde heads the International Monetary Fund [1].", "Where was she born?",
     "Where was Christine Lagarde born? (heads IMF)"),
    ("Why did Turkey shoot down the jet?", "Turkey said the jet violated its airspace [1].", "Did it apologise?",
     "Did Turkey apologise? (shoot jet)"),
    ("Why did Turkey shoot down the jet?", "Turkey said the jet violated its airspace [1].",
     "What did Russia say about it?", "What did Russia say about it? (Turkey shoot jet)"),  # an object "it" stays
    ("Who is Putin?", "He is the president of Russia [1].", "How old is he?", "How old is Putin?"),
]


@pytest.mark.parametrize(("question", "answer", "follow_up", "rewritten"), CASES)
def test_varied_answers(question, answer, follow_up, rewritten):
    assert rewrite_query(follow_up, turns(question, answer)) == rewritten


def test_a_pronoun_resolved_earlier_carries_through_a_chain():
    history = GHAANI + turns("When was he appointed?", "He was appointed on 3 January 2020 [2].")
    assert rewrite_query("What did he say?", history) == "What did Esmail Ghaani say? (appointed succeeded Soleimani)"
    history = GHAANI + turns("What did he say about it?", "The articles don't say.")
    assert rewrite_query("Who appointed him?", history) == "Who appointed Esmail Ghaani? (succeeded Soleimani)"


def test_self_contained_and_non_pronoun_follow_ups_are_unchanged():
    history = turns("What did Merkel say?", "Merkel called for restraint [1].")
    assert rewrite_query("Who is Putin?", history) == "Who is Putin?"
    assert rewrite_query("Did Putin say he would stay in power?", history) == "Did Putin say he would stay in power?"
    assert rewrite_query("and Obama?", history) == "and Obama? (Merkel)"
    assert rewrite_query("why?", history) == "why? (Merkel)"


def test_pointing_pronouns_are_the_ones_followup_counts():
    question = "What did he say about it?"
    assert [question[a:b] for a, b in pointing_pronouns(question)] == ["he", "it"]
    assert pointing_pronouns("Did Putin say he would stay?") == []
    assert pointing_pronouns("What is it like to live in Moscow?") == []
