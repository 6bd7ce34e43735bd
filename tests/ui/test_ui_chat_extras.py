"""The chat's handlers over the fake pipeline: the date filter, Stop taking effect at once, and one source card per
paragraph."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from fake_pipeline import PUTIN_SYRIA, FakePipeline

from rag.schema import DateRange
from ui import render
from ui.chat import Chat, finish_turn
from ui.chat_dates import DateFilter, dates_of
from ui.warmup import Warmup

Q = "What did Western governments and environmental groups say?"  # cites both articles when nothing is filtered


def _chat(pipe: FakePipeline) -> Chat:
    warmup = Warmup(pipe)
    warmup.wait()
    return Chat(pipe, warmup)


def _ask(chat: Chat, q: str, tab) -> list:
    chat.submit(q, tab)
    return list(chat.answer_waiting(tab))


def test_the_date_filter_narrows_the_conversation_and_says_so() -> None:
    pipe = FakePipeline(token_delay_s=0)
    chat, tab = _chat(pipe), SimpleNamespace(session_hash="tab-dates")
    dates = DateFilter(chat.session_of)
    bad = dates.apply("sometime soon", "", tab)
    assert "is not a date I can read" in bad[0]["value"] and bad[0]["visible"] is True
    assert chat.session_of(tab).dates is None  # nothing changed; the panel stays open to fix it
    line, panel, is_open = dates.apply("2020", "December 2020", tab)
    assert chat.session_of(tab).dates == DateRange("2020-01-01", "2020-12-31")
    assert "Only articles from 1 Jan 2020 to 31 Dec 2020 · " in line["value"] and "rag-range-clear" in line["value"]
    assert panel["visible"] is False and is_open is False
    out = _ask(chat, Q, tab)
    assert pipe.dates[-1] == DateRange("2020-01-01", "2020-12-31")
    turn = chat.session_of(tab).turns[-1]
    assert {c["doc"] for c in turn["citations"]} == {"eu-climate.md"}  # the 2015 article is left out
    assert turn["dates"] == {"since": "2020-01-01", "until": "2020-12-31"}
    assert "Only articles from 1 Jan 2020 to 31 Dec 2020" in out[-1][0][-1]["content"]  # the answer's small print
    # kept with the conversation: a reload (a new tab restoring the browser's copy) brings the filter back
    reloaded = SimpleNamespace(session_hash="tab-reloaded")
    chat.restore(chat.session_of(tab).turns, reloaded)
    assert chat.session_of(reloaded).dates == DateRange("2020-01-01", "2020-12-31")
    assert dates.view(reloaded)[1:] == ("2020-01-01", "2020-12-31")
    # Clear: every article again
    line, since, until, panel, is_open = dates.clear(tab)
    assert line["visible"] is False and (since, until) == ("", "") and chat.session_of(tab).dates is None
    _ask(chat, Q, tab)
    assert pipe.dates[-1] is None and "dates" not in chat.session_of(tab).turns[-1]
    assert {c["doc"] for c in chat.session_of(tab).turns[-1]["citations"]} == {"putin-syria.md", "eu-climate.md"}
    # a new conversation starts with every article
    dates.apply("2020", "", tab)
    chat.new_conversation(tab)
    assert chat.session_of(tab).dates is None and dates.view(tab)[0]["visible"] is False
    assert dates.view(tab)[1] == {"__type__": "update"}  # what is typed in the panel meanwhile stays
    assert dates_of([{"dates": {"since": "junk", "until": 3}}]) is None and dates_of([]) is None


def test_stop_takes_effect_on_the_page_at_once_and_gives_the_question_back() -> None:
    """The reader notices Stop only after a few seconds (a long prompt read on a busy machine): the page must not
    wait for it."""
    pipe = FakePipeline(token_delay_s=0.05, stop_lag_s=3.0)
    chat, tab = _chat(pipe), SimpleNamespace(session_hash="tab-stop")
    q = "Why did Putin enter Syria?"
    chat.submit(q, tab)
    outputs: list = []
    runner = threading.Thread(target=lambda: outputs.extend(chat.answer_waiting(tab)))
    runner.start()
    session = chat.session_of(tab)
    deadline = time.monotonic() + 10
    while "[1]" not in session.draft and time.monotonic() < deadline:
        time.sleep(0.02)
    t0 = time.monotonic()
    box, view, stop_btn = chat.stop("", tab)
    since_stop = len(outputs)
    assert time.monotonic() - t0 < 0.5
    assert box == q and stop_btn["visible"] is False
    live = view[-1]["content"]
    assert "rag-stopped" in live and "Stopped" in live and "[1]" in live and "rag-caret" not in live
    assert chat.stop("typed meanwhile", tab)[0] != q  # what the reader typed since is theirs: left alone
    assert chat.refresh(tab) is not None
    runner.join(timeout=15)
    assert not runner.is_alive()
    turn = session.turns[-1]
    assert turn["stopped"] and len(turn["citations"]) == 1  # the checked sentence stays, with its source
    assert not any(isinstance(o[3], dict) and o[3].get("visible") for o in outputs[since_stop:])  # Stop stays hidden
    assert "rag-stopped" in render.answer_message(turn)


def _two_in_one_paragraph(pipe: FakePipeline) -> dict:
    """A turn citing two sentences of one paragraph, the first of them twice, and another paragraph."""
    pipe.warm_up()
    text = PUTIN_SYRIA
    quotes = ["Analysts said Putin entered Syria to protect Russia's only naval base on the Mediterranean, at "
              "Tartus, and to show that Moscow could not be ignored in the Middle East.",
              "Western governments said most of the first strikes hit rebel groups rather than the Islamic State.",
              "Analysts said Putin entered Syria to protect Russia's only naval base on the Mediterranean, at "
              "Tartus, and to show that Moscow could not be ignored in the Middle East.",
              "The intervention came weeks after Russia moved tanks, artillery and fighter jets to an air base near "
              "Latakia, the Assad family's home region."]
    cites = [{"n": n, "doc": "putin-syria.md", "title": "Why Russia went into Syria", "outlet": "The Global Ledger",
              "published": "2015-10-02", "quote": q, "start": text.index(q), "end": text.index(q) + len(q)}
             for n, q in enumerate(quotes, start=1)]
    return {"n": 1, "question": "Why?", "final": True, "answer": "A [1]. B [2]. C [3]. D [4].", "refused": False,
            "query": "", "notice": "", "passages": [], "error": "",
            "citations": render.with_context(cites, pipe.document_text)}


def test_one_paragraph_is_one_source_card_listing_its_markers() -> None:
    turn = _two_in_one_paragraph(FakePipeline())
    html = render.sources_panel([turn])
    assert html.count('class="rag-card"') == 2
    first = html[html.index('id="src-1-1"'):html.index('id="src-1-4"')]
    assert all(f'<span class="rag-n">[{n}]</span>' in first for n in (1, 2, 3))
    assert first.count("<mark>") == 2 and first.count("Western governments said most") == 1
    assert 'id="src-1-2"' not in html and 'id="src-1-3"' not in html
    msg = render.answer_message(turn)  # markers 2 and 3 lead to the card that shows their paragraph
    assert msg.count('href="#src-1-1"') == 3 and 'href="#src-1-4"' in msg and 'href="#src-1-2"' not in msg
    assert "[2]" in msg and "[3]" in msg


def test_a_long_paragraph_shows_each_quote_with_its_context_once() -> None:
    words = [f"w{i}" for i in range(400)]
    text = "Intro.\n\n" + " ".join(words) + "\n\nEnd."
    qa, qb = "w10 w11 w12", "w300 w301"
    cites = [{"n": n, "doc": "d", "title": "T", "quote": q, "start": text.index(q), "end": text.index(q) + len(q)}
             for n, q in ((1, qa), (2, qb))]
    turn = {"n": 1, "question": "q", "final": True, "answer": "x [1] [2]", "refused": False, "query": "",
            "notice": "", "passages": [], "error": "", "citations": render.with_context(cites, lambda d: text)}
    html = render.sources_panel([turn])
    assert html.count('class="rag-card"') == 1 and html.count("<mark>") == 2
    assert " … " in html and html.count("w200 ") == 0 and html.count("w9 ") == 1 and html.endswith("</div>")
    # a turn kept from before cards knew their paragraph: identical quotes still share one card
    old = [{k: v for k, v in c.items() if k not in ("para", "at")} for c in turn["citations"]]
    assert render.sources_panel([{**turn, "citations": [old[0], {**old[0], "n": 2}]}]).count('class="rag-card"') == 1


def test_finish_turn_keeps_paragraph_places_for_the_browser_copy() -> None:
    pipe = FakePipeline(token_delay_s=0)
    pipe.warm_up()
    turn = finish_turn(1, Q, pipe.answer(Q), pipe)
    c = turn["citations"][0]
    assert isinstance(c["at"], int) and pipe.document_text(c["doc"])[c["at"]:c["at"] + len(c["quote"])] == c["quote"]
    assert c["para"][0] <= c["at"] < c["para"][1]
