"""The page's plain functions: library summary and examples, upload report, restored turns, sessions, copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from fake_pipeline import FakePipeline

from rag.errors import with_detail
from rag.ingest.loaders import DAMAGED_PDF
from rag.schema import DocumentInfo, IngestReport
from ui.chat import finish_turn, restore_turns
from ui.headline import headline_question
from ui.library import example_questions, library_summary, report_html
from ui.render import answer_markdown, sources_panel
from ui.session import Sessions
from ui.uploads import store_uploads


def _doc(doc: str, title: str, outlet: str = "", published: str = "", chunks: int = 3, approx: bool = False
         ) -> DocumentInfo:
    return DocumentInfo(doc, title, outlet, published, chunks, approx)


def test_library_summary_says_what_the_articles_are_about() -> None:
    assert "empty" in library_summary([])
    two = [_doc("a.md", "Why Putin Went Into Syria: Russia's Bid to End Its Isolation", "TIME", "2015-10-14",
                approx=True),
           _doc("b.md", "Putin Now Needs a Plan B on Iran", "The Moscow Times (first published by Bloomberg)",
                "2020-01-06")]
    # each article's date as the list and the source cards show it, and no brackets inside brackets
    assert library_summary(two) == ("2 articles: “Why Putin Went Into Syria” (TIME, about Oct 2015) · "
                                    "“Putin Now Needs a Plan B on Iran” (The Moscow Times, 6 Jan 2020)")
    many = [_doc(f"{i}.md", f"Drought {'hits' if i % 2 else 'spares'} Valencia farms, report {i}", f"Outlet {i % 2}",
                 f"20{10 + i}-0{1 + i}-01", approx=i == 4) for i in range(5)]
    assert library_summary(many) == ("5 articles from 2 outlets, Jan 2010 – about May 2014, "
                                     "mostly about Drought and Valencia")
    assert "mostly about" not in library_summary([_doc(f"{i}.md", t) for i, t in enumerate("ABCD")])


@pytest.mark.parametrize(("title", "text", "question"), [
    ("Why Putin Went Into Syria: Russia's Bid to End Its Isolation", "Putin said that Syria mattered.",
     "Why did Putin go into Syria?"),
    ("How the Council Saved Its Library", "A vote of the council. The council saved the library.",
     "How did the council save its library?"),
    ("Why Russia Is Bombing Syria", "He said Russia and Syria agreed.", "Why is Russia bombing Syria?"),
    ("What Voters Wanted in Ohio", "She said voters in Ohio.", "What did voters want in Ohio?"),
    ("Is NATO Ready?", "", "Is NATO Ready?"),  # never written in the article: kept as the headline has it
    ("Is NATO Ready?", "Allies asked if NATO was ready.", "Is NATO ready?"),
    ("Why Oil Prices Matter", "", ""),  # present tense: not rewritten with confidence, so left out
    ("What Officials Visited", "", ""),  # "visited": visit or visite? left out
    ("Putin Now Needs a Plan B on Iran", "", ""),  # not a question
])
def test_headlines_become_grammatical_questions_or_nothing(title: str, text: str, question: str) -> None:
    assert headline_question(title, text) == question


def test_examples_come_from_headlines_and_leads() -> None:
    texts = {
        "a.md": "On Monday, Mayor Alice Moreno said the Larkspur Falls council would meet. Alice Moreno spoke.",
        "b.md": "Harbour traffic resumed after repairs, port chief Tomas Varga said on Friday.",
    }
    docs = [_doc("a.md", "How the council saved its library: a town divided"), _doc("b.md", "Port reopens")]
    qs = example_questions(docs, texts.get)
    assert qs[0] == "How did the council save its library?"
    assert "What do the articles say about Alice Moreno?" in qs
    assert "What do the articles say about Tomas Varga?" in qs
    assert len(qs) == len(set(qs)) == 3
    assert example_questions([], texts.get) == []
    assert example_questions(docs[1:], lambda d: "") == []  # nothing to go on: no made-up example
    assert example_questions([_doc("c.md", "Why Prices Matter")], texts.get) == []  # no ungrammatical headline
    union = {"u.md": "Leaders of the Soviet Union met. The Soviet Union later fell apart, Mikhail Gorbachev said."}
    asked = example_questions([_doc("u.md", "Summit")], union.get)
    assert asked[0] == "What do the articles say about the Soviet Union?"


def test_upload_report_in_words() -> None:
    docs = {"uploads/c.md": _doc("uploads/c.md", "Council Approves Budget", chunks=12)}
    reason = with_detail(DAMAGED_PDF, "corrupt PDF: EOF marker not found")
    html = report_html(IngestReport(added=["uploads/c.md"]), [("report.pdf", reason)], docs)
    assert "✔ Added 1 article: Council Approves Budget (12 passages)." in html
    assert '<div class="rag-fail"><p>✖ Skipped 1:</p>' in html
    assert "<b>report.pdf</b>: the file is damaged or not a complete PDF." in html
    # the library's wording is kept, folded away
    assert '<summary>Technical detail</summary><code>corrupt PDF: EOF marker not found</code>' in html
    only_bad = report_html(IngestReport(), [("x.pdf", "damaged")], {})
    assert "✔" not in only_bad and "✖ Skipped 1" in only_bad
    assert report_html(None, [], {}) == ""


def test_restored_turns_are_checked_and_renumbered() -> None:
    pipe = FakePipeline(token_delay_s=0)
    pipe.warm_up()
    good = finish_turn(7, "Why did Putin enter Syria?", pipe.answer("Why did Putin enter Syria?"), pipe)
    assert all("text" not in p for p in good["passages"])  # passage text stays out of the browser's storage
    saved = ["junk", {"n": 1, "question": 3}, good, {**good, "citations": [{"n": "x"}]}]
    turns = restore_turns(saved)
    assert [t["n"] for t in turns] == [1, 2]
    assert turns[0]["citations"] == good["citations"] and turns[1]["citations"] == []
    assert 'id="src-1-1"' in sources_panel(turns)
    assert restore_turns(None) == [] and restore_turns({"turns": []}) == []


def test_copy_markdown_lists_each_quote_with_its_source() -> None:
    turn = {"answer": "Putin wanted out of isolation. [1]", "citations": [
        {"n": 1, "doc": "t.md", "title": "Why Putin Went Into Syria", "outlet": "TIME", "published": "2015-10-14",
         "published_approx": True, "quote": "Putin was trying to end\nRussia's isolation."}]}
    assert answer_markdown(turn) == ("Putin wanted out of isolation. [1]\n\n"
                                     "[1] *Why Putin Went Into Syria*, TIME, about Oct 2015\n"
                                     "> Putin was trying to end Russia's isolation.\n")


def test_sessions_are_bounded_but_keep_busy_ones() -> None:
    sessions = Sessions(limit=2)
    a = sessions.get("a")
    a.waiting.append("still to answer")
    sessions.get("b")
    sessions.get("c")
    assert sessions.get("a") is a and len(sessions) <= 3
    assert sessions.get("a").waiting[0] == "still to answer"


def test_a_failed_reupload_gives_back_the_earlier_file(tmp_path: Path) -> None:
    up = tmp_path / "uploads"
    first, second = tmp_path / "a" / "note.md", tmp_path / "b" / "note.md"
    for p, text in ((first, "The good version."), (second, "%broken")):
        p.parent.mkdir()
        p.write_text(text)
    store_uploads([first], up, 1).commit()
    intake = store_uploads([second], up, 1)
    assert (up / "note.md").read_text() == "%broken" and intake.backups
    assert intake.discard(up / "note.md") is True
    assert (up / "note.md").read_text() == "The good version."
    assert sorted(p.name for p in up.iterdir()) == ["note.md"]  # no backup left behind
