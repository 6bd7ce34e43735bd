"""The chat and `ask` handlers: stream a pipeline answer into chat messages and per-turn state.

The conversation is a list of turns (question, final answer, citations with their paragraph
context, passage scores) kept per tab on the server (ui.session) and copied to the browser's
storage after each answer so a reload restores it. The chatbot and the sources panel are
re-rendered from the turns, so the citations of earlier turns never change as the chat goes on.
Handlers never write the question box while an answer streams: what the user types is theirs (Stop puts the
stopped question back only into an empty box).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from rag.errors import RagError
from rag.pipeline_api import PipelineAPI
from rag.schema import Answer, DateRange
from ui import render
from ui.chat_dates import dates_of
from ui.render import Turn
from ui.session import ChatSession, Line, Sessions
from ui.waiting import Waiting
from ui.warmup import Warmup

log = logging.getLogger(__name__)

CRASH_MESSAGE = "Something went wrong while answering. The details are in the server log; please try again."
WRITING_MESSAGE = "Writing the answer… each sentence appears once it is checked against the articles."
LOADING_MESSAGE = "Loading models… your question will be answered as soon as they are ready."
SEARCHING_MESSAGE = "Searching the articles…"


def reading_message(passages: list) -> str:
    """"Reading 5 passages from 2 articles…"."""
    docs = {getattr(getattr(p, "chunk", None), "doc", None) for p in passages or []} - {None}
    n = len(passages or [])
    where = f" from {len(docs)} article{'s' if len(docs) != 1 else ''}" if docs else ""
    return f"Reading {n} passage{'s' if n != 1 else ''}{where}…"


def _key(request: gr.Request | None) -> str:
    return str(getattr(request, "session_hash", None) or "")


def history_of(turns: list[Turn]) -> list[dict]:
    """The plain-text conversation for the pipeline (no HTML), skipping failed and empty (stopped) turns."""
    out: list[dict] = []
    for t in turns:
        if t.get("final") and not t.get("error") and t.get("answer"):
            out += [{"role": "user", "content": t["question"]}, {"role": "assistant", "content": t["answer"]}]
    return out


def messages_of(turns: list[Turn]) -> list[dict]:
    out: list[dict] = []
    for t in turns:
        out.append({"role": "user", "content": render.user_message(t["question"])})
        out.append({"role": "assistant", "content": render.answer_message(t)})
    return out


def finish_turn(n: int, question: str, answer: Answer, pipeline: PipelineAPI) -> Turn:
    d = answer.to_dict()
    return {
        "n": n,
        "question": question,
        "final": True,
        "answer": d["answer"],
        "refused": d["refused"],
        "stopped": bool(d.get("stopped")),
        "query": d["query"],
        "notice": d["notice"],
        "citations": render.with_context(d["citations"], pipeline.document_text),
        # the page shows ranks and scores only; passage text stays out of the browser's storage
        "passages": render.with_openings([{k: v for k, v in p.items() if k != "text"} for p in d["passages"]],
                                         pipeline.document_text),
        "error": "",
    }


def failed_turn(n: int, question: str, error: str) -> Turn:
    return {"n": n, "question": question, "final": True, "answer": "", "refused": False, "query": "",
            "notice": "", "citations": [], "passages": [], "error": error}


TURN_KEYS = {"n": int, "question": str, "answer": str, "refused": bool, "query": str, "notice": str,
             "citations": list, "passages": list, "error": str}


def restore_turns(saved: object) -> list[Turn]:
    """Turns kept by the browser, renumbered; anything malformed (an old format, an edit) is dropped."""
    if not isinstance(saved, list):
        return []
    out: list[Turn] = []
    for t in saved:
        if not isinstance(t, dict) or not all(isinstance(t.get(k), typ) for k, typ in TURN_KEYS.items()):
            continue
        cites = [c for c in t["citations"] if isinstance(c, dict) and isinstance(c.get("n"), int)
                 and all(isinstance(c.get(k), str) for k in ("quote", "doc"))]
        passages = [p for p in t["passages"] if isinstance(p, dict)]
        out.append({**t, "n": len(out) + 1, "final": True, "citations": cites, "passages": passages,
                    "stopped": bool(t.get("stopped"))})
    return out


def as_shown(final: Answer, shown: str) -> Answer:
    """Stop was pressed but the reader finished before it noticed: the answer as the page showed it then (the
    sentences shown, with their citations), marked stopped; unchanged when it is all that was shown."""
    text, full = " ".join(shown.split()), " ".join(final.answer.split())
    if final.stopped or final.refused or text == full or not full.startswith(text):
        return final
    kept = [c for c in final.citations if f"[{c.n}]" in text]
    return dataclasses.replace(final, answer=text, citations=kept, stopped=True)


def stopped_message(draft: str) -> str:
    """The answer in progress once Stop is pressed: what was shown so far, marked stopped, at once (the reader
    may take a few seconds more to notice; its kept sentences and their sources then take this place)."""
    body = f'<div class="rag-answer">{render.esc(draft)}</div>' if draft else ""
    said = "the answer above may be incomplete." if draft else "no sentence had been checked yet."
    return f'{body}<div class="rag-query rag-stopped">Stopped: {said}</div>'


def view_of(session: ChatSession, others: int = 0) -> list[dict]:
    """The chat as shown: finished turns, the answer being written, then questions waiting their turn (behind
    `others` questions from other tabs, for the seconds since the tab joined the line)."""
    msgs = messages_of(session.turns)
    if session.current:
        live = stopped_message(session.draft) if session.stop.is_set() else session.live
        msgs += [{"role": "user", "content": render.user_message(session.current)},
                 {"role": "assistant", "content": live}]
    in_line = time.monotonic() - session.in_line_since if others and session.in_line_since else None
    for i, q in enumerate(list(session.waiting), start=1):
        msgs += [{"role": "user", "content": render.user_message(q)},
                 {"role": "assistant", "content": render.waiting_message(i, others, in_line)}]
    return msgs


class Chat:
    """The chat's event handlers, over one pipeline and the per-tab sessions."""

    def __init__(self, pipeline: PipelineAPI, warmup: Warmup, sessions: Sessions | None = None,
                 waiting: Waiting | None = None) -> None:
        self.pipeline = pipeline
        self.warmup = warmup
        self.sessions = sessions or Sessions()
        self.line = Line()
        self.waiting = waiting or Waiting()

    def _session(self, request: gr.Request | None) -> ChatSession:
        return self.sessions.get(_key(request))

    session_of = _session  # for the date filter (ui.chat_dates)

    # ---- events ----
    def submit(self, question: str, request: gr.Request) -> tuple[Any, list[dict], Any]:
        """Instant (not queued): take the question, clear the box, show it as waiting; `answer_waiting` runs it."""
        q = (question or "").strip()
        session = self._session(request)
        if not q:
            gr.Warning("Type a question first.")
            return gr.skip(), gr.skip(), gr.skip()
        with session.lock:
            session.waiting.append(q)
            if not session.running:
                self.line.join(_key(request))
                session.in_line_since = time.monotonic()
        session.shown_ahead = self.line.ahead(_key(request))
        return "", view_of(session, session.shown_ahead), gr.update(visible=True)

    def submit_example(self, question: str, request: gr.Request) -> tuple[Any, Any]:
        """An example button: like `submit`, but whatever is typed in the box stays there."""
        return self.submit(question, request)[1:]

    def answer_waiting(self, request: gr.Request) -> Iterator[tuple[Any, Any, Any, Any]]:
        """Answer this tab's waiting questions in order, streaming each; yields (chat, sources, saved, stop)."""
        session = self._session(request)
        with session.lock:  # several handlers run at once (one per tab and more): one of them owns this tab
            mine = not session.running and bool(session.waiting)
            session.running = session.running or mine
        if not mine:  # another run is answering them, in order (or nothing is left: out of the line)
            if not session.running:
                self.line.leave(_key(request))
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        self.line.start(_key(request))
        released: list[bool] = [False]
        try:
            yield from self._answer_all(session, released)
        finally:
            self.line.leave(_key(request))
            if not released[0]:  # stopped early (a closed connection): let the next run take the tab
                with session.lock:
                    session.running = False

    def _answer_all(self, session: ChatSession, released: list[bool]) -> Iterator[tuple[Any, Any, Any, Any]]:
        while True:
            with session.lock:
                if not session.waiting:
                    # in the same breath as the check: a question added from now on starts a run of its own
                    session.running, released[0] = False, True
                    break
                q = session.waiting.popleft()
                session.current, epoch = q, session.epoch
                session.since, session.stage, session.drafting, session.note = time.monotonic(), SEARCHING_MESSAGE, \
                    False, ""
                session.live = self._status(session)
            shown = gr.update(visible=True)  # this run may answer a question another run's end hid Stop for
            try:
                for _ in self._answer_one(session, q, epoch):  # once Stop is pressed, its button stays hidden
                    yield view_of(session), gr.skip(), gr.skip(), gr.skip() if session.stop.is_set() else shown
            finally:
                with session.lock:
                    session.current, session.live, session.stage, session.draft = "", "", "", ""
                    session.stop.clear()
            yield view_of(session), render.sources_panel(session.turns), session.turns, gr.skip()
        yield view_of(session), render.sources_panel(session.turns), session.turns, gr.update(visible=False)

    def _answer_one(self, session: ChatSession, q: str, epoch: int) -> Iterator[None]:
        """Stream one answer into `session.live`, then add the finished turn (unless the chat was cleared)."""
        n, dates = len(session.turns) + 1, session.dates
        if not self.warmup.ready:
            self._show(session, LOADING_MESSAGE)
            yield
            while not self.warmup.wait(timeout=0.5) and not self.warmup.error and not session.stop.is_set():
                pass
        if session.stop.is_set() or session.epoch != epoch:
            turn = {**failed_turn(n, q, ""), "stopped": True}
        elif not self.warmup.ready:
            turn = failed_turn(n, q, self.warmup.error or "The models are not available.")
        else:
            turn = yield from self._stream(session, q, n, dates)
        if dates:
            turn["dates"] = {"since": dates.since, "until": dates.until}
        with session.lock:
            if session.epoch == epoch:
                turn["n"] = len(session.turns) + 1
                session.turns = session.turns + [turn]

    def _status(self, session: ChatSession) -> str:
        """The live bubble before any text: the stage, the seconds since asking, why it is slow (if it is)."""
        elapsed = time.monotonic() - session.since
        session.slow_note = self.waiting.note(elapsed)
        return render.status_message(session.stage, elapsed, session.slow_note) + session.note

    def _show(self, session: ChatSession, stage: str = "", draft: str = "") -> None:
        """Set the live bubble: a stage (with its clock) or the text so far. Under the lock, because the page's
        timer refreshes the clock's explanation (`refresh`) while the answer streams."""
        with session.lock:
            if session.stop.is_set():  # the page shows it stopped (`view_of`): what it showed then stays
                return
            if draft:
                if not session.drafting:  # the first text: how long answers take to show something, here
                    self.waiting.finished(time.monotonic() - session.since)
                session.drafting, session.live = True, render.draft_message(draft) + session.note
                session.draft = draft
            else:
                session.stage = stage or session.stage
                session.live = self._status(session)

    def _stream(self, session: ChatSession, q: str, n: int, dates: DateRange | None = None) -> Iterator[None]:
        """Pipeline events -> the live bubble; returns the finished (or failed) turn."""
        draft, final = "", None
        try:
            for ev in self.pipeline.answer_stream(q, history_of(session.turns), stop=session.stop.is_set,
                                                  dates=dates or None):
                if ev.kind == "answer":
                    final = ev.data
                    continue
                if ev.kind == "query":
                    session.note = render.query_note(q, str(ev.data or ""))
                    self._show(session, SEARCHING_MESSAGE)
                elif ev.kind == "passages":
                    self._show(session, reading_message(ev.data))
                elif ev.kind == "writing":
                    self._show(session, WRITING_MESSAGE)
                elif ev.kind == "token":
                    draft += str(ev.data)
                    self._show(session, draft=draft)
                else:
                    continue
                yield
            if final is None:
                raise RagError("The answer was cut off before it finished. Please ask again.")
            if not session.drafting and not final.stopped:
                self.waiting.finished(time.monotonic() - session.since)
            if session.stop.is_set():
                final = as_shown(final, session.draft)
            return finish_turn(n, q, final, self.pipeline)
        except RagError as e:
            gr.Warning(str(e))
            return failed_turn(n, q, str(e))
        except Exception:  # noqa: BLE001 - users get a short message, the log gets the traceback
            log.exception("answering %r failed", q)
            return failed_turn(n, q, CRASH_MESSAGE)

    def stop(self, typed: str, request: gr.Request) -> tuple[Any, Any, Any]:
        """Stop the answer being written (or the next one, if it has not started); checked sentences stay.
        Instant (not queued): the page shows the answer stopped and hides Stop at once, while the reader notices
        at its next piece; the stopped question goes back into the box (unless something is typed there).
        Returns (question box, chat, stop button)."""
        session = self._session(request)
        with session.lock:
            if not session.busy:
                return gr.skip(), gr.skip(), gr.update(visible=False)
            asked = session.current or session.waiting[0]
            session.stop.set()
            more = bool(session.waiting) and bool(session.current)  # the next question still runs: Stop stays
        box = asked if not (typed or "").strip() else gr.skip()
        return box, view_of(session, session.shown_ahead), gr.update(visible=more)

    def new_conversation(self, request: gr.Request) -> tuple[list, str, list]:
        self._session(request).new_conversation()
        if not self._session(request).running:
            self.line.leave(_key(request))
        return [], render.EMPTY_SOURCES, []

    def restore(self, saved: object, request: gr.Request) -> tuple[Any, Any]:
        """On page load: bring back the conversation the browser kept (a reload must not lose it)."""
        session = self._session(request)
        with session.lock:
            if not session.restored and not session.turns and not session.busy:
                session.turns = restore_turns(saved)
                session.dates = dates_of(session.turns)
            session.restored = True
        return view_of(session), render.sources_panel(session.turns)

    def forget(self, request: gr.Request) -> None:
        self.line.leave(_key(request))
        self.sessions.drop(_key(request))

    def refresh(self, request: gr.Request) -> Any:
        """Polled by the page: keep the place in line current while this tab waits behind other readers'
        questions, and the explanation under a slow answer's status line (the seconds count on in the page)."""
        key = _key(request)
        session = self._session(request)
        others = self.line.ahead(key)
        with session.lock:
            if session.current and not session.drafting and session.stage \
                    and self.waiting.note(time.monotonic() - session.since) != session.slow_note:
                session.live = self._status(session)
                return view_of(session, others)
        if not others and not session.shown_ahead:
            return gr.skip()
        session.shown_ahead = others
        return view_of(session, others)

    def api_chat(self, question: str, request: gr.Request) -> Iterator[tuple[list[dict], str]]:
        """The `/chat` API: ask in this client's conversation; streams (chat messages, sources html)."""
        q = (question or "").strip()
        if not q:
            raise gr.Error("Type a question first.")
        session = self._session(request)
        with session.lock:
            session.waiting.append(q)
            if not session.running:
                self.line.join(_key(request))
        for _ in self.answer_waiting(request):
            yield view_of(session), render.sources_panel(session.turns)


