"""Cleaning must drop site furniture and keep every body sentence verbatim."""

from __future__ import annotations

from pathlib import Path

import pysbd
import pytest
import yaml

from rag.ingest.clean import clean_article, main, rejoin_wrapped_lines

ROOT = Path(__file__).resolve().parent.parent
RAW = ROOT / "tests" / "fixtures" / "raw"
TIME = "000_27674378f27b9ee8"
MT = "002_61ef342f1d10be73"

EXPECTED_REMOVED = {
    TIME: {"reporting credit", "site trailer"},
    MT: {"headline", "dek", "photo caption", "related-article link", "bare URLs", "syndication note"},
}
EVIDENCE = {
    TIME: [
        "They obliged with a quick and unanimous vote in favor, and air strikes began a few hours later.",
        "Closing the hall to reporters, Sergei Ivanov asked the lawmakers to allow Russian warplanes to start "
        "bombing Syria.",
        "“That was our Plan A,” says Leonid Kalashnikov, first deputy chairman of the foreign-affairs committee in "
        "Russia’s lower house of parliament, the State Duma.",
        "During a speech in Moscow the following day, he even proposed sending Prime Minister Dmitri Medvedev to "
        "Washington at the head of a delegation to coordinate efforts in Syria.",
        "But that is a price Putin seems willing to pay for the sake of regaining his seat at the table with Western "
        "leaders.",
    ],
    MT: [
        "Iranian General Qassem Soleimani, killed last week by a U.S. drone in Baghdad, has been credited with "
        "persuading Russian President Vladimir Putin to intervene militarily in Syria in 2015, a claim the Kremlin "
        "denies.",
        "Putin won’t back any Iranian attempts at retaliation.",
        "On Wednesday, Putin will visit Ankara to meet with President Recep Tayyip Erdogan.",
        "The Syrian ruler, ironically, must be praying fervently that the Iranians do nothing rash.",
        "That meant maintaining the status quo — and from Moscow, the Axis of Resistance, not just the Assad regime, "
        "was the status quo.",
    ],
}


def norm(s: str) -> str:
    return " ".join(s.split())


def raw_text(name: str) -> str:
    return (RAW / f"{name}.txt").read_text(encoding="utf-8")


def covered(sentence: str, pools: list[str]) -> bool:
    """The sentence splits into consecutive pieces, each verbatim in one pool (body or one removed block).

    pysbd often glues a removed block to the next body sentence ("Kremlin.ru Iranian General ..."),
    so a sentence may straddle the edge between a removed block and the body.
    """
    words = sentence.split()
    i = 0
    while i < len(words):
        j = len(words)
        while j > i and not any(" ".join(words[i:j]) in p for p in pools):
            j -= 1
        if j == i:
            return False
        i = j
    return True


@pytest.mark.parametrize("name", [TIME, MT])
def test_every_body_sentence_is_kept(name: str) -> None:
    raw = raw_text(name)
    res = clean_article(raw)
    body = norm(res.text)
    removed = [norm(t) for _, t in res.removed]
    sentences = [norm(s) for s in pysbd.Segmenter(language="en", clean=False).segment(norm(raw)) if s.strip()]
    assert len(sentences) > 30
    lost = [s for s in sentences if s not in body and not covered(s, [body, *removed])]
    assert lost == []
    # stronger, line level: every raw line is in the body or inside one removed block
    for line in raw.splitlines():
        if line.strip():
            assert norm(line) in body or any(norm(line) in r for r in removed), line


@pytest.mark.parametrize("name", [TIME, MT])
def test_only_expected_kinds_removed_and_evidence_kept(name: str) -> None:
    res = clean_article(raw_text(name))
    assert {reason for reason, _ in res.removed} == EXPECTED_REMOVED[name]
    body = norm(res.text)
    for sentence in EVIDENCE[name]:
        assert sentence in body
        assert not any(sentence in norm(t) for _, t in res.removed)


def test_time_trailer_and_credit_go_paragraphs_stay() -> None:
    raw = raw_text(TIME)
    res = clean_article(raw)
    for junk in ("More Must-Reads", "Caitlin Clark", "Contact us", "letters@time.com", "With reporting by"):
        assert junk not in res.text
    assert res.title == "" and res.dek == ""
    assert res.contributors == ["MASSIMO CALABRESI/WASHINGTON"]
    # one paragraph per line in the source: each body line is exactly one paragraph
    body_lines = raw.splitlines()[:20]
    assert res.text.split("\n\n") == body_lines
    assert "\n\n\n" not in res.text and res.text == res.text.strip()


