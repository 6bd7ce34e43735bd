"""`rag check` against the library: what a claim must look like, the contradicted verdict, the JSON it gives (also the
chat page's `/check`), with the hash embedder and the judge's rules (no model)."""

import pytest
from rag_testdata import ARTICLES, write_article

from rag.answer.check import (CONTRADICTED, CheckResult, QuoteRef, about, accuracy_by_kind, check_in_library,
                              contradicts, validate_claim)
from rag.answer.judge import NOT_SUPPORTED, NUMBER, QUALIFIER, REVERSED, WRONG_PERSON
from rag.errors import ClaimError, RagError
from rag.generate.base import ScriptedGenerator
from rag.index.embed import HashEmbedder
from rag.pipeline import Pipeline
from rag.settings import Settings

QUOTE = "The strike drew more than 4,000 workers to the square on March 3, organisers said."


@pytest.mark.parametrize("text, says", [
    ("", "empty"), ("   \n ", "empty"), (None, "must be text"),
    ("The strike\x00drew workers.", "not plain text"), ("PK\x03\x04\x14\x00binary", "not plain text"),
    ("Broken \ufffd bytes here.", "not plain text"),
    ("First paragraph of an article.\n\nSecond paragraph of it.", "whole article"),
    (" ".join(["word"] * 61), "whole article (61 words)"),
])
def test_a_claim_that_is_not_one_sentence_is_one_line_saying_so(text, says):
    with pytest.raises(ClaimError) as e:
        validate_claim(text)
    assert says in str(e.value) and "\n" not in str(e.value) and isinstance(e.value, RagError)


def test_a_claim_is_one_line_of_text():
    assert validate_claim("  The strike drew\nmore than 4,000 workers.\t") == "The strike drew more than 4,000 workers."
    assert validate_claim(" ".join(["word"] * 60)).count("word") == 60


@pytest.mark.parametrize("claim, kind, contradicted", [
    ("The strike drew more than 5,000 workers to the square.", NUMBER, True),  # another number about the same
    ("The strike drew more than 4,000 workers to the square in April.", NUMBER, True),  # another date
    ("The strike did not draw workers to the square.", REVERSED, True),  # negation turned around
    ("The strike drew 4,000 workers to the square.", QUALIFIER, False),  # a dropped qualifier: not "otherwise"
    ("Mayor Lena Ortiz drew 4,000 workers to the square.", WRONG_PERSON, False),  # a name it does not hold
    ("The council cut 7 bus routes in the north of the county.", NUMBER, False),  # about something else
])
def test_a_quote_contradicts_a_claim_only_when_it_says_otherwise_about_the_same_thing(claim, kind, contradicted):
    assert contradicts(claim, QUOTE, kind) is contradicted
    assert not contradicts("The strike drew 5,000 workers.", "The strike drew workers to the square.", NUMBER)
    assert about("The strike drew workers to the square.", QUOTE)


def test_to_dict_carries_where_the_quote_is_from():
    ref = QuoteRef("q", "a.md", "A headline", 3, 4, "Test Wire", "2015-10-01", True)
    quotes = [{**ref.to_dict(), "verdict": "supported"}]
    d = CheckResult("c", "supported", 0.91234, "q", "why", "", ref, quotes).to_dict()
    assert d["score"] == 0.9123 and (d["doc"], d["title"], d["outlet"], d["published"]) == \
        ("a.md", "A headline", "Test Wire", "2015-10-01")
    assert d["published_approx"] is True and (d["start"], d["end"]) == (3, 4)
    assert d["quotes"][0]["outlet"] == "Test Wire" and d["quotes"][0]["verdict"] == "supported"
    bare = CheckResult("c", NOT_SUPPORTED, 0.0, "", "the library has nothing about it").to_dict()
    assert set(bare) == {"claim", "verdict", "score", "quote", "reason"}


def test_contradicted_counts_as_not_supported_in_a_labelled_set():
    r = CheckResult("c", CONTRADICTED, 0.0, "q")
    table = accuracy_by_kind([({"kind": "changed_number", "label": "not supported"}, r),
                              ({"kind": "faithful", "label": "supported"}, r)])
    assert table["changed_number"]["accuracy"] == 1.0 and table["faithful"]["accuracy"] == 0.0


@pytest.fixture
def library(tmp_path) -> Pipeline:
    data = tmp_path / "data"
    for name, body in ARTICLES.items():
        write_article(data, name, body, published="2015-10-08")
    settings = Settings(data_dir=data, index_dir=tmp_path / "index", store="faiss", judge_model=False)
    pipe = Pipeline(settings, embedder=HashEmbedder(dim=64), generator=ScriptedGenerator(default="yes"))
    pipe.ingest()
    return pipe


def test_check_in_library_supported_contradicted_or_not(library):
    ok = library.check_claim("Defense Secretary Ash Carter spoke at a briefing on Oct. 7.")
    assert ok["verdict"] == "supported" and "Ash Carter" in ok["quote"]
    assert (ok["doc"], ok["outlet"], ok["published"], ok["published_approx"]) == \
        ("syria.md", "Test Wire", "2015-10-08", False)
    text = library.document_text("syria.md")
    assert text[ok["start"]:ok["end"]] == ok["quote"]
    assert 2 <= len(ok["quotes"]) <= 3 and ok["quotes"][0]["quote"] == ok["quote"]
    assert {"quote", "doc", "title", "outlet", "published", "start", "end", "verdict", "score"} <= set(ok["quotes"][0])

    wrong_day = library.check_claim("Defense Secretary Ash Carter spoke at a briefing on Oct. 9.")
    assert wrong_day["verdict"] == CONTRADICTED and "Oct. 7" in wrong_day["quote"]
    negated = library.check_claim("Putin did not want to end Russia's isolation from the West.")
    assert negated["verdict"] == CONTRADICTED and "isolation" in negated["quote"]
    unrelated = library.check_claim("The orchestra played a new symphony in Vienna.")
    assert unrelated["verdict"] == NOT_SUPPORTED

    with pytest.raises(ClaimError, match="empty"):
        library.check_claim(" ")


def test_check_in_library_keeps_the_plain_verdicts_for_a_given_quote(library):
    """With --quote (check_pair) the verdict stays supported / not supported: "contradicted" is the library's."""
    from rag.answer.check import check_pair

    r = check_pair(None, "The strike drew more than 5,000 workers.", QUOTE, use_model=False)
    assert r.verdict == NOT_SUPPORTED and r.kind == NUMBER
    lib = check_in_library(library, "Defense Secretary Ash Carter spoke at a briefing on Oct. 9.", use_model=False)
    assert lib.verdict == CONTRADICTED and lib.source is not None and lib.source.outlet == "Test Wire"
