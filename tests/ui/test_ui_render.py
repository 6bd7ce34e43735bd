"""Rendering: escaping, paragraph context, per-turn anchors, refusal and query styling."""

from __future__ import annotations

import re

from fake_pipeline import XSS_TEXT, FakePipeline

from ui import render
from ui.chat import failed_turn, finish_turn, history_of, messages_of, parse_history

PAYLOADS = ("<script>window.__xss=1</script>", '<img src=x onerror="window.__xss=1">')


def _answer(pipe: FakePipeline, q: str, history=None):
    pipe.warm_up()
    return pipe.answer(q, history)


def test_fake_citations_are_exact_slices() -> None:
    pipe = FakePipeline(token_delay_s=0)
    ans = _answer(pipe, "Why did Putin enter Syria?")
    assert not ans.refused and ans.citations
    for c in ans.citations:
        assert pipe.document_text(c.doc)[c.start : c.end] == c.quote


def test_quote_context_expands_to_enclosing_paragraph() -> None:
    text = "First para.\n\nAlpha beta. Gamma delta. Epsilon.\n\nLast para."
    start = text.index("Gamma")
    end = start + len("Gamma delta.")
    before, quote, after = render.quote_context(text, start, end, "Gamma delta.")
    assert (before, quote, after) == ("Alpha beta. ", "Gamma delta.", " Epsilon.")


def test_quote_context_relocates_or_falls_back() -> None:
    text = "One.\n\nTwo three four."
    assert render.quote_context(text, 0, 3, "three") == ("Two ", "three", " four.")
    assert render.quote_context(text, 0, 3, "missing quote") == ("", "missing quote", "")


def test_quote_context_trims_long_paragraphs() -> None:
    text = ("word " * 300) + "QUOTE" + (" word" * 300)
    s = text.index("QUOTE")
    before, quote, after = render.quote_context(text, s, s + 5, "QUOTE")
    assert quote == "QUOTE" and before.startswith("…") and after.endswith("…")
    assert len(before) <= render.CONTEXT_CHARS + 1 and len(after) <= render.CONTEXT_CHARS + 1


def test_markers_link_to_turn_unique_anchors() -> None:
    html = render.link_markers("A [1] and [2] and [1, 2] and [7].", 3, {1, 2})
    assert html.count('href="#src-3-1"') == 2 and html.count('href="#src-3-2"') == 2
    assert "[7]" in html and "src-3-7" not in html  # uncited numbers stay text


def test_every_user_and_document_string_is_escaped() -> None:
    pipe = FakePipeline(token_delay_s=0)
    ans = _answer(pipe, "What did the security researchers publish?")
    assert ans.citations and ans.citations[0].doc == "xss-test.html"
    turn = finish_turn(1, "<b>q</b>" + PAYLOADS[0], ans, pipe)
    out = render.sources_panel([turn]) + "".join(m["content"] for m in messages_of([turn]))
    for p in PAYLOADS + ("<b>you</b>", "<b>q</b>", "<script>Weekly"):
        assert p not in out
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in out
    assert "onerror=&quot;window.__xss=1&quot;" in out
    assert not re.search(r"<(script|img)\b", out)


def test_sources_panel_marks_quote_inside_paragraph() -> None:
    pipe = FakePipeline(token_delay_s=0)
    ans = _answer(pipe, "Why did Putin enter Syria?")
    turn = finish_turn(1, ans.question, ans, pipe)
    html = render.sources_panel([turn])
    c = ans.citations[0]
    assert f'id="src-1-{c.n}"' in html
    assert f"<mark>{render.escape(c.quote)}</mark>" in html
    assert render.escape("Western governments said most of the first strikes") in html  # rest of paragraph
    assert "The Global Ledger · 2 Oct 2015" in html and "Why Russia went into Syria" in html
    assert "Details: the 3 passages read and their search scores" in html and "<td>0.016</td>" in html