def parse_history(history: str | list | None) -> list[dict]:
    """Accept "", a JSON string or a list of {"role", "content"} messages."""
    if history in (None, "", []):
        return []
    data = history
    if isinstance(history, str):
        try:
            data = json.loads(history)
        except json.JSONDecodeError as e:
            raise gr.Error(f"history is not valid JSON ({e.msg}).") from e
    ok = isinstance(data, list) and all(
        isinstance(m, dict) and m.get("role") in {"user", "assistant", "system"} and isinstance(m.get("content"), str)
        for m in data
    )
    if not ok:
        raise gr.Error('history must be a JSON list of {"role": "user"|"assistant", "content": "..."} messages.')
    return [{"role": m["role"], "content": m["content"]} for m in data]  # type: ignore[union-attr]


def make_ask(pipeline: PipelineAPI, warmup: Warmup) -> Callable[[str, str], dict]:
    """The `/ask` API: the same JSON as `rag ask --json`."""

    def ask(question: str, history: str = "") -> dict:
        """Answer a question about the news articles, with verified citations.

        Parameters:
            question: the question to answer
            history: optional earlier conversation, a JSON list of {"role", "content"} messages
        """
        msgs = parse_history(history)
        if not warmup.wait():
            raise gr.Error(warmup.error or "The models are not available.")
        try:
            return pipeline.answer(question or "", msgs).to_dict()
        except RagError as e:
            raise gr.Error(str(e)) from e
        except Exception as e:  # noqa: BLE001
            log.exception("ask %r failed", question)
            raise gr.Error(CRASH_MESSAGE) from e

    return ask
