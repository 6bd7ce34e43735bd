"""Answers that know when: the time words of a question, the date filter, and dated answer sentences (with the
fake embedder and a reader that copies the sentence holding a key)."""

import pytest
from test_answer import CopyingReader

from rag.answer.when import (AS_OF, LATEST, TIMELINE, dated_prefix, intersect, story_docs, time_focus,
                             with_prefix)
from rag.dates import date_range, parse_bound, prose_date
from rag.errors import DateRangeError
from rag.pipeline import Pipeline
from rag.schema import Chunk, DateRange, Document, Passage
from rag.settings import Settings


@pytest.mark.parametrize("question, kind, since, until, query", [
    ("How many workers are on strike at Brannock now?", LATEST, "", "", "How many workers are on strike at Brannock?"),
    ("Is the Brannock strike still on?", LATEST, "", "", "Is the Brannock strike on?"),
    ("What is the current level of the reservoir?", LATEST, "", "", "What is the level of the reservoir?"),
    ("How many were on strike in March 2026?", AS_OF, "2026-03-01", "2026-03-31", "How many were on strike?"),
    ("As of April 2026, how many cases were there?", AS_OF, "", "2026-04-30", "How many cases were there?"),
    ("How many cases before May 2026?", AS_OF, "", "2026-04-30", "How many cases?"),
    ("What was said in early October 2015?", AS_OF, "2015-10-01", "2015-10-10", "What was said?"),
    ("What was the level in late 2025?", AS_OF, "2025-09-01", "2025-12-31", "What was the level?"),
    ("What did Obama say on October 5, 2015?", AS_OF, "2015-10-05", "2015-10-05", "What did Obama say?"),
    ("What happened last year?", AS_OF, "2025-01-01", "2025-12-31", "What happened?"),  # newest article: 2026
    ("How has the number of strikers changed?", TIMELINE, "", "", "How has the number of strikers changed?"),
    ("Give me the timeline of the Lorne outbreak.", TIMELINE, "", "", "Give me the timeline of the Lorne outbreak."),
    ("Who is the president?", "", "", "", "Who is the president?"),
    ("How did 2,000 workers vote?", "", "", "", "How did 2,000 workers vote?"),  # a number, not a year
])
def test_time_focus(question, kind, since, until, query):
    f = time_focus(question, newest="2026-07-08")
    assert (f.kind, f.dates.since, f.dates.until, f.query) == (kind, since, until, query)


def test_two_times_in_one_question_read_both():
    f = time_focus("What was the plan in 2015, and what is it in 2020?")
    assert f.kind == "" and (f.dates.since, f.dates.until) == ("2015-01-01", "2020-12-31")


def test_timeline_subject():
    assert time_focus("How has the number of strikers at Brannock changed?").subject == \
        "the number of strikers at Brannock"
    assert time_focus("Give me the timeline of the Lorne outbreak.").subject == "the Lorne outbreak"


def test_date_bounds_and_ranges():
    assert parse_bound("2026") == "2026-01-01" and parse_bound("2026", end=True) == "2026-12-31"
    assert parse_bound("Feb 2024", end=True) == "2024-02-29"
    assert parse_bound("March 5, 2026") == parse_bound("5 March 2026") == "2026-03-05"
    with pytest.raises(DateRangeError, match="not a date"):
        parse_bound("yesterday")
    with pytest.raises(DateRangeError, match="before it starts"):
        date_range("2026-05", "2026-03")
    r = date_range("2026-03", "")
    assert r.contains("2026-03-01") and not r.contains("2026-02-28") and not r.contains("")
    assert not DateRange() and DateRange().contains("")
    # an estimated date stands for its month
    assert DateRange("2015-10-01", "2015-10-10").contains("2015-10-14", approx=True)
    assert not DateRange("2015-10-01", "2015-10-10").contains("2015-10-14")
    assert intersect(DateRange("2026-03-01", "2026-03-31"), DateRange("", "2026-03-15")) == \
        DateRange("2026-03-01", "2026-03-15")
    assert not intersect(DateRange("2026-03-01", "2026-03-31"), DateRange("2026-04-01", "")).contains("2026-03-20")


