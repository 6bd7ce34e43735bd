import numpy as np

from rag.answer.verify import check_sentence, number_phrases, split_answer
from rag.text import names_in

EVIDENCE = ["They obliged with a quick and unanimous vote in favor, and air strikes began a few hours later."]
CONTEXT = ["On Sept. 30, Sergei Ivanov asked the lawmakers in the upper house. " + EVIDENCE[0]]


def check(sentence, cosine=None):
    vec = np.ones(4, dtype=np.float32) / 2 if cosine is not None else None
    ev = None
    if cosine is not None:  # build an evidence vector with the wanted cosine to `vec`
        other = np.array([1, -1, 1, -1], dtype=np.float32) / 2
        ev = np.array([cosine * vec + np.sqrt(max(0.0, 1 - cosine**2)) * other], dtype=np.float32)
    return check_sentence(sentence, EVIDENCE, CONTEXT, vec, ev)


def test_verbatim_and_faithful_paraphrase_pass():
    assert check(EVIDENCE[0]).ok
    assert check("Air strikes began a few hours after a quick, unanimous vote.").ok
    assert check("The strikes started a few hours after the lawmakers voted.", cosine=0.8).ok


def test_fabricated_name_is_rejected():
    s = check("Sergei Lavrov said air strikes began a few hours later after the vote.")
    assert not s.ok and "Lavrov" in s.reason


def test_name_from_the_cited_paragraph_is_allowed():
    assert check("Ivanov got a quick and unanimous vote, and air strikes began a few hours later.").ok


def test_fabricated_number_is_rejected():
    s = check("Air strikes began 5 hours after the quick and unanimous vote.")
    assert not s.ok and "5" in s.reason


def test_negation_flip_is_rejected():
    s = check("Air strikes did not begin a few hours after the quick and unanimous vote.")
    assert not s.ok and "negation" in s.reason


def test_invented_content_is_rejected_even_if_similar():
    s = check("The vote was a campaign to take control of the capital and begin strikes.", cosine=0.9)
    assert not s.ok


def test_fabricated_quotation_is_rejected():
    s = check("Air strikes began a few hours later, “after a bitter fight”.")
    assert not s.ok


def test_helpers():
    assert {"Sergei", "Lavrov"} <= names_in("Then Sergei Lavrov spoke. The end.")
    assert "The" not in names_in("The man spoke.")
    assert number_phrases("over 200,000 people in 2015.") == {"200,000", "2015"}
    assert number_phrases("voted 5-4 to approve a $3.2 million plan") == {"5-4", "$3.2 million"}
    assert split_answer("First one [1]. Second one [2].") == ["First one.", "Second one."]


def test_sentence_about_the_prompt_is_rejected():
    s = check("The quote “They obliged with a quick and unanimous vote in favor” was provided by the user.")
    assert not s.ok and "prompt" in s.reason


COUNCIL = ["The Larkspur Falls council voted 5-4 on Tuesday to approve a $3.2 million plan for new bike lanes."]


def council(sentence):
    return check_sentence(sentence, COUNCIL, COUNCIL, None, None)


def test_numbers_must_appear_as_written():
    assert council("The council voted 5-4 to approve a $3.2 million plan for bike lanes.").ok
    garbled = council("The council voted 5-to-a-night to approve a $3.2 million bike lane plan.")
    assert not garbled.ok and "5-to-a-night" in garbled.reason
    abbreviated = council("The council voted 5-4 to approve a $3.2M plan for bike lanes.")
    assert not abbreviated.ok and "$3.2m" in abbreviated.reason
    assert not council("The council voted 5-4 to approve a $3.2 billion plan for bike lanes.").ok
    assert not council("The council voted 6-3 to approve a $3.2 million plan for bike lanes.").ok


def test_question_words_count_only_where_the_paragraph_has_them():
    ev = ["Tom Hanks leads the cast as the ship's captain."]
    para = ["Captain Phillips is a 2013 film. " + ev[0]]
    assert check_sentence("Tom Hanks plays the captain in Captain Phillips.", ev, para, None, None,
                          given={"captain", "phillip", "play"}).ok
    assert not check_sentence("Tom Hanks plays the captain in Captain Phillips.", ev, ev, None, None,
                              given={"captain", "phillip", "play"}).ok
