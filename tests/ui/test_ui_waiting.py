"""Why an answer is slow, in words: measured against this server's usual time, with the cause when it is known."""

from __future__ import annotations

from ui.render import status_message
from ui.waiting import FIRST_SLOW_S, Waiting, clock


def test_clock_reads_like_a_person_would_say_it() -> None:
    assert [clock(x) for x in (0, 7.9, 59, 60, 65, 3600)] == ["0 s", "7 s", "59 s", "1 min 00 s", "1 min 05 s",
                                                            "60 min 00 s"]


def test_slow_is_measured_against_the_usual_time_here() -> None:
    w = Waiting()
    assert w.note(FIRST_SLOW_S - 1) == "" and w.note(FIRST_SLOW_S).startswith("Taking longer than usual")
    for s in (4.0, 6.0, 5.0):
        w.finished(s)
    assert w.usual() == 5.0
    assert w.note(14.0) == ""  # twice the usual, but not 10 s more
    assert w.note(15.0) == "Taking longer than usual (usually about 5 s)."
    for s in (30.0, 30.0, 30.0, 30.0):
        w.finished(s)
    assert w.note(59.0) == "" and w.note(60.0) != ""  # twice the (new) median


def test_the_cause_is_named_when_known() -> None:
    state = {"indexing": False, "others": 0.0}
    w = Waiting(indexing=lambda: state["indexing"], others=lambda: state["others"])
    w.finished(5.0)
    assert w.note(20.0) == "Taking longer than usual (usually about 5 s)."
    state["others"] = 0.9
    assert w.note(20.0).endswith(": another program is keeping the processor busy.")
    state["indexing"] = True  # our own upload is named first: the reader can do something about it
    assert w.note(20.0).endswith(": an upload is being indexed at the same time.")

    def broken() -> float:
        raise OSError("no /proc")

    assert Waiting(others=broken).reason() == ""  # an explanation never fails an answer


def test_the_status_line_shows_stage_clock_and_note() -> None:
    html = status_message("Reading 5 passages from 2 articles…", 65.2, "Taking longer than usual.")
    assert "Reading 5 passages from 2 articles…" in html and '<span class="rag-elapsed"' in html
    assert "1 min 05 s" in html and '<div class="rag-slow">Taking longer than usual.</div>' in html
    assert "rag-slow" not in status_message("Searching the articles…", 1.0)


def test_the_page_timer_adds_the_reason_to_a_slow_answers_status() -> None:
    """A slow answer in a silent stage (the reader reading its prompt): the polled refresh redraws the status with
    the reason once the answer is past the usual time, and not again until the note changes."""
    import time
    from types import SimpleNamespace

    from fake_pipeline import FakePipeline

    from ui.chat import Chat
    from ui.warmup import Warmup

    pipe = FakePipeline(token_delay_s=0.0, read_s=30)
    pipe.warm_up()
    warmup = Warmup(pipe)
    warmup.wait()
    uploading = [True]
    chat = Chat(pipe, warmup, waiting=Waiting(indexing=lambda: uploading[0]))
    chat.waiting.finished(0.5)
    tab = SimpleNamespace(session_hash="tab")
    chat.submit("Why did Putin enter Syria?", tab)
    running = chat.answer_waiting(tab)
    while "Reading" not in (chat.sessions.get("tab").live or ""):
        next(running)
    session = chat.sessions.get("tab")
    assert not isinstance(chat.refresh(tab), list)  # not slow yet: nothing to redraw
    session.since -= 20  # as if 20 s had passed in this stage
    shown = chat.refresh(tab)[-1]["content"]
    assert "Reading 3 passages" in shown and "20 s" in shown
    assert "Taking longer than usual (usually about 1 s): an upload is being indexed at the same time." in shown
    assert not isinstance(chat.refresh(tab), list)  # the note is on screen already
    session.stop.set()
    for _ in running:
        pass
    assert time.monotonic() - session.since < 60