def test_moscow_times_header_urls_links_and_syndication() -> None:
    res = clean_article(raw_text(MT))
    assert res.title == "Putin Now Needs a Plan B on Iran"
    assert res.dek == "Qassem Soleimani’s death may force a change in the Russian calculus involving Syria, Iran and Turkey."
    assert res.syndicated_from == "Bloomberg"
    for junk in ("http", "Kremlin.ru", "Related article", "first published by", "Putin Now Needs"):
        assert junk not in res.text
    reasons = [r for r, _ in res.removed]
    assert reasons.count("related-article link") == 2
    urls = [t for r, t in res.removed if r == "bare URLs"]
    assert len(urls) == 1 and len(urls[0].splitlines()) == 8
    caption = dict((r, t) for r, t in res.removed)["photo caption"]
    assert caption.endswith("situation gets out of hand. Kremlin.ru")


def test_moscow_times_wrapped_lines_rejoined() -> None:
    res = clean_article(raw_text(MT))
    paras = res.text.split("\n\n")
    assert len(paras) == 12
    assert all("\n" not in p and p == p.strip() and "  " not in p for p in paras)
    assert "including the U.S.-backed Syrian Democratic Forces" in res.text
    assert "praised his “indisputable contribution” to defeating" in res.text
    assert "which includes the Hezbollah militia in Lebanon and other" in res.text  # stray leading space gone
    assert paras[0].startswith("Iranian General Qassem Soleimani")
    assert paras[-1].endswith("the Iranians do nothing rash.")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (TIME, {"title": "Why Putin Went Into Syria: Russia's Bid to End Its Isolation From the West",
                "title_source": "editor", "outlet": "TIME", "published": "2015-10-14"}),
        (MT, {"title": "Putin Now Needs a Plan B on Iran", "syndicated_from": "Bloomberg", "published": "2020-01-06"}),
    ],
)
def test_bundled_data_is_reproducible(name: str, expected: dict) -> None:
    md = (ROOT / "data" / f"{name}.md").read_text(encoding="utf-8")
    assert md.startswith("---\n")
    front, body = md[4:].split("\n---\n", 1)
    meta = yaml.safe_load(front)
    assert body.strip() == clean_article(raw_text(name)).text
    assert {k: str(meta[k]) for k in expected} == expected
    assert meta["published_approx"] is True and meta["published_note"]
    assert meta["source_file"] == f"{name}.txt"
    assert not meta.get("author")
    assert meta["outlet"]


def test_main_prints_cleaned_body(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(RAW / f"{MT}.txt")]) == 0
    assert capsys.readouterr().out == clean_article(raw_text(MT)).text + "\n"


# ------------------------------------------------------------------ generic rules on small texts


def test_rejoin_wrapped_lines() -> None:
    text = "  First line of a\nwrapped paragraph, U.S.-\nbacked and a dash —\nspaced.  \n\n\n\nSecond para\n"
    assert rejoin_wrapped_lines(text) == (
        "First line of a wrapped paragraph, U.S.-backed and a dash — spaced.\n\nSecond para"
    )


def test_rejoin_keeps_one_paragraph_per_line_text() -> None:
    paras = [f"Paragraph number {i} is a complete paragraph that ends with a full stop." for i in range(4)]
    assert rejoin_wrapped_lines("\n".join(paras)) == "\n\n".join(paras)


def test_rejoin_joins_wrapped_text_without_blank_lines() -> None:
    text = "this is a wrapped line that does not end\nthe sentence but goes on here and\nends here."
    assert rejoin_wrapped_lines(text) == "this is a wrapped line that does not end the sentence but goes on here and ends here."


@pytest.mark.parametrize("credit", ["Getty Images", "Photo: Jane Doe", "Ivan Petrov / TASS", "kremlin.ru", "AP"])
def test_caption_after_headline_is_dropped(credit: str) -> None:
    raw = f"A Short Headline Here\n\nThe president speaks at the forum. {credit}\n\nThe body starts here. It goes on.\n"
    res = clean_article(raw)
    assert res.title == "A Short Headline Here"
    assert res.text == "The body starts here. It goes on."
    assert ("photo caption", f"The president speaks at the forum. {credit}") in res.removed


def test_short_first_paragraph_ending_a_sentence_is_not_a_caption() -> None:
    raw = "A Short Headline Here\n\nThe agency was founded by Reuters staff.\n\nMore body.\n"
    assert clean_article(raw).text == "The agency was founded by Reuters staff.\n\nMore body."


def test_wrapped_first_line_is_not_a_headline() -> None:
    raw = ("Iranian General Qassem Soleimani, killed last week by a U.S. drone in Baghdad, has\n"
           "been credited with persuading Russian President Vladimir Putin to intervene militarily in\n"
           "Syria in 2015.\n")
    res = clean_article(raw)
    assert res.title == ""
    assert res.text == norm(raw)


def test_lone_short_text_is_body_not_title() -> None:
    res = clean_article("hello world")
    assert res.title == "" and res.text == "hello world"


def test_body_line_starting_like_a_trailer_is_kept() -> None:
    raw = "More from the ministry came later that week, officials said.\nIt was a long week for everyone involved.\n"
    assert "More from the ministry" in clean_article(raw).text