def test_earlier_turns_keep_their_own_sources() -> None:
    pipe = FakePipeline(token_delay_s=0)
    a1 = _answer(pipe, "Why did Putin enter Syria?")
    t1 = finish_turn(1, a1.question, a1, pipe)
    a2 = pipe.answer("Where is the naval base?", history_of([t1]))  # short follow-up: query is rewritten
    t2 = finish_turn(2, a2.question, a2, pipe)
    html = render.sources_panel([t1, t2])
    assert html.index('id="turn-2"') < html.index('id="turn-1"')  # newest first
    assert re.search(r'<details class="rag-turn" id="turn-2" data-md="[^"]*" open>', html)
    assert re.search(r'<details class="rag-turn" id="turn-1" data-md="[^"]*">', html)
    assert 'id="src-1-1"' in html and 'id="src-2-1"' in html
    msgs = messages_of([t1, t2])
    assert "#src-1-1" in msgs[1]["content"] and "#src-2-" not in msgs[1]["content"]
    assert "#src-2-1" in msgs[3]["content"]
    assert "Searched for:" in msgs[3]["content"]  # follow-up query differs from the question
    assert "Searched for:" not in msgs[1]["content"]


def test_refusal_and_error_look_different() -> None:
    pipe = FakePipeline(token_delay_s=0)
    ans = _answer(pipe, "What is the capital of Mars?")
    assert ans.refused and ans.answer.startswith("The articles don't say")
    t = finish_turn(1, ans.question, ans, pipe)
    assert 'class="rag-answer rag-refused"' in render.answer_message(t)
    assert "No sources cited" in render.sources_panel([t])
    err = failed_turn(2, "q", "Index <locked>")
    assert 'class="rag-error"' in render.answer_message(err) and "&lt;locked&gt;" in render.answer_message(err)
    assert history_of([t, err]) == [{"role": "user", "content": ans.question},
                                    {"role": "assistant", "content": ans.answer}]


def test_messages_never_contain_blank_lines() -> None:
    """A blank line would end the HTML block and let Markdown process model text."""
    t = {"n": 1, "question": "a\n\nb", "final": True, "answer": "x\n\n<y>\r\n[1]", "refused": False,
         "query": "", "notice": "", "citations": [], "passages": [], "error": ""}
    for m in messages_of([t]):
        assert "\n" not in m["content"]


def test_parse_history_accepts_json_and_rejects_junk() -> None:
    import gradio as gr
    import pytest

    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert parse_history("") == []
    assert parse_history('[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]') == msgs
    for bad in ("{not json", '{"role": "user"}', '[{"role": "hacker", "content": "x"}]', '[{"role": "user"}]'):
        with pytest.raises(gr.Error):
            parse_history(bad)


def test_xss_fixture_text_is_in_the_corpus() -> None:
    assert all(p in XSS_TEXT for p in PAYLOADS)


def test_the_place_in_line_counts_other_readers_first_come_first_served():
    from ui.session import Line

    line = Line()
    line.join("a")
    line.start("a")  # a is being answered
    line.join("b")
    line.join("c")
    line.join("b")  # asking again does not move b back
    assert (line.ahead("a"), line.ahead("b"), line.ahead("c")) == (0, 1, 2)
    line.leave("a")
    line.start("b")
    assert line.ahead("c") == 1
    line.leave("b")
    assert line.ahead("c") == 0
    assert "2 questions from other readers are answered first" in render.waiting_message(1, 2)
    assert "1 question from other readers is answered first" in render.waiting_message(1, 1)
    assert "answered next" in render.waiting_message(1, 0)


