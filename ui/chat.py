"""The chat and `ask` handlers: stream a pipeline answer into chat messages and per-turn state.

The conversation lives in a gr.State list of turns (question, final answer, citations with their
paragraph context, passages); the chatbot and the sources panel are re-rendered from it, so the
citations of earlier turns never change when the conversation goes on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from rag.errors import RagError
from rag.pipeline_api import PipelineAPI
from rag.schema import Answer
from ui import render
from ui.render import Turn
from ui.warmup import Warmup

log = logging.getLogger(__name__)

CRASH_MESSAGE = "Something went wrong while answering. The details are in the server log; please try again."
WRITING_MESSAGE = "Writing the answer… each sentence appears once it is checked against the articles."
LOADING_MESSAGE = "Loading models… your question will be answered as soon as they are ready."

Outputs = tuple[Any, list[dict], str, list[Turn]]  # (question box, chat messages, sources html, turns)


def history_of(turns: list[Turn]) -> list[dict]:
    """The plain-text conversation for the pipeline (no HTML), skipping failed turns."""
    out: list[dict] = []
    for t in turns:
        if t.get("final") and not t.get("error"):
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
        "query": d["query"],
        "notice": d["notice"],
        "citations": render.with_context(d["citations"], pipeline.document_text),
        "passages": d["passages"],
        "error": "",
    }


def failed_turn(n: int, question: str, error: str) -> Turn:
    return {"n": n, "question": question, "final": True, "answer": "", "refused": False, "query": "",
            "notice": "", "citations": [], "passages": [], "error": error}


def make_chat(pipeline: PipelineAPI, warmup: Warmup) -> Callable[[str, list[Turn] | None], Iterator[Outputs]]:
    """The streaming chat handler: yields (cleared box, messages, sources, turns) after each step."""

    def chat(question: str, turns: list[Turn] | None) -> Iterator[Outputs]:
        turns = list(turns or [])
        q = (question or "").strip()
        if not q:
            gr.Warning("Type a question first.")
            yield question, messages_of(turns), render.sources_panel(turns), turns
            return
        n = len(turns) + 1
        before = messages_of(turns) + [{"role": "user", "content": render.user_message(q)}]
        sources = render.sources_panel(turns)

        def view(assistant_html: str) -> Outputs:
            return "", before + [{"role": "assistant", "content": assistant_html}], sources, turns

        if not warmup.ready:
            yield view(render.status_message(LOADING_MESSAGE))
            if not warmup.wait():
                turns = turns + [failed_turn(n, q, warmup.error or "The models are not available.")]
                yield "", messages_of(turns), render.sources_panel(turns), turns
                return
        yield view(render.status_message("Searching the articles…"))
        draft, query, final = "", "", None
        try:
            for ev in pipeline.answer_stream(q, history_of(turns)):
                if ev.kind == "query":
                    query = str(ev.data or "")
                elif ev.kind == "passages":
                    msg = render.status_message(f"Reading {len(ev.data)} passages…")
                    yield view(msg + render.query_note(q, query))
                elif ev.kind == "writing":
                    yield view(render.status_message(WRITING_MESSAGE) + render.query_note(q, query))
                elif ev.kind == "token":
                    draft += str(ev.data)
                    yield view(render.draft_message(draft) + render.query_note(q, query))
                elif ev.kind == "answer":
                    final = ev.data
            if final is None:
                raise RagError("The answer was cut off before it finished. Please ask again.")
            turn = finish_turn(n, q, final, pipeline)
        except RagError as e:
            gr.Warning(str(e))
            turn = failed_turn(n, q, str(e))
        except Exception:  # noqa: BLE001 - users get a short message, the log gets the traceback
            log.exception("answering %r failed", q)
            turn = failed_turn(n, q, CRASH_MESSAGE)
        turns = turns + [turn]
        yield "", messages_of(turns), render.sources_panel(turns), turns

    return chat


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
