"""The question's shape (one answer, or an answer with parts), the sides of a comparison, and the small text helpers
of the parts path: one sentence from a reply, a sentence that stands alone, a premise dropped, diverse parts."""

import numpy as np
import pytest

from rag.answer.evidence import Unit
from rag.answer.parts import (drop_premise, first_sentence, invented_purpose, pick_parts, pick_sides, repeats,
                              sentence_done, side_label, stands_alone)
from rag.answer.shape import ABOUT, COMPARE, ONE, REASONS, question_sentence, question_shape, sides_of
from rag.schema import Document


@pytest.mark.parametrize("question, kind", [
    ("Who opened the new bridge?", ONE),
    ("when did the strike end", ONE),
    ("How many workers walked out in March?", ONE),
    ("Which minister resigned, and when?", ONE),
    ("What is the name of the new dam?", ONE),
    ("who compared the council to a broken clock", ONE),  # "compared" is the verb asked about, not a comparison
    ("Why did the council close the library?", REASONS),
    ("How did the mayor respond to the flooding?", REASONS),
    ("What were the reasons for the delay?", REASONS),
    ("What was the thinking behind the new tax?", REASONS),
    ("Compare the union's demands with the company's offer.", COMPARE),
    ("How does the 2024 report differ from the 2026 one?", COMPARE),
    ("What role does the mayor play in each of the two stories?", COMPARE),
    ("What was the plan in 2024, and what is it in 2026, according to the two articles?", COMPARE),
    ("What do the articles say about the harbour wall?", ABOUT),
    ("What happened at the port on Sunday?", ABOUT),
])
def test_the_shape_of_a_question(question, kind):
    assert question_shape(question).kind == kind
    assert question_shape(question).parts == (kind != ONE)


def test_the_asking_sentence_is_the_last_question_without_its_lead_in():
    assert question_sentence("The mayor spoke twice. According to the 2026 article, who answered her?") == \
        "who answered her?"
    assert question_shape("The report praised the plan. Why did the council reject it?").kind == REASONS


def _doc(name, outlet, published, approx=False):
    return Document(doc=name, title=name, text="", outlet=outlet, published=published, published_approx=approx)


def test_sides_come_from_the_years_or_outlets_the_question_names():
    docs = {"a.md": _doc("a.md", "Harbour Herald", "2024-03-02"), "b.md": _doc("b.md", "Coast Wire", "2026-05-01"),
            "c.md": _doc("c.md", "Coast Wire", "2026-06-11")}
    by_year = sides_of(question_shape("How does the 2024 piece differ from the 2026 one?"), docs, ["c.md", "a.md"])
    assert by_year == [["a.md"], ["c.md", "b.md"]]  # each side's articles, best retrieved first
    by_outlet = sides_of(question_shape("Compare the Harbour Herald's view with Coast Wire's."), docs, ["b.md"])
    assert by_outlet[0] == ["a.md"] and set(by_outlet[1]) == {"b.md", "c.md"}
    both = sides_of(question_shape("What do both articles say about the wall?"), docs, ["b.md", "b.md", "a.md"])
    assert both == [["b.md"], ["a.md"]]
    assert sides_of(question_shape("Why did the wall fail?"), docs, ["a.md", "b.md"]) == []
    assert side_label(docs["a.md"]) == "Harbour Herald (Mar 2024)"
    assert side_label(_doc("d.md", "Wire", "2015-10-14", approx=True)) == "Wire (Oct 2015, approx.)"


def test_one_sentence_from_a_reply():
    assert first_sentence("On Sept. 30 the U.S. Navy left. Then it came back.") == "On Sept. 30 the U.S. Navy left."
    assert first_sentence("NONE") is None and first_sentence("  ") is None
    assert not sentence_done("On Sept. 30 the U.S.") and sentence_done("It rained. The")
    assert sentence_done("The vote was close\n")


def test_a_shown_sentence_stands_alone():
    assert stands_alone("The mayor saw a chance to cut costs.")
    assert not stands_alone("The mayor saw a chance in offering one.")  # one what?
    assert not stands_alone("He wanted to cut costs.") and not stands_alone("This forced the council to act.")
    assert stands_alone("No one came to the meeting.")


def test_a_restated_question_before_because_is_dropped():
    q = "Why did the council close the library in 2024?"
    assert drop_premise("The council closed the library in 2024 because the roof was leaking badly.", q) == \
        "The roof was leaking badly."
    kept = "Repairs cost too much because the roof was leaking badly."  # its own claim, not the question's
    assert drop_premise(kept, q) == kept
    assert repeats("The roof was leaking badly.", ["Badly, the roof was leaking."])
    assert not repeats("Repairs cost too much.", ["The roof was leaking."])


def _units(scores, paragraphs):
    return [Unit("d", i * 10, i * 10 + 5, f"s{i}", p, score=s) for i, (s, p) in enumerate(zip(scores, paragraphs))]


def test_parts_each_add_something():
    units = _units([0.9, 0.8, 0.7, 0.6, 0.5], ["p1", "p1", "p2", "p3", "p4"])
    vecs = np.eye(5, dtype=np.float32)
    vecs[3] = vecs[2]  # unit 3 says what unit 2 says
    assert pick_parts(units, vecs, most=4) == [0, 2, 4]  # one per paragraph, no repeats
    assert pick_parts(units, vecs, most=4, floor=0.8) == [0]


def test_each_side_has_its_say_before_any_has_two():
    units = [Unit("a", 0, 1, "a0", "pa0", score=0.9), Unit("a", 2, 3, "a1", "pa1", score=0.8),
             Unit("b", 0, 1, "b0", "pb0", score=0.3), Unit("b", 2, 3, "b1", "pb1", score=0.2)]
    assert pick_sides(units, [["a"], ["b"]], np.eye(4, dtype=np.float32), most=3) == [0, 2, 1]


def test_a_purpose_the_quote_does_not_give_is_not_a_reason():
    q = "Why did the council close the harbour?"
    aim = "The council was trying to cut its repair bill when it shut the old harbour in May."
    order = "The council ordered the harbour master to cut the repair bill."
    assert not invented_purpose("The council closed the harbour to cut its repair bill.", q, aim)
    assert invented_purpose("The council closed the harbour to cut the repair bill.", q, order)
    assert not invented_purpose("The harbour master cut the repair bill.", q, order)  # no restated question
