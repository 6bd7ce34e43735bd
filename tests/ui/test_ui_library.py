"""The page's plain functions: library summary and examples, upload report, restored turns, sessions, copy."""

from __future__ import annotations

from pathlib import Path

from fake_pipeline import FakePipeline

from rag.schema import DocumentInfo, IngestReport
from ui.chat import finish_turn, restore_turns
from ui.library import example_questions, library_summary, report_html
from ui.render import answer_markdown, sources_panel
from ui.session import Sessions
from ui.uploads import store_uploads


def _doc(doc: str, title: str, outlet: str = "", published: str = "", chunks: int = 3, approx: bool = False
         ) -> DocumentInfo:
    return DocumentInfo(doc, title, outlet, published, chunks, approx)


def test_library_summary_names_outlets_and_months() -> None:
    assert "empty" in library_summary([])
    two = [_doc("a.md", "A", "TIME", "2015-10-14", approx=True), _doc("b.md", "B", "The Moscow Times", "2020-01-06")]
    assert library_summary(two) == "2 articles: TIME, Oct 2015 · The Moscow Times, Jan 2020"
    many = [_doc(f"{i}.md", f"T{i}", f"Outlet {i % 2}", f"20{10 + i}-0{1 + i}-01") for i in range(5)]
    assert library_summary(many) == "5 articles from 2 outlets, Jan 2010 – May 2014"


def test_examples_come_from_headlines_and_leads() -> None:
    texts = {
        "a.md": "On Monday, Mayor Alice Moreno said the Larkspur Falls council would meet. Alice Moreno spoke.",
        "b.md": "Harbour traffic resumed after repairs, port chief Tomas Varga said on Friday.",
    }
    docs = [_doc("a.md", "How the council saved its library: a town divided"), _doc("b.md", "Port reopens")]
    qs = example_questions(docs, texts.get)
    assert qs[0] == "How the council saved its library?"
    assert "What do the articles say about Alice Moreno?" in qs
    assert "What do the articles say about Tomas Varga?" in qs
    assert len(qs) == len(set(qs)) == 3
    assert example_questions([], texts.get) == []
    assert example_questions(docs[1:], lambda d: "") == []  # nothing to go on: no made-up example


def test_upload_report_in_words() -> None:
    docs = {"uploads/c.md": _doc("uploads/c.md", "Council Approves Budget", chunks=12)}
    html = report_html(IngestReport(added=["uploads/c.md"]), [("report.pdf", "corrupt PDF: EOF marker not found")],
                       docs)
    assert "✔ Added 1 article: Council Approves Budget (12 passages)." in html
    assert '<div class="rag-fail"><p>✖ Skipped 1:</p>' in html and "<b>report.pdf</b>: corrupt PDF" in html
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
    assert answer_markdown(turn) == ("Putin wanted out of isolation. [1]\n\n[1] “Putin was trying to end Russia's "
                                     "isolation.” — *Why Putin Went Into Syria*, TIME, Oct 2015 (approx.)\n")


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