def test_dated_sentences():
    assert prose_date("2026-05-14", False) == "14 May 2026"
    assert prose_date("2015-10-14", True) == "about October 2015"
    assert prose_date("", False) == "" and dated_prefix("", False) == ""
    text = "Officials said about 1,200 workers were out. The union leader Brannock spoke."
    assert with_prefix(dated_prefix("2026-05-14", False), "About 1,200 workers were out.", text) == \
        "As of 14 May 2026, about 1,200 workers were out."
    assert with_prefix(dated_prefix("2026-05-14", False, "Harbor Courier"), "Brannock spoke.", text) == \
        "As of 14 May 2026, according to Harbor Courier, Brannock spoke."  # a name keeps its capital
    # a common word the article never writes in lower case: another article of the library does
    assert with_prefix("As of X, ", "Many experts agree.", ["Many experts agree.", "Not many do."]) == \
        "As of X, many experts agree."
    assert with_prefix("As of X, ", "Odile Brennagh leads.", ["Odile Brennagh leads.", "The challenger Odile Brennagh"
                                                              " won."]) == "As of X, Odile Brennagh leads."


def _passage(doc: str, dense: float) -> Passage:
    return Passage(Chunk(f"{doc}#0", doc, "x", 0, 1), doc, "", "", 0.1, dense=dense)


def test_story_docs_by_the_names_the_question_shares():
    docs = {"a": Document("a", "Brannock strike grows", "Brannock workers walked out."),
            "b": Document("b", "Reservoir low", "The reservoir is at 30 percent."),
            "c": Document("c", "Brannock deal", "The Brannock strike ended.")}
    ps = [_passage("a", 0.8), _passage("b", 0.7), _passage("c", 0.5)]
    assert story_docs("Give me the timeline of the Brannock strike.", ps, docs) == ["a", "c"]  # "Give": no name
    assert story_docs("how low is the reservoir?", ps, docs) == ["a", "b"]  # no name: as close as the best


# ---------------------------------------------------------------------------- answers through the pipeline
STORY = {
    "march.md": ("2026-03-10", "Harbor Courier", "About 400 workers were on strike at Brannock Yard on Monday. "
                 "The union wants a pay rise."),
    "may.md": ("2026-05-14", "Harbor Courier", "About 1,200 workers were on strike at Brannock Yard on Tuesday. "
               "The strike has spread to the night shift."),
    "may2.md": ("2026-05-12", "Valley Ledger", "Only 900 workers were on strike at Brannock Yard, the company "
                "said. Managers expect the dispute to last."),
    "other.md": ("2026-06-01", "Valley Ledger", "The city opened a new library branch with 12,000 books."),
}


def dated_pipeline(tmp_path, hash_embedder, keys=("workers were on strike",)) -> Pipeline:
    data = tmp_path / "data"
    data.mkdir()
    for name, (day, outlet, body) in STORY.items():
        (data / name).write_text(f"---\ntitle: {name}\noutlet: {outlet}\npublished: '{day}'\n---\n{body}\n")
    gen = CopyingReader(keys=keys)
    return Pipeline(Settings(data_dir=data, index_dir=tmp_path / "index", chunk_words=40), embedder=hash_embedder,
                    generator=gen)


def test_now_reads_the_newest_reports_and_says_both_when_they_differ(tmp_path, hash_embedder):
    p = dated_pipeline(tmp_path, hash_embedder)
    a = p.answer("How many workers are on strike at Brannock Yard now?")
    assert not a.refused
    docs = [c.doc for c in a.citations]
    assert "march.md" not in docs and set(docs) == {"may.md", "may2.md"}  # the moment's two reports, not March's
    assert "1,200" in a.answer and "900" in a.answer
    assert "As of 14 May 2026, according to Harbor Courier" in a.answer
    assert "As of 12 May 2026, according to Valley Ledger" in a.answer
    assert "on Tuesday" not in a.answer  # the date says when


