"""The "Check a claim" tab's handlers and the `/check` API (through gradio_client), over the fake pipeline."""

from __future__ import annotations

import re

import pytest
from fake_pipeline import EU_CLIMATE, FakePipeline
from gradio_client import Client

from rag.errors import ModelLoadError
from ui import render
from ui.check import ClaimCheck, result_html
from ui.warmup import Warmup

TRUE_CLAIM = "Putin entered Syria to protect Russia's only naval base on the Mediterranean."
FALSE_CLAIM = "EU leaders agreed to cut emissions by at least 40 percent by 2030."  # the article says 55
UNKNOWN_CLAIM = "The moon is made of green cheese."


def _ready(pipe: FakePipeline) -> ClaimCheck:
    warmup = Warmup(pipe)
    warmup.wait()
    return ClaimCheck(pipe, warmup)


def _last(gen) -> str:
    return list(gen)[-1]


def test_a_supported_claim_shows_its_badge_and_quote_inside_its_paragraph() -> None:
    pipe = FakePipeline()
    html = _last(_ready(pipe).check(TRUE_CLAIM))
    assert 'class="rag-verdict rag-v-yes"' in html and ">Supported<" in html
    quote = pipe.check_claim(TRUE_CLAIM)["quote"]
    first = html.index('class="rag-card"')
    assert f"<mark>{render.escape(quote)}</mark>" in html[first:]
    assert render.escape("Western governments said most of the first strikes") in html  # the rest of the paragraph
    meta = f"The Global Ledger · {render.date_text({'published': '2015-10-02'})}"
    assert meta in html and "Why Russia went into Syria" in html
    assert "putin-syria.md" not in html  # no file ids on the page
    assert "Other close passages" in html and html.count('class="rag-card"') == 3


def test_a_false_claim_is_contradicted_by_the_quote_that_says_otherwise() -> None:
    pipe = FakePipeline()
    html = _last(_ready(pipe).check(FALSE_CLAIM))
    assert 'rag-v-contra' in html and ">Contradicted<" in html and "This quote says otherwise" in html
    assert "<mark>European Union leaders agreed early on Friday to cut the bloc" in html
    assert "Continental Post" in html
    unknown = _last(_ready(pipe).check(UNKNOWN_CLAIM))
    assert 'rag-v-no' in unknown and ">Not supported<" in unknown


@pytest.mark.parametrize("bad, says", [
    ("", "empty"), ("   ", "empty"), (EU_CLIMATE, "whole article"), (" ".join(["word"] * 80), "whole article"),
    ("PK\x03\x04\x00\x00 binary", "not plain text"),
])
def test_what_is_not_one_sentence_is_one_line_at_once(bad, says) -> None:
    pipe = FakePipeline()
    check = _ready(pipe)
    for html in (check.pending(bad), _last(check.check(bad))):
        assert says in html and 'class="rag-message"' in html and html.count("<p") == 1
    assert pipe.claims == []  # nothing was asked of the pipeline


def test_the_check_waits_for_the_models_and_reports_failures_in_words() -> None:
    pipe = FakePipeline(warm_up_s=0.3)
    warmup = Warmup(pipe)
    check = ClaimCheck(pipe, warmup)
    assert "Loading models" in check.pending(TRUE_CLAIM)
    steps = list(check.check(TRUE_CLAIM))
    assert "Loading models" in steps[0] and "Supported" in steps[-1]
    broken = FakePipeline(warm_up_error=ModelLoadError("The language model is missing."))
    assert "language model is missing" in _last(ClaimCheck(broken, Warmup(broken)).check(TRUE_CLAIM))
    crash = _last(_ready(FakePipeline()).check("trigger-crash now"))
    assert "Something went wrong" in crash and "internal details" not in crash


def test_claim_text_and_quotes_are_escaped() -> None:
    result = {"claim": "<script>x</script>", "verdict": "supported", "score": 1.0, "quote": "a <b> c",
              "reason": "<i>", "doc": "d", "title": "<img src=x>", "outlet": "O<u>", "published": "", "start": 0,
              "end": 7, "quotes": [{"quote": "a <b> c", "doc": "d", "title": "<img src=x>", "outlet": "O<u>",
                                    "published": "", "start": 0, "end": 7, "verdict": "supported"}]}
    html = result_html(result, lambda doc: "a <b> c and more.")
    assert not re.search(r"<(script|img|b|u|i)\b", html)
    assert "&lt;script&gt;" in html and "<mark>a &lt;b&gt; c</mark>" in html


def test_check_api_returns_the_rag_check_json(server) -> None:
    client = Client(server.url, verbose=False)
    out = client.predict(TRUE_CLAIM, api_name="/check")
    assert out == server.pipeline.check_claim(TRUE_CLAIM)  # the same object as `rag check --json`
    assert out["verdict"] == "supported" and out["claim"] == TRUE_CLAIM
    assert {"verdict", "score", "quote", "reason", "doc", "title", "outlet", "published", "start", "end"} <= set(out)
    assert (out["doc"], out["outlet"], out["published"]) == ("putin-syria.md", "The Global Ledger", "2015-10-02")
    assert server.pipeline.document_text(out["doc"])[out["start"]:out["end"]] == out["quote"]
    assert client.predict(FALSE_CLAIM, api_name="/check")["verdict"] == "contradicted"
    assert client.predict(UNKNOWN_CLAIM, api_name="/check")["verdict"] == "not supported"
    for bad, says in (("", "empty"), (EU_CLIMATE, "whole article"), ("a\x00b", "not plain text")):
        with pytest.raises(Exception, match=says) as e:
            client.predict(bad, api_name="/check")
        assert "Traceback" not in str(e.value)