def test_a_tab_waiting_behind_another_readers_answer_is_told_so_and_then_answered():
    """Tab A is being answered; tab B asks: its question says one from another reader comes first, the polled
    count stays current, and once A is done B's own run answers it (the count is gone)."""
    from types import SimpleNamespace

    from ui.chat import Chat
    from ui.warmup import Warmup

    pipe = FakePipeline(token_delay_s=0.0)
    pipe.warm_up()
    warmup = Warmup(pipe)
    warmup.wait()
    chat = Chat(pipe, warmup)
    a, b = SimpleNamespace(session_hash="tab-a"), SimpleNamespace(session_hash="tab-b")
    chat.submit("Why did Putin enter Syria?", a)
    running = chat.answer_waiting(a)
    next(running)  # A's answer has started and holds the reader
    _, view, _ = chat.submit("What did Obama say?", b)
    assert "1 question from other readers is answered first" in view[-1]["content"]
    assert "1 question from other readers" in chat.refresh(b)[-1]["content"]
    for _ in running:  # A finishes
        pass
    shown = chat.refresh(b)  # the count goes: B is next
    assert "answered next" in shown[-1]["content"]
    outputs = list(chat.answer_waiting(b))
    final_chat = outputs[-1][0]
    assert [m["role"] for m in final_chat] == ["user", "assistant"] and "rag-waiting" not in final_chat[-1]["content"]
    assert chat.line.ahead("tab-b") == 0 and not isinstance(chat.refresh(b), list)  # nothing to redraw


def test_a_web_source_card_links_to_its_page_and_names_the_other_outlets() -> None:
    pipe = FakePipeline(token_delay_s=0)
    ans = _answer(pipe, "Why did Putin enter Syria?")
    turn = finish_turn(1, ans.question, ans, pipe)
    turn["citations"][0].update(url="https://news.example/a?b=1&c=2", author="Jane Doe",
                                also_published_by=["Riverside Courier", "Daily <Wire>"])
    html = render.sources_panel([turn])
    assert 'href="https://news.example/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer"' in html
    assert "The Global Ledger · by Jane Doe · 2 Oct 2015" in html
    assert "Also published by: Riverside Courier, Daily &lt;Wire&gt;" in html
    assert "<https://news.example/a?b=1&c=2>" in render.answer_markdown(turn)
    turn["citations"][0]["url"] = "javascript:alert(1)"  # only the web's own addresses become links
    assert "javascript:" not in render.sources_panel([turn])


def test_an_untitled_article_is_named_by_its_words_never_its_file_name() -> None:
    """A file with no headline (the loader titles it after its file name) and a title-less web page: the cards, the
    Details table, the copied Markdown and the claim check name them by their first words or web address; the file
    name is only a data attribute."""
    from fake_pipeline import FakeDoc

    from ui.check import result_html

    hashed, web = "000_27674378f27b9ee8.md", "web/5f2c9a1b7d3e4f60.md"
    docs = [FakeDoc(hashed, "000 27674378f27b9ee8", "", "2015-10-20",
                    "Putin entered Syria with air strikes on Tuesday, residents of Aleppo said."),
            FakeDoc(web, "", "", "", "Syria talks: Putin entered Syria again.", url="https://www.news.example/a/b/")]
    pipe = FakePipeline(docs, token_delay_s=0)
    ans = _answer(pipe, "Why did Putin enter Syria?")
    turn = finish_turn(1, ans.question, ans, pipe)
    turn["citations"][-1]["url"] = "https://www.news.example/a/b/"  # the fake pipeline's citations carry no address
    turn["citations"][-1]["opening"] = ""
    html = render.sources_panel([turn])
    shown = re.sub(r"<[^>]+>", " ", html)  # the visible text, without the markup's attributes
    assert "Putin entered Syria with air strikes on Tuesday, residents of Aleppo said." in shown
    assert "news.example/a/b" in shown and "Details" in shown
    assert "27674378" not in shown and "5f2c9a1b" not in shown and ".md" not in shown
    assert f'data-doc="{hashed}"' in html and f'data-doc="{web}"' in html
    copied = render.answer_markdown(turn)
    assert "27674378" not in copied and "*Putin entered Syria with air strikes" in copied
    checked = result_html(pipe.check_claim("Putin entered Syria with air strikes on Tuesday."), pipe.document_text)
    assert "27674378" not in re.sub(r"<[^>]+>", " ", checked) and "residents of Aleppo" in checked
