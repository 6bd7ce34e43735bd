"""Answers with parts, as the answering stage reads them (see `rag.answer.parts` for the selection): the units a why,
compare or what-about question reads one at a time, each sentence judged against its own unit and streamed as soon
as it passes; and the same reading of single units that lets a factoid be answered after the reader's NONE (a refusal
comes after reading, not before it). A mixin of `rag.answer.compose.Answerer`, whose verifying, rendering and refusing
it uses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Iterator, Sequence

from rag.answer.choose import Choice
from rag.answer.context import IndexContext
from rag.answer.draft import REFUSAL_TEXT, Draft, asked_to_stop, strip_markers
from rag.answer.evidence import Unit, read_on
from rag.answer.judge import judge
from rag.answer.parts import (MAX_PARTS, PART_RANK_PENALTY, PART_READS, PART_UNITS, Part, drop_premise, first_sentence,
                              invented_purpose, part_messages, pick_parts, pick_sides, repeats, sentence_done,
                              side_label, stands_alone)
from rag.answer.shape import Shape, sides_of
from rag.pipeline_api import Stop
from rag.schema import Citation, StreamEvent

log = logging.getLogger(__name__)


class Explaining:
    """The parts path of `Answerer` (its settings, pipeline, messages, _verify, _render, _text, _refuse, _refusal)."""

    def _explain(self, ctx: IndexContext, question: str, query: str, shape: Shape, passages, units: list[Unit],
                 stop: Stop | None, timings: dict, t0: float, finish) -> Iterator[StreamEvent]:
        """An answer with parts: up to four units that each add something (for a comparison, each side's best
        units in turn, its outlet and date leading its sentence), each read alone, judged against itself, and
        streamed as soon as it passes. Nothing passes: the best unit quoted, when the judge takes it as an answer;
        else a refusal."""
        s = self.settings
        sides = sides_of(shape, ctx.documents, [p.chunk.doc for p in passages])
        if sides:  # each side's own best passages, so neither side goes without evidence
            more = ctx.retriever.search(query, s.top_k * 4)
            units = []
            for side in sides:
                own = [p for p in more if p.chunk.doc in side][:3]
                units += ctx.selector.select(query, own, ctx.documents, ctx.sentence_index, max_units=4,
                                             rank_penalty=PART_RANK_PENALTY)
        else:
            units = ctx.selector.select(query, passages, ctx.documents, ctx.sentence_index, max_units=PART_UNITS,
                                        rank_penalty=PART_RANK_PENALTY)
        units = [read_on(u, ctx.documents[u.doc].text, ctx.sentence_index.get(u.doc, [])) for u in units]
        timings["read_ms"] = (time.perf_counter() - t0) * 1000
        if not units:
            text = self.messages["refusal"]
            yield StreamEvent("token", text)
            yield finish(text, True, [])
            return
        vecs = ctx.selector.vectors.get([(u.doc, u.start, u.end, u.text) for u in units])
        if sides:
            order = pick_sides(units, sides, vecs, PART_READS)
            parts = [Part(i, side_label(ctx.documents[units[i].doc])) for i in order]
        else:
            parts = [Part(i) for i in pick_parts(units, vecs, PART_READS, s.part_floor)]
        draft, numbers, citations = Draft(), {}, []
        # a side of a comparison is judged as a claim (does its own unit say it?): one side is not the whole answer
        # to "how do they differ", and the question/answer form marks it down for that
        stopped = yield from self._read_parts(ctx, query, units, parts, draft, stop, timings, t0, numbers, citations,
                                              question_form=not sides, most=MAX_PARTS)
        timings["generate_ms"] = (time.perf_counter() - t0) * 1000 - timings["read_ms"]
        if draft.kept or stopped:
            yield finish(self._text(draft, numbers), False, citations, stopped=stopped)
            return
        best = max(range(len(units)), key=lambda i: units[i].score)
        choice = Choice([best] + [i for i in range(len(units)) if i != best], [0.0] * len(units), None)
        quote = " ".join(units[best].text.split())
        verdict = judge(self.pipeline.generator if s.judge_model else None, quote, units[best].text,
                        question=query, threshold=s.judge_threshold)
        if not verdict.supported or not s.judge_model:
            log.info("refusing %r: no part held up", question)
            yield from self._refuse(ctx, query, units, choice, finish)
            return
        draft.kept.append((quote, [best]))
        yield StreamEvent("token", self._render(ctx, draft.kept[0], units, numbers, citations, first=True))
        yield finish(self._text(draft, numbers), False, citations)

    def _read_parts(self, ctx: IndexContext, query: str, units: Sequence[Unit], parts: Sequence[Part], draft: Draft,
                    stop: Stop | None, timings: dict, t0: float, numbers: dict[int, int],
                    citations: list[Citation], *, question_form: bool, most: int
                    ) -> Generator[StreamEvent, None, bool]:
        """Read each part's unit alone (one sentence, or NONE), judge the sentence against that unit, and stream
        it when it passes, stands on its own and adds something. Returns whether the user asked to stop."""
        # the first part is read alone, so its sentence is shown as soon as it passes; the rest are read side by
        # side where the reader can (four replies in one pass cost little more than one)
        together: list[str] | None = None
        for at, part in enumerate(parts):
            if len(draft.kept) >= most:
                break
            if asked_to_stop(stop):
                return True
            if at == 1:
                together = self._read_together(query, units, parts[1:], stop, timings, t0)
                if asked_to_stop(stop):
                    return True
            reply = together[at - 1] if together is not None else self._read_one(_asked(query, part),
                                                                                units[part.unit], stop, timings, t0)
            if reply is None:
                return True
            raw = first_sentence(reply)
            log.debug("part from unit %d %r: the reader wrote %r", part.unit, units[part.unit].text[:60], reply)
            if raw is None:
                continue
            sentence, _ = strip_markers(drop_premise(raw, query))
            if REFUSAL_TEXT.match(sentence) or not stands_alone(sentence) or \
                    repeats(sentence, [k for k, _ in draft.kept]) or \
                    invented_purpose(sentence, query, units[part.unit].text):
                log.debug("part %r from unit %d dropped: a refusal, leaning on what it cannot see, said, or a purpose "
                          "the quote does not give",
                          sentence, part.unit)
                continue
            support = self._verify(ctx, query, sentence, units, [part.unit], question_form=question_form)
            if support is None:
                continue
            shown = f"{part.side}: {sentence}" if part.side else sentence
            draft.kept.append((shown, support))
            timings.setdefault("first_token_ms", (time.perf_counter() - t0) * 1000)
            yield StreamEvent("token", self._render(ctx, draft.kept[-1], units, numbers, citations,
                                                    first=len(draft.kept) == 1) + " ")
        return False

    def _read_together(self, query: str, units: Sequence[Unit], parts: Sequence[Part], stop: Stop | None,
                       timings: dict, t0: float) -> list[str] | None:
        """These parts' replies at once, written side by side (`read_many`: a step that writes four replies costs
        little more than one that writes one); None where the reader cannot, or there is one part."""
        read_many = getattr(self.pipeline.generator, "read_many", None)
        if read_many is None or len(parts) < 2 or self.settings.llm_parallel < 2 or asked_to_stop(stop):
            return None
        timings.setdefault("generate_first_ms", (time.perf_counter() - t0) * 1000)
        prompts = [part_messages(_asked(query, p), units[p.unit].text) for p in parts]
        return read_many(prompts, self.settings.part_tokens, until=lambda text: sentence_done(text)
                         or asked_to_stop(stop))

    def _read_one(self, asked: str, unit: Unit, stop: Stop | None, timings: dict, t0: float) -> str | None:
        """One part's reply, streamed up to its first sentence; None when the user asked to stop."""
        reply = ""
        pieces = self.pipeline.generator.stream(part_messages(asked, unit.text), self.settings.part_tokens)
        try:
            for piece in pieces:
                timings.setdefault("generate_first_ms", (time.perf_counter() - t0) * 1000)
                reply += piece
                if sentence_done(reply):
                    break  # one sentence is all a part is asked for
                if asked_to_stop(stop):
                    return None
        finally:
            close = getattr(pieces, "close", None)
            if close:
                close()
        return reply


def _asked(query: str, part: Part) -> str:
    """The question as a part's reading asks it: a side of a comparison is told which text it reads."""
    return f"{query} Answer only for this text, from {part.side}." if part.side else query
