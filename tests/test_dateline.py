"""Datelines and bylines at the top of a plain-text article give outlet, date and author; body sentences never do."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from rag.ingest.dateline import TextMeta, read_text_meta
from rag.ingest.loaders import load_file

BODY = ("The county council voted 7-2 on Monday night to close the Elm Street library branch, ending a "
        "two-year fight over its budget.\n\nResidents said they would appeal the decision.\n")


def meta(top: str, title: str = "") -> TextMeta:
    return read_text_meta(top + "\n\n" + BODY, title)


# ------------------------------------------------------------------ outlet + date lines


@pytest.mark.parametrize(
    ("top", "outlet", "published"),
    [
        ("The Millbrook Gazette, March 4, 2024", "The Millbrook Gazette", "2024-03-04"),
        ("The Baltimore Sun | Monday, March 4, 2024", "The Baltimore Sun", "2024-03-04"),
        ("Riverside Daily News — 4 March 2024", "Riverside Daily News", "2024-03-04"),
        ("March 4, 2024 · The Harbor Herald", "The Harbor Herald", "2024-03-04"),
        ("Sept. 30, 2015 | Kansas City Star", "Kansas City Star", "2015-09-30"),
    ],
)
def test_outlet_and_date_line(top: str, outlet: str, published: str) -> None:
    m = meta("Council Closes Library\n" + top, title="Council Closes Library")
    assert (m.outlet, m.published) == (outlet, published)
    assert m.found == ("outlet", "published")


@pytest.mark.parametrize(
    ("top", "published"),
    [
        ("Published: 4 March 2024", "2024-03-04"),
        ("March 4, 2024", "2024-03-04"),
        ("Mar. 4, 2024 10:32 a.m. ET", "2024-03-04"),
        ("2024-03-04", "2024-03-04"),
        ("Posted on 2024-03-04T10:32:00Z", "2024-03-04"),
        ("Friday 1st November 2019", "2019-11-01"),
        ("Published 4:30 PM EST, Tue March 5, 2024", "2024-03-05"),
        ("13/04/2024", "2024-04-13"),
        ("04.04.2024", "2024-04-04"),  # day and month equal: nothing to confuse
        ("Updated March 5, 2024", "2024-03-05"),  # only an update date: better than none
    ],
)
def test_date_lines(top: str, published: str) -> None:
    m = meta(top)
    assert m.published == published
    assert m.outlet == "" and m.author == ""
    assert m.found == ("published",)


@pytest.mark.parametrize(
    "top",
    ["Published March 4, 2024 | Updated March 5, 2024",
     "Updated March 5, 2024; published March 4, 2024",
     "Last updated: March 5, 2024 2:15 p.m.\nFirst published: March 4, 2024"],
)
def test_published_date_wins_over_updated(top: str) -> None:
    assert meta(top).published == "2024-03-04"


def test_city_dateline_is_not_an_outlet() -> None:
    m = meta("WASHINGTON, March 4, 2024")
    assert (m.outlet, m.published) == ("", "2024-03-04")


# ------------------------------------------------------------------ bylines


@pytest.mark.parametrize(
    ("top", "author", "outlet"),
    [
        ("By Jane Doe", "Jane Doe", ""),
        ("By Jane Doe and John Roe", "Jane Doe and John Roe", ""),
        ("By JANE DOE, Associated Press", "Jane Doe", "Associated Press"),
        ("By Jane Doe | The Gazette", "Jane Doe", "The Gazette"),
        ("BY MARÍA LÓPEZ AND SEAN O'NEIL", "María López and Sean O'Neil", ""),
        ("By Jane Doe, Staff Writer", "Jane Doe", ""),
        ("By Ana de la Cruz, John Roe & Lee Kim", "Ana de la Cruz, John Roe and Lee Kim", ""),
        ("By: Priya N. Raman, Special to The Oregon Journal", "Priya N. Raman", "The Oregon Journal"),
        ("**By** [Jane Doe](https://example.com/staff/jdoe)", "Jane Doe", ""),
        ("By MASSIMO CALABRESI/WASHINGTON", "Massimo Calabresi", ""),
        ("By Reuters", "", "Reuters"),
        ("By The Associated Press", "", "Associated Press"),
    ],
)
def test_bylines(top: str, author: str, outlet: str) -> None:
    m = meta("Council Closes Library\n" + top, title="Council Closes Library")
    assert (m.author, m.outlet) == (author, outlet)


def test_byline_with_date() -> None:
    m = meta("Posted by Jane Doe on March 4, 2024 at 9:00 a.m.")
    assert (m.author, m.published, m.found) == ("Jane Doe", "2024-03-04", ("published", "author"))


@pytest.mark.parametrize("top", ["By the numbers: what the budget cuts mean", "By Friday, the council must decide.",
                                 "By Monday Night the plan was dead"])
def test_by_phrases_are_not_bylines(top: str) -> None:
    assert meta(top) == TextMeta()


# ------------------------------------------------------------------ wire datelines


@pytest.mark.parametrize(
    ("first", "outlet", "published"),
    [
        ("WASHINGTON (AP) -- The Senate voted 51-49 on Tuesday to pass the spending bill after a long night.",
         "Associated Press", ""),
        ("WASHINGTON (AP) — The Senate voted on Tuesday to approve a sweeping budget bill.", "Associated Press", ""),
        ("LONDON (Reuters) - British inflation fell more than expected last month, official data showed on "
         "Wednesday.", "Reuters", ""),
        ("LONDON, March 4 (Reuters) - British inflation fell more than expected, data showed.", "Reuters", ""),
        ("PARIS, March 4, 2024 (AFP) - French farmers blocked roads around the capital on Monday.",
         "Agence France-Presse", "2024-03-04"),
        ("KYIV, Ukraine (AP) — Russian drones struck the capital overnight, officials said.", "Associated Press", ""),
        ("NEW YORK (UPI) -- Stocks closed higher on Friday as investors cheered the jobs report.",
         "United Press International", ""),
    ],
)
def test_wire_datelines(first: str, outlet: str, published: str) -> None:
    m = read_text_meta("Senate Passes Budget\n\n" + first + "\n\nMore body text follows here.", "Senate Passes Budget")
    assert (m.outlet, m.published, m.author) == (outlet, published, "")


def test_wire_dateline_alone_on_its_line_and_byline_outlet_ranks_below_masthead() -> None:
    assert read_text_meta("WASHINGTON (AP) --\n" + BODY).outlet == "Associated Press"
    m = meta("The Millbrook Gazette, March 4, 2024\nBy Jane Doe, Associated Press\nWASHINGTON (AP) —")
    assert (m.outlet, m.author, m.published) == ("The Millbrook Gazette", "Jane Doe", "2024-03-04")


def test_parentheses_in_a_sentence_are_not_a_wire_dateline() -> None:
    text = "The senator said the plan (HB 12) - which failed last year - would pass this time, aides confirmed."
    assert read_text_meta(text) == TextMeta()


# ------------------------------------------------------------------ what must not be taken


def test_ambiguous_numeric_date_is_not_guessed(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="rag.ingest.dateline"):
        m = meta("The Millbrook Gazette, 03/04/2024")
    assert (m.outlet, m.published, m.found) == ("The Millbrook Gazette", "", ("outlet",))
    assert "03/04/2024" in caplog.text and "day/month or month/day" in caplog.text


def test_ambiguous_date_defers_to_a_clear_one(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="rag.ingest.dateline"):
        m = meta("Filed 03/04/2024\nPublished March 4, 2024")
    assert m.published == "2024-03-04"
    assert caplog.text == ""


def test_impossible_date_is_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="rag.ingest.dateline"):
        assert meta("February 30, 2024").published == ""
    assert "February 30, 2024" in caplog.text


@pytest.mark.parametrize(
    "text",
    [
        "Council Votes\n\nOn March 4, 2024, the council voted to close the library branch on Elm Street.",
        "On March 4, 2024, the council voted.\n\nIt was close.",
        "Jane Doe, 42, of Millbrook, was arrested on March 4, 2024.",
        "The hearing is set for 2024-03-04 in county court.",
        "Officials said on Tuesday that the 03/04/2024 deadline would stand, despite protests from residents.",
        "Budget Talks Stall\n\nLawmakers met for hours on Monday without a deal. Talks resume later this week, "
        "aides said, and a vote could slip again.\n\nA second paragraph of ordinary prose follows here, long enough "
        "to be prose.\n\nThe Millbrook Gazette, March 4, 2024",  # a dateline after the body has started
    ],
)
def test_dates_in_body_sentences_are_not_datelines(text: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="rag.ingest.dateline"):
        assert read_text_meta(text, "Council Votes") == TextMeta()
    assert caplog.text == ""


def test_headline_with_a_date_is_skipped_when_it_is_the_title() -> None:
    title = "March 4, 2024: A Day the Town Will Remember"
    assert read_text_meta(title + "\n\n" + BODY, title) == TextMeta()


# ------------------------------------------------------------------ through the loaders


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_txt_file_gets_metadata_from_its_dateline_and_byline(tmp_path: Path) -> None:
    raw = ("Council Closes Library\nThe Millbrook Gazette, March 4, 2024\nBy Jane Doe\n\n"
           "The county council voted 7-2 on Monday night to close the Elm Street library branch.\n\n"
           "Residents said they would appeal.\n")
    doc = load_file(write(tmp_path / "library.txt", raw))
    assert (doc.title, doc.outlet, doc.published, doc.author) == (
        "Council Closes Library", "The Millbrook Gazette", "2024-03-04", "Jane Doe")
    assert doc.meta["read_from_text"] == ["outlet", "published", "author"]
    assert "Residents said they would appeal." in doc.text


def test_txt_wire_story(tmp_path: Path) -> None:
    raw = ("Senate Passes Budget\n\nBy Lisa Mascaro and Kevin Freking\nUpdated 10:14 PM EDT, March 5, 2024\n\n"
           "WASHINGTON (AP) — The Senate passed the budget late Tuesday, sending it to the president.\n")
    doc = load_file(write(tmp_path / "wire.txt", raw))
    assert (doc.outlet, doc.published, doc.author) == (
        "Associated Press", "2024-03-05", "Lisa Mascaro and Kevin Freking")
    assert doc.text.endswith("sending it to the president.")  # the body is not rewritten


def test_txt_without_dateline_has_no_read_from_text(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path / "plain.txt", "Council Closes Library\n\n" + BODY))
    assert (doc.outlet, doc.published, doc.author) == ("", "", "")
    assert "read_from_text" not in doc.meta


def test_md_front_matter_outlet_is_kept_and_only_missing_fields_are_read(tmp_path: Path) -> None:
    md = ("---\ntitle: Council Closes Library\noutlet: Millbrook Weekly\n---\n\n"
          "The Millbrook Gazette, March 4, 2024\nBy Jane Doe\n\n" + BODY)
    doc = load_file(write(tmp_path / "a.md", md))
    assert (doc.outlet, doc.published, doc.author) == ("Millbrook Weekly", "2024-03-04", "Jane Doe")
    assert doc.meta["read_from_text"] == ["published", "author"]
    assert doc.text.startswith("The Millbrook Gazette, March 4, 2024\nBy Jane Doe")


def test_md_front_matter_with_all_fields_is_unchanged(tmp_path: Path) -> None:
    md = ("---\noutlet: TIME\nauthor: \"\"\npublished: 2015-10-14\n---\n\n"
          "By Jane Doe | The Gazette\nMarch 4, 2024\n\n" + BODY)
    doc = load_file(write(tmp_path / "b.md", md))
    assert (doc.outlet, doc.published, doc.author) == ("TIME", "2015-10-14", "")  # an explicit "" author stands
    assert "read_from_text" not in doc.meta


def test_md_without_front_matter_reads_markdown_byline(tmp_path: Path) -> None:
    md = "# Council Closes Library\n\n*By Jane Doe | The Gazette*  \n_Published March 4, 2024_\n\n" + BODY
    doc = load_file(write(tmp_path / "c.md", md))
    assert (doc.title, doc.outlet, doc.published, doc.author) == (
        "Council Closes Library", "The Gazette", "2024-03-04", "Jane Doe")
