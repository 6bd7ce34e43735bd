"""Answers that say when: the newest reports for "now" questions (and both, with outlet and date, where reports of
about the same date disagree), the reports of a time for "in March 2026", one dated sentence per report for "how
has it changed", and "As of 14 May 2026, ..." before a sentence whose source's date matters. A mixin of
`rag.answer.compose.Answerer`, whose reading, verifying, rendering and refusing it uses; the time words are read in
`rag.answer.when`.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from rag.answer.context import IndexContext
from rag.answer.draft import REFUSAL_TEXT, asked_to_stop, attach_markers, plain_start, strip_markers
from rag.answer.evidence import Unit
from rag.answer.judge import answer_gap, judge
from rag.answer.parts import Part, drop_premise, first_sentence, stands_alone
from rag.answer.verify import number_phrases
from rag.answer.when import (AS_OF, LATEST, TimeFocus, dated_prefix, intersect, newest_date, story_docs,
                             time_focus, window_before, with_prefix)
from rag.pipeline_api import Stop
from rag.schema import Answer, Citation, DateRange, StreamEvent

log = logging.getLogger(__name__)

MAX_TIMELINE = 6  # dated sentences in a "how has it changed" answer
DOC_TRIES = 2  # sentences of one report read before it is passed over
# modes of dating an answer's sentences
EVERY, WITH_OUTLET, FIGURES = "every", "outlet", "figures"
_FIGURE = re.compile(r"\d")
# "... were on strike on Tuesday": the date says when (not "published on Tuesday": that says what was published)
_WEEKDAY = re.compile(r"(?<!published)(?<!released)(?<!announced)(?<!issued),?\s+(?:on|last|this|by|since)\s+"
                      r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b(?=[\s,.;:!?])")
# what a timeline follows is a figure ("the number of workers on strike", "the reservoir's level", "her support")
_MEASURE = re.compile(r"\b(?:number|count|level|price|rate|share|size|total|figure|amount|cost|percentage|toll|"
                      r"estimate|tally|value|height|depth|population|support|rating|lead|poll numbers|numbers)\b",
                      re.I)


class Dating:
    """The time-aware paths of `Answerer` (its settings, pipeline, messages, _verify, _read_one, _citation)."""

    # ---------- which articles a question about a time reads ----------
    def _time_focus(self, ctx: IndexContext, query: str) -> TimeFocus:
        return time_focus(query, newest_date(ctx.documents.values()))

    def _moment(self, ctx: IndexContext, query: str, dates: DateRange) -> tuple[DateRange | None, list[str]]:
        """The days of the newest reports on the question's story within `dates` (a week up to the newest), and
        those reports; (None, []) when no dated report in range is about it."""
        passages = ctx.retriever.search(query, self.settings.top_k * 3, dates=dates)
        docs = [d for d in story_docs(query, passages, ctx.documents) if ctx.documents[d].published]
        if not docs:
            return None, []
        newest = max(ctx.documents[d].published[:10] for d in docs)
        window = intersect(window_before(newest), dates) if dates else window_before(newest)
        return window, [d for d in docs if window.contains(ctx.documents[d].published,
                                                           ctx.documents[d].published_approx)]

    def _dating_for(self, ctx: IndexContext, focus: TimeFocus, query: str, passages, compared: bool,
                    outlets: int) -> str | None:
        """How this answer's sentences say their date: every one for a question about now or a date (with the
        outlet where several report that moment); those with a figure when the story's reports differ in date;
        none for a comparison (its sides already lead with outlet and date)."""
        if compared:
            return None
        if focus.kind in (LATEST, AS_OF):
            return WITH_OUTLET if outlets > 1 else EVERY
        docs = story_docs(query, passages, ctx.documents)
        days = {ctx.documents[d].published[:10] for d in docs if ctx.documents[d].published}
        return FIGURES if len(days) > 1 else None

    # ---------- how a sentence says when ----------
    def _dating_state(self) -> threading.local:
        state = self.__dict__.get("_dating_local")
        if state is None:
            state = self.__dict__.setdefault("_dating_local", threading.local())
        return state

    @contextmanager
    def _dating(self, mode: str | None):
        state = self._dating_state()
        state.mode, state.shown = mode, {}
        try:
            yield
        finally:
            state.mode, state.shown = None, {}

    def _dated(self, ctx: IndexContext, sentence: str, units: Sequence[Unit], first: bool) -> str:
        """The sentence as shown: its plain start, and the date of its (newest) source where this answer says it."""
        state = self._dating_state()
        shown = plain_start(sentence) if first else sentence
        mode = getattr(state, "mode", None)
        if mode and units and (mode != FIGURES or _FIGURE.search(sentence)):
            doc = ctx.documents[max(units, key=lambda u: ctx.documents[u.doc].published or "").doc]
            prefix = dated_prefix(doc.published, doc.published_approx, doc.outlet if mode == WITH_OUTLET else "")
            if prefix:  # the date says when: "on Tuesday" counted from it is no longer needed
                shown = _WEEKDAY.sub("", shown)
            own = ctx.documents[units[0].doc]
            shown = with_prefix(prefix, shown, itertools.chain(
                [own.text], (d.text for d in ctx.documents.values() if d is not own)))
        if getattr(state, "shown", None) is not None:
            state.shown[sentence] = shown
        return shown

    def _as_shown(self, sentence: str, first: bool) -> str:
        shown = getattr(self._dating_state(), "shown", None) or {}
        return shown.get(sentence) or (plain_start(sentence) if first else sentence)

    # ---------- reading one report ----------
    def _report_units(self, ctx: IndexContext, asked: str, doc: str, figure: bool = True) -> list[Unit]:
        """The report's sentences to read for `asked`, best first (a figure is what changes between reports: its
        sentences come first)."""
        d = ctx.documents[doc]
        day = d.published[:10]
        own = [p for p in ctx.retriever.search(asked, 6, dates=DateRange(day, day)) if p.chunk.doc == doc][:3]
        units = ctx.selector.select(asked, own, ctx.documents, ctx.sentence_index, max_units=4)
        return sorted(units, key=lambda u: (not (figure and _FIGURE.search(u.text)), -u.score))[:DOC_TRIES]

    def _read_report(self, ctx: IndexContext, asked: str, doc: str, stop: Stop | None, timings: dict, t0: float,
                     question_form: bool, figure: bool = True, tried: list[Unit] | None = None,
                     first_reply: str | None = None) -> tuple[str, Unit] | None:
        """One sentence from this report's best evidence for `asked`, judged against it; None when its best
        sentences hold no answer (or the user asked to stop). `first_reply`: the first unit's reply, read ahead."""
        tried = self._report_units(ctx, asked, doc, figure) if tried is None else tried
        for at, unit in enumerate(tried):
            reply = first_reply if at == 0 and first_reply is not None else \
                self._read_one(asked, unit, stop, timings, t0)
            if reply is None:
                return None
            raw = first_sentence(reply)
            if raw is None:
                continue
            sentence, _ = strip_markers(drop_premise(raw, asked))
            if not sentence or REFUSAL_TEXT.match(sentence) or not stands_alone(sentence):
                continue
            if self._verify(ctx, asked, sentence, [unit], [0], question_form=question_form) is not None:
                return sentence, unit
            log.debug("report %s, unit %r: %r does not hold up for %r", doc, unit.text[:60], sentence, asked)
            quoted = self._quoted(asked, unit)
            if quoted is not None:
                return quoted
        return None

    def _quoted(self, asked: str, unit: Unit) -> tuple[str, Unit] | None:
        """What the reader wrote from the report's best sentence did not hold up: the sentence itself, verbatim,
        when it holds a figure and the judge takes it as an answer to what was asked (as `_plain` quotes it)."""
        quote = " ".join(unit.text.split())
        if not _FIGURE.search(quote) or answer_gap(asked, quote) or not self.settings.judge_model:
            return None
        verdict = judge(self.pipeline.generator, quote, unit.text, question=asked,
                        threshold=self.settings.judge_threshold)
        return (quote, unit) if verdict.supported else None

    def _cite(self, ctx: IndexContext, sentence: str, unit: Unit, citations: list[Citation], first: bool) -> str:
        n = len(citations) + 1
        citations.append(self._citation(ctx, n, unit))
        return attach_markers(self._dated(ctx, sentence, [unit], first), f"[{n}]")

    # ---------- "how has it changed": one dated sentence per report, oldest first ----------
    def _timeline(self, ctx: IndexContext, question: str, notice: str, focus: TimeFocus, dates: DateRange,
                  stop: Stop | None, t0: float) -> Iterator[StreamEvent]:
        s = self.settings
        yield StreamEvent("query", focus.query)
        passages = ctx.retriever.search(focus.query, s.top_k * 4, dates=dates)
        timings = {"retrieve_ms": (time.perf_counter() - t0) * 1000}
        yield StreamEvent("passages", passages[:s.top_k])
        docs = [d for d in story_docs(focus.query, passages, ctx.documents) if ctx.documents[d].published]
        docs = sorted(docs, key=lambda d: (ctx.documents[d].published, d))[-MAX_TIMELINE:]
        subject = focus.subject
        happened = f"What happened with {subject}?" if subject else focus.query
        asked = f"What was {subject}?" if subject and _MEASURE.search(subject) else happened
        log.info("timeline of %r: %d dated reports, each asked %r", question, len(docs), asked)
        yield StreamEvent("writing", None)
        texts: list[str] = []
        citations: list[Citation] = []
        figures: list[set[str]] = []
        stopped = False
        with self._dating(EVERY):
            plans = [self._report_units(ctx, asked, doc) for doc in docs]
            firsts = [p[0] for p in plans if p]  # each report's first sentence, read side by side
            ahead = self._read_together(asked, firsts, [Part(i) for i in range(len(firsts))], stop, timings,
                                        t0) or []
            replies = iter(ahead)
            for doc, tried in zip(docs, plans):
                if asked_to_stop(stop):
                    stopped = True
                    break
                first = next(replies, None) if tried else None
                found = self._read_report(ctx, asked, doc, stop, timings, t0, question_form=True, tried=tried,
                                          first_reply=first)
                if found is None and asked != happened:  # no figure in this report: what it says happened
                    found = self._read_report(ctx, happened, doc, stop, timings, t0, question_form=True,
                                              figure=False)
                if found is None:
                    continue
                sentence, unit = found
                said = number_phrases(sentence)
                if said and figures and said == figures[-1]:
                    continue  # the same figure again: one sentence per dated figure
                figures.append(said)
                text = self._cite(ctx, sentence, unit, citations, first=not texts)
                texts.append(text)
                timings.setdefault("first_token_ms", (time.perf_counter() - t0) * 1000)
                yield StreamEvent("token", text + " ")
        refused = not texts and not stopped
        text = self.messages["refusal"] if refused else " ".join(texts)
        if refused:
            yield StreamEvent("token", text)
        timings.setdefault("first_token_ms", (time.perf_counter() - t0) * 1000)
        timings["total_ms"] = (time.perf_counter() - t0) * 1000
        yield StreamEvent("answer", Answer(question, text, refused, citations, passages[:s.top_k], focus.query,
                                           timings, notice, stopped))

    # ---------- "now": the other reports of that moment, where they differ ----------
    def _others_of_moment(self, ctx: IndexContext, query: str, answer: Answer, moment: list[str],
                          stop: Stop | None, t0: float) -> Iterator[StreamEvent]:
        """After an answer from the newest reports: each other report of about that date from another outlet is
        read too, and its sentence added when its figures differ from what the answer says (both are stated,
        each with its outlet and date). Yields the added tokens, then the answer (changed or not)."""
        if answer.refused or answer.stopped:
            yield StreamEvent("answer", answer)
            return
        cited = {c.doc for c in answer.citations}
        outlets = {c.outlet for c in answer.citations}
        said = number_phrases(answer.answer)
        citations = list(answer.citations)
        text = answer.answer
        timings = dict(answer.timings)
        with self._dating(WITH_OUTLET):
            for doc in moment:
                if doc in cited or ctx.documents[doc].outlet in outlets or asked_to_stop(stop):
                    continue
                found = self._read_report(ctx, query, doc, stop, timings, t0, question_form=True)
                figures = number_phrases(found[0]) if found else set()
                if not figures or figures <= said:
                    continue
                added = self._cite(ctx, found[0], found[1], citations, first=False)
                log.info("reports of about the same date differ: adding %r", added)
                text = f"{text} {added}"
                outlets.add(ctx.documents[doc].outlet)
                said |= figures
                yield StreamEvent("token", " " + added)
        timings["total_ms"] = (time.perf_counter() - t0) * 1000
        yield StreamEvent("answer", dataclasses.replace(answer, answer=text, citations=citations, timings=timings))