def test_a_date_in_the_question_reads_the_reports_of_that_time(tmp_path, hash_embedder):
    p = dated_pipeline(tmp_path, hash_embedder)
    a = p.answer("How many workers were on strike at Brannock Yard in March 2026?")
    assert [c.doc for c in a.citations] == ["march.md"]
    assert a.answer.startswith("As of 10 March 2026, about 400 workers")
    late = p.answer("How many workers were on strike at Brannock Yard in September 2026?")
    assert late.refused and not late.citations  # nothing of that time: the articles don't say


def test_a_timeline_gives_one_dated_sentence_per_report_oldest_first(tmp_path, hash_embedder):
    p = dated_pipeline(tmp_path, hash_embedder)
    a = p.answer("How has the number of workers on strike at Brannock Yard changed?")
    assert [c.doc for c in a.citations] == ["march.md", "may2.md", "may.md"]
    assert a.answer.index("10 March 2026") < a.answer.index("12 May 2026") < a.answer.index("14 May 2026")
    assert "library" not in a.answer


def test_the_date_filter_narrows_search_and_answers(tmp_path, hash_embedder):
    p = dated_pipeline(tmp_path, hash_embedder)
    march = DateRange("2026-03-01", "2026-03-31")
    assert {x.chunk.doc for x in p.search("workers on strike at Brannock Yard", dates=march)} == {"march.md"}
    assert p.search("workers on strike", dates=DateRange("2027-01-01", "")) == []
    a = p.answer("How many workers were on strike at Brannock Yard?", dates=march)
    assert {c.doc for c in a.citations} <= {"march.md"}


def test_cli_since_until(tmp_path, monkeypatch, hash_embedder):
    import json

    from click.testing import CliRunner

    from rag import pipeline as pipeline_mod
    from rag.cli import cli

    p = dated_pipeline(tmp_path, hash_embedder)
    monkeypatch.setenv("RAG_DATA_DIR", str(p.settings.data_dir))
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setattr(pipeline_mod, "make_embedder", lambda settings: hash_embedder)
    monkeypatch.setattr("rag.generate.base.make_generator", lambda settings: p.generator)

    def run(*args):
        return CliRunner().invoke(cli, list(args), obj={}, catch_exceptions=False)

    r = run("search", "workers on strike at Brannock Yard", "--since", "May 2026", "--until", "2026-05-13", "--json")
    assert r.exit_code == 0, r.output
    assert {x["doc"] for x in json.loads(r.output)} == {"may2.md"}
    r = run("ask", "How many workers were on strike at Brannock Yard?", "--until", "2026-03", "--json")
    assert r.exit_code == 0, r.output
    assert {c["doc"] for c in json.loads(r.output)["citations"]} <= {"march.md"}
    r = run("ask", "How many workers?", "--since", "someday")
    assert r.exit_code != 0 and "'someday' is not a date" in r.output


def test_a_time_without_reports_of_its_own_reads_the_reports_of_the_month_after(tmp_path, hash_embedder):
    p = dated_pipeline(tmp_path, hash_embedder)
    a = p.answer("How many workers were on strike at Brannock Yard in April 2026?")  # reported in May
    assert not a.refused and {c.doc for c in a.citations} <= {"may.md", "may2.md"}
    # news of January would be out by early March: the 10 March report is not read for it
    assert p.answer("How many workers were on strike at Brannock Yard in January 2026?").refused


def test_a_year_in_the_question_keeps_undated_articles(tmp_path, hash_embedder):
    """Undated passages (an encyclopedia, a web page without a date) can't be placed in time: a question that names
    a year still reads them; only the user's own date filter leaves them out."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "miss.md").write_text("---\ntitle: Pageant\n---\nAditi Arya won the Femina Miss India World 2015 title.\n")
    p = Pipeline(Settings(data_dir=data, index_dir=tmp_path / "index", chunk_words=40), embedder=hash_embedder,
                 generator=CopyingReader(keys=("won",)))
    a = p.answer("Who won the Femina Miss India World in 2015?")
    assert not a.refused and [c.doc for c in a.citations] == ["miss.md"] and "As of" not in a.answer
    assert p.search("Femina Miss India World", dates=DateRange("2015-01-01", "2015-12-31")) == []
    assert intersect(DateRange("2015-01-01", "", undated=True), DateRange("", "2015-12-31")).undated is False
