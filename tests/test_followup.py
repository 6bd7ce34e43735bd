"""Only a real follow-up is rewritten: a self-contained question is searched exactly as asked."""

import pytest

from rag.answer.followup import follow_up_cue, is_follow_up, key_terms, pointing_pronouns, rewrite_query

SELF_CONTAINED = [
    # the reported bug, and plain questions of every kind and length
    "What is the capital of France?",
    "Who is Putin?",
    "Who is Soleimani's successor?",
    "Why did Putin enter Syria?",
    "When did the Berlin Wall fall?",
    "Where was the 2014 World Cup played?",
    "How does photosynthesis work?",
    "Which city did ISIS push into in October 2015?",
    "How many moons does Jupiter have?",
    "Recipe for banana bread",
    "Explain quantum entanglement in simple terms.",
    # dummy "it"
    "What is it like to live in Moscow?",
    "What's it like in Reykjavik during winter?",
    "Is it true that the Great Wall is visible from space?",
    "Is it likely that interest rates will fall next year?",
    "How long did it take the Apollo astronauts to reach the Moon?",
    "Would it be wise to invest in gold now?",
    "Was it Edison who invented the light bulb?",
    "Is it raining in London today?",
    "What time is it in Tokyo?",
    "Does it matter who wins the Iowa caucus?",
    "Is it worth visiting Venice in August?",
    "What made it so hard to climb Everest before 1953?",
    "Who was it that painted the Sistine Chapel ceiling?",
    # existential "there"
    "Is there a cure for the common cold?",
    "Are there any snakes in Ireland?",
    "Why were there riots in Paris in 2005?",
    "How many people are there in the world?",
    # "that" as complementizer or relative pronoun, "this" for the present
    "What is the evidence that coffee causes cancer?",
    "Did Obama say that sanctions would work?",
    "How many people died in the strikes that began in 2015?",
    "Were there protests that turned violent in Hong Kong?",
    "Who won the election this year?",
    "What happened to those who fled Aleppo?",
    # a name or a determiner phrase before the pronoun
    "Did Putin say he would stay in power?",
    "Why did Merkel change her refugee policy?",
    "Did the army say it would withdraw from the city?",
    "Why did the rebels abandon their positions?",
    "Did Russia close its embassy in Kyiv?",
    "Did Putin ask the army to protect him?",
    "Why did Obama criticise Putin after meeting him?",
    "Which president said he would not run again?",
    "Did the UN say it would send peacekeepers?",
    "Angela Merkel said she was surprised; why?",
    "Did the Beatles ever regret their breakup?",
]

FOLLOW_UPS = [
    # pronouns and demonstratives pointing back
    "and what did Obama say about that?",
    "Why did he do it?",
    "Why did it refuse to sign the treaty?",
    "What did the report say about it?",
    "Which country did he visit first?",
    "Explain why she resigned.",
    "What does that mean?",
    "what happened to them next?",
    "Who killed him?",
    "What did Obama say about him?",
    "Did Obama agree with her?",
    "Is that true?",
    "Why did that happen?",
    "Who signed that deal?",
    "How did this affect oil prices?",
    "Were those claims ever proven?",
    "Who ordered the strikes there?",
    "How many people were there?",
    "What happened then?",
    "What has changed since then?",
    "What is its population?",
    "Where did she grow up?",
    "Why did they leave the coalition?",
    "What is it like?",
    "Is it safe?",
    "Did Iran do the same?",
    "What did the former say about the latter?",
    "Who else was arrested?",
    "Did China vote for it too?",
    # ellipsis
    "and Obama?",
    "And when?",
    "what about Iran?",
    "How about the US?",
    "So what about Turkey?",
    "why?",
    "How so?",
    "Really?",
    "Tell me more",
    "Can you elaborate?",
    "Then what?",
]


@pytest.mark.parametrize("question", SELF_CONTAINED)
def test_a_self_contained_question_is_searched_as_asked(question):
    history = [{"role": "user", "content": "Why did Angela Merkel oppose the strikes?"},
               {"role": "assistant", "content": "She feared escalation [1]."}]
    assert follow_up_cue(question) is None
    assert rewrite_query(question, history) == question


@pytest.mark.parametrize("question", FOLLOW_UPS)
def test_a_follow_up_carries_the_previous_subject(question):
    history = [{"role": "user", "content": "Why did Putin enter Syria?"}]
    assert is_follow_up(question), question
    rewritten = rewrite_query(question, history)
    assert "Syria" in rewritten and rewritten != question
    if not pointing_pronouns(question):  # a pronoun is replaced by whom it means (tests/test_coref.py)
        assert rewritten.startswith(question.strip())


def test_the_reported_bug():
    history = [{"role": "user", "content": "What did Angela Merkel say about the strikes?"},
               {"role": "assistant", "content": "Merkel called for restraint [1]."}]
    assert rewrite_query("What is the capital of France?", history) == "What is the capital of France?"


def test_a_chain_of_follow_ups_keeps_the_original_subject():
    history = [
        {"role": "user", "content": "Why did Putin enter Syria?"},
        {"role": "assistant", "content": "To end Russia's isolation [1]."},
        {"role": "user", "content": "And what did Obama say about that?"},
        {"role": "assistant", "content": "He criticised the strikes [2]."},
    ]
    assert rewrite_query("Why?", history) == "Why? (Obama Putin enter Syria)"
    # a self-contained question in between starts a new subject
    history += [{"role": "user", "content": "Who is Soleimani's successor?"},
                {"role": "assistant", "content": "Esmail Qaani [3]."}]
    assert rewrite_query("When was he appointed?", history) == \
        "When was Esmail Qaani appointed? (Soleimani's successor)"  # "he" named (tests/test_coref.py)


def test_the_rewrite_adds_only_terms_the_question_lacks():
    history = [{"role": "user", "content": "Why did Putin enter Syria?"}]
    assert rewrite_query("What about Syria?", history) == "What about Syria? (Putin enter)"
    assert rewrite_query("and Putin, Syria?", history) == "and Putin, Syria? (enter)"
    assert rewrite_query("why?", [{"role": "user", "content": "why?"}]) == "why?"  # nothing to add
    assert rewrite_query("why?", None) == "why?"
    assert rewrite_query("why?", [{"role": "assistant", "content": "Hello."}]) == "why?"


def test_the_cue_says_why():
    assert follow_up_cue("Who killed him?") == "pronoun 'him'"
    assert follow_up_cue("what about Iran?") == "lead 'what about'"
    assert follow_up_cue("why?") == "no content word"
    assert follow_up_cue("What did Obama say about that?") == "that"
    assert follow_up_cue("") is None


def test_key_terms_keep_two_letter_acronyms():
    assert key_terms("How about the US and the UK?") == ["US", "UK"]
    assert key_terms("Why did Putin enter Syria, and why Syria?") == ["Putin", "enter", "Syria"]
