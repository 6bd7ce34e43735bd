"""Answering: retrieve, number the best evidence sentences, let the reader choose the one that answers (or none),
let it read only that sentence (two or three for a "why"), judge every sentence it writes against its quote, and
stream only what passed.

The reader decides which sentence answers and whether any does (its probability of NONE against the sentence numbers
at or above `RAG_REFUSE_THRESHOLD` refuses); the code and the reader as a judge decide what may be shown: a sentence
whose names, numbers, dates or quotations are not in its quote, that drops a qualifier, tells a plan as done, says
what the quote rejects, does not answer what was asked, or that the reader judges unsupported, is dropped. When
nothing written survives, the chosen sentence is quoted verbatim if it answers what was asked; else a refusal.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from rag import prompts
from rag.answer.context import AnswerCache, IndexContext, replay
from rag.answer.draft import REFUSAL_TEXT, Draft, asked_to_stop, attach_markers, draft_sentences, plain_start, \
    strip_markers
from rag.answer.choose import Choice, choose, choose_messages
from rag.answer.evidence import Unit, unresolved_pronoun
from rag.answer.followup import rewrite_query
from rag.answer.judge import NOT_ANSWER, answer_gap, judge, judge_messages
from rag.answer.dated import Dating
from rag.answer.explain import Explaining
from rag.answer.parts import Part, part_messages
from rag.answer.shape import COMPARE, question_shape
from rag.answer.when import AS_OF, LATEST, TIMELINE, intersect, reported_after
from rag.answer.verify import check_sentence
from rag.cpu import ANSWERS
from rag.errors import EmptyQuestionError
from rag.pipeline_api import Stop
from rag.schema import Answer, Citation, DateRange, StreamEvent
from rag.text import names_in, tokenize

log = logging.getLogger(__name__)

MAX_ANSWER_SENTENCES = 3
MAX_DRAFT_SENTENCES = 5  # the model may write a sentence that fails; stop it after this many


class Answerer(Explaining, Dating):
    def __init__(self, pipeline) -> None:
        self.pipeline = pipeline
        self.settings = pipeline.settings
        self.messages = prompts.load("messages")
        self._ctx: IndexContext | None = None
        self._cache = AnswerCache(self.settings.answer_cache)
        self._ctx_lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the reader and prime its prompt prefix in one thread while the index, the embedder and the
        evidence-sentence vectors load in this one (llama.cpp works outside the GIL)."""
        keep = self.settings.warm_cache
        gen = self.pipeline.generator  # built (not loaded) here: the property takes the pipeline's lock
        with ThreadPoolExecutor(1, thread_name_prefix="rag-reader") as pool:
            primed = pool.submit(self._prime_reader, gen, keep)
            n = self._context().prefill(keep=keep)
            primed.result()
        log.info("evidence selection: %s", f"embedded {n} sentences" if n else "sentence vectors read back")

    def _prime_reader(self, gen, keep: bool) -> None:
        """Run the fixed prefixes of the four prompts (choosing, reading, reading a part, judging) once, so their KV
        caches are ready for the first question (and restored, not read again, when an answer switches prompts)."""
        prefixes = [choose_messages("Is this a warm-up?", []), read_messages("Is this a warm-up?", []),
                    part_messages("Is this a warm-up?", ""), judge_messages("", "", "Is this a warm-up?")]
        prime = getattr(gen, "prime", None)
        if prime is not None:
            cache = self.settings.cache_path if keep else None
            for messages in prefixes:
                prime(messages, cache)
            if cache is not None and hasattr(gen, "forget_unprimed"):
                gen.forget_unprimed(cache)
            return
        gen.warm_up()
        for _ in gen.stream(prefixes[0], 1):
            pass

    def _context(self) -> IndexContext:
        retriever = self.pipeline.retriever
        with self._ctx_lock:
            if self._ctx is None or self._ctx.retriever is not retriever:
                self._ctx = IndexContext(retriever, self.pipeline.embedder, self.settings.evidence_units)
                self._cache.clear()  # answers are only as current as the index they were read from
            return self._ctx

    # ---------- public ----------
    def answer(self, question: str, history: Sequence[dict] | None = None, dates: DateRange | None = None
               ) -> Answer:
        final = None
        for event in self.answer_stream(question, history, dates=dates):
            if event.kind == "answer":
                final = event.data
        assert final is not None
        return final

    def answer_stream(self, question: str, history: Sequence[dict] | None = None,
                      stop: Stop | None = None, dates: DateRange | None = None) -> Iterator[StreamEvent]:
        """Events as in `StreamEvent`. `stop()` is asked before the model starts and at every piece it
        writes; once it says True the answer ends with the sentences already verified and streamed."""
        t0 = time.perf_counter()
        question, notice = self._validate(question)
        query = rewrite_query(question, history)
        ctx = self._context()
        dates = dates or DateRange()
        key = (question, query, dates, id(ctx))  # an answer read from an index swapped out meanwhile is not kept
        cached = self._cache.get(key)
        if cached is not None:
            yield from replay(cached, t0)
            return
        events = []
        with ANSWERS.answering():  # an upload's embedding in this process waits between its batches meanwhile
            for event in self._compute(question, notice, query, ctx, stop, t0, dates):
                events.append(event)
                yield event
        if events and events[-1].kind == "answer" and not events[-1].data.stopped and ctx is self._ctx:
            self._cache.put(key, events)

    def _compute(self, question: str, notice: str, query: str, ctx: IndexContext, stop: Stop | None,
                 t0: float, dates: DateRange) -> Iterator[StreamEvent]:
        """The question's time words first (`rag.answer.when`): a timeline is read report by report; "now" and "in
        March 2026" read the newest reports on the story in range (and the other reports of that moment where
        they differ); every answer's sentences say their source's date where it matters."""
        focus = self._time_focus(ctx, query)
        if focus.dates:
            dates = intersect(dates, focus.dates) if dates else focus.dates
        if focus.kind == TIMELINE:
            yield from self._timeline(ctx, question, notice, focus, dates, stop, t0)
            return
        shape = question_shape(query)
        moment: list[str] = []
        if focus.kind in (LATEST, AS_OF):
            query = focus.query
            if shape.kind != COMPARE:  # a comparison reads each side's own reports
                window, moment = self._moment(ctx, query, dates)
                if window is None and focus.dates.until and focus.dates.since:
                    # "in Sept 2015": what happened then is often reported after it (a month later at most)
                    window, moment = self._moment(ctx, query, reported_after(dates))
                dates = window or dates
        passages = ctx.retriever.search(query, self.settings.top_k, dates=dates)
        outlets = len({ctx.documents[d].outlet for d in moment if d in ctx.documents})
        with self._dating(self._dating_for(ctx, focus, query, passages, shape.kind == COMPARE, outlets)):
            for event in self._plain(question, notice, query, ctx, stop, t0, passages):
                if event.kind == "answer" and len(moment) > 1:
                    yield from self._others_of_moment(ctx, query, event.data, moment, stop, t0)
                    return
                yield event

    def _plain(self, question: str, notice: str, query: str, ctx: IndexContext, stop: Stop | None,
               t0: float, passages: list) -> Iterator[StreamEvent]:
        yield StreamEvent("query", query)
        timings = {"retrieve_ms": (time.perf_counter() - t0) * 1000}
        yield StreamEvent("passages", passages)
        units = ctx.selector.select(query, passages, ctx.documents, ctx.sentence_index)

        def finish(text: str, refused: bool, citations: list[Citation], stopped: bool = False) -> StreamEvent:
            timings.setdefault("first_token_ms", (time.perf_counter() - t0) * 1000)
            timings["total_ms"] = (time.perf_counter() - t0) * 1000
            return StreamEvent("answer", Answer(question, text, refused, citations, passages, query, timings,
                                                notice, stopped))

        if asked_to_stop(stop):
            yield finish("", False, [], stopped=True)
            return
        if not units:
            text = self.messages["no_documents"] if not ctx.documents else self.messages["refusal"]
            yield StreamEvent("token", text)
            yield finish(text, True, [])
            return

        yield StreamEvent("writing", None)
        gen = self.pipeline.generator
        s = self.settings
        shape = question_shape(query)
        if shape.parts:
            yield from self._explain(ctx, question, query, shape, passages, units, stop, timings, t0, finish)
            return
        choice = choose(gen, query, units, s.choose_weight)
        units = units[:len(choice.p)]
        timings["read_ms"] = (time.perf_counter() - t0) * 1000  # choosing is reading the evidence once
        refused = choice.p_none is not None and choice.p_none >= s.refuse_threshold
        if refused:
            stated = self._states_the_answer(ctx, query, units)
            if stated is None:
                # refuse after reading, not before: the best units by retrieval are read one at a time (the reader
                # may say NONE) and whatever the judge lets through is the answer
                order = [i for i in choice.order if units[i].score >= s.none_read_score][:s.none_reads]
                parts = [Part(i) for i in order]
                log.info("the reader sees no answer to %r (p_none=%.3f): reading %d units", question,
                         choice.p_none, len(parts))
                draft, numbers, citations = Draft(), {}, []
                stopped = yield from self._read_parts(ctx, query, units, parts, draft, stop, timings, t0, numbers,
                                                      citations, question_form=True, most=1)
                if draft.kept or stopped:
                    yield finish(self._text(draft, numbers), False, citations, stopped=stopped)
                    return
                yield from self._refuse(ctx, query, units, choice, finish)
                return
            log.info("the reader sees no answer to %r, but evidence %d states it: reading it", question, stated)
            choice.order = [stated] + [i for i in choice.order if i != stated]
        picked = sorted(choice.chosen(query, s.read_share), key=lambda i: (units[i].doc, units[i].start))
        numbers: dict[int, int] = {}
        citations: list[Citation] = []
        # when nothing the reader wrote from its first choice holds up, its next choice is read (the judge is a
        # better verifier than the choice is a ranker: the gold sentence is first half the time, in the top 3 most)
        tries = [picked] + [[i] for i in choice.order[1:s.read_tries] if i not in picked]
        first = None
        failed_kinds: list[str] = []  # why what the reader wrote was turned down, over all tries
        for attempt in tries:
            draft = Draft(failures=failed_kinds)
            first = first or draft
            stopped = yield from self._read(ctx, query, units, attempt, draft, stop, timings, t0, numbers, citations)
            if stopped or draft.kept:
                break
        draft = draft if draft.kept else first  # nothing held up: what the first choice's reading wrote decides
        timings["generate_ms"] = (time.perf_counter() - t0) * 1000 - timings["read_ms"]
        if stopped:  # the reader asked to stop: keep what was shown, neither refuse nor quote
            log.info("stopped %r after %d verified sentences", question, len(draft.kept))
            yield finish(self._text(draft, numbers), False, citations, stopped=True)
            return
        if not draft.kept:
            # nothing the reader wrote holds up: quote the sentence it chose, when that answers what was asked (or,
            # when the reader wrote nothing, the sentence that restates the whole question)
            wrote_nothing = not draft.text.strip() or bool(REFUSAL_TEXT.match(draft.text))
            stated = self._states_the_answer(ctx, query, units) if wrote_nothing else None
            best = choice.best if stated is None else stated
            quote = " ".join(units[best].text.split())
            gap = answer_gap(query, quote)
            if not gap and s.judge_model and not wrote_nothing:
                verdict = judge(gen, quote, units[best].text, question=query, threshold=s.judge_threshold)
                gap = "" if verdict.supported else verdict.reason  # what the reader wrote failed: is it there?
            if NOT_ANSWER in failed_kinds and stated is None:  # it read the sentence and found no such thing
                gap = gap or "holds no answer of the kind asked (the reader found none in it)"
            if gap or (wrote_nothing and stated is None):
                log.info("refusing %r: nothing written held up (%r) and the chosen sentence %s", question,
                         draft.text[:80], gap or "is not stated as the answer")
                yield from self._refuse(ctx, query, units, choice, finish)
                return
            draft.kept.append((quote, [best]))
            timings.setdefault("first_token_ms", (time.perf_counter() - t0) * 1000)
            yield StreamEvent("token", self._render(ctx, draft.kept[0], units, numbers, citations, first=True))
        yield finish(self._text(draft, numbers), False, citations)

    # ---------- steps ----------
    def _validate(self, question: str) -> tuple[str, str]:
        q = (question or "").strip()
        if not q or not re.search(r"\w", q):
            raise EmptyQuestionError(self.messages["empty_question"])
        limit = self.settings.max_question_chars
        if len(q) > limit:
            return q[:limit], self.messages["truncated"].format(length=len(q), limit=limit)
        return q, ""

    def _read(self, ctx: IndexContext, query: str, units: Sequence[Unit], picked: list[int], draft: Draft,
              stop: Stop | None, timings: dict, t0: float, numbers: dict[int, int], citations: list[Citation]
              ) -> Generator[StreamEvent, None, bool]:
        """Let the reader write from the `picked` units only, then stream each sentence the judge lets through.
        The reader's stream is closed before anything is judged: the judge asks the same model, whose one context
        the open stream holds. Returns whether the user asked to stop."""
        s = self.settings
        pieces = self.pipeline.generator.stream(read_messages(query, [units[i].text for i in picked]),
                                                s.max_new_tokens)
        stopped = False
        try:
            for piece in pieces:
                if asked_to_stop(stop):
                    stopped = True
                    break
                timings.setdefault("generate_first_ms", (time.perf_counter() - t0) * 1000)
                draft.text += piece
                if len(draft_sentences(draft.text)) > MAX_DRAFT_SENTENCES:
                    break
        finally:
            close = getattr(pieces, "close", None)
            if close:
                close()
        if not stopped:
            for kept in self._judge(ctx, query, draft, units, picked):
                timings.setdefault("first_token_ms", (time.perf_counter() - t0) * 1000)
                yield StreamEvent("token", self._render(ctx, kept, units, numbers, citations,
                                                        first=len(draft.kept) == 1) + " ")
                if asked_to_stop(stop):
                    return True
        return stopped

    def _judge(self, ctx: IndexContext, query: str, draft: Draft, units: Sequence[Unit], picked: list[int]
               ) -> Iterator[tuple[str, list[int]]]:
        """Judge the sentences of the reader's finished reply; yield those that hold up."""
        for raw in draft_sentences(draft.text)[draft.judged:]:
            draft.judged += 1
            sentence, _ = strip_markers(raw)
            if not sentence or REFUSAL_TEXT.match(sentence) or sentence.rstrip(".").endswith(":"):
                continue  # a refusal in words, or a sentence that only announces what follows
            if not draft.kept and unresolved_pronoun(sentence):  # "He proposed ..." asked about Ivanov: who?
                log.debug("draft sentence %r opens the answer with a pronoun nobody was named for", sentence)
                continue
            support = self._verify(ctx, query, sentence, units, picked, failures=draft.failures)
            if support is None or any(sentence == s for s, _ in draft.kept):
                continue
            draft.kept.append((sentence, support))
            yield draft.kept[-1]
            if len(draft.kept) >= MAX_ANSWER_SENTENCES:
                return

    def _verify(self, ctx: IndexContext, query: str, sentence: str, units: Sequence[Unit], picked: list[int],
                question_form: bool = True, failures: list[str] | None = None) -> list[int] | None:
        """The chosen units (one, or two it joins) that support `sentence`: its words, names and numbers are there
        (verify), no rule of the judge finds it reversed, hedged, planned or not an answer, and the reader judges
        it stated."""
        embedder = ctx.selector.embedder
        vec = embedder.embed([sentence])[0]
        ev_vecs = ctx.selector.vectors.get([(units[i].doc, units[i].start, units[i].end, units[i].text)
                                            for i in picked])
        given = set(tokenize(query))
        s = self.settings
        gen = self.pipeline.generator if s.judge_model else None
        support = check_sentence(sentence, [units[i].text for i in picked], [units[i].paragraph for i in picked],
                                 vec, ev_vecs, given=given, negation=False,  # the judge compares negation
                                 premise=query)
        if not support.ok:  # where the words are
            log.debug("draft sentence %r against units %s: %s", sentence, picked, support.reason)
            return None
        sources = sorted((picked[j] for j in support.sources), key=lambda i: (units[i].doc, units[i].start))
        quote = " ".join(units[i].text for i in sources)  # a sentence may join two of the chosen sentences
        verdict = judge(gen, sentence, quote, question=query if question_form else "", threshold=s.judge_threshold)
        log.debug("draft sentence %r for %r against units %s: %s", sentence, query, sources, verdict)
        if verdict.supported:
            return sources
        if failures is not None:
            failures.append(verdict.kind)
        return None

    def _states_the_answer(self, ctx: IndexContext, query: str, units: Sequence[Unit]) -> int | None:
        """A refusal is wrong while a sentence restates the whole question (all its terms, close in meaning)."""
        for i, u in enumerate(units):
            if u.lexical >= self.settings.stated_coverage and u.dense >= self.settings.stated_dense:
                return i
        return None

    def _render(self, ctx: IndexContext, kept: tuple[str, list[int]], units: Sequence[Unit],
                numbers: dict[int, int], citations: list[Citation], first: bool) -> str:
        sentence, sources = kept
        for i in sources:
            if i not in numbers:
                numbers[i] = len(numbers) + 1
                citations.append(self._citation(ctx, numbers[i], units[i]))
        return self._attach_marks(self._dated(ctx, sentence, [units[i] for i in sources], first), sources, numbers)

    def _text(self, draft: Draft, numbers: dict[int, int]) -> str:
        """The answer from the kept sentences, marked (and dated) as they were streamed."""
        return " ".join(self._attach_marks(self._as_shown(s, i == 0), src, numbers)
                        for i, (s, src) in enumerate(draft.kept))

    @staticmethod
    def _attach_marks(sentence: str, sources: list[int], numbers: dict[int, int]) -> str:
        return attach_markers(sentence, " ".join(f"[{numbers[i]}]" for i in sources))

    def _citation(self, ctx: IndexContext, n: int, u: Unit) -> Citation:
        d = ctx.documents[u.doc]
        also = getattr(ctx.retriever, "also_published_by", None)  # other outlets that ran the same story
        return Citation(n=n, doc=u.doc, title=d.title, published=d.published, quote=d.text[u.start:u.end],
                        start=u.start, end=u.end, outlet=d.outlet, published_approx=d.published_approx,
                        url=str(d.meta.get("url") or ""), author=d.author,
                        also_published_by=also(u.doc) if also else [])

    def _refuse(self, ctx: IndexContext, query: str, units: Sequence[Unit], choice: Choice, finish
                ) -> Iterator[StreamEvent]:
        """The refusal, shown and finished as the answer."""
        text, citations = self._refusal(ctx, query, units, choice)
        yield StreamEvent("token", text)
        yield finish(text, True, citations)

    def _refusal(self, ctx: IndexContext, query: str, units: Sequence[Unit], choice: Choice
                 ) -> tuple[str, list[Citation]]:
        """"The articles don't say", with the closest sentence (and what it points back to) only when it is about
        the question's subject: close in meaning, and naming whom the question names."""
        best = units[choice.best]
        asked = {n.lower() for n in names_in(query)}
        if best.dense < self.settings.closest_dense or (asked and not asked & {n.lower() for n in names_in(best.text)}):
            return self.messages["refusal"], []
        closest = plain_start(" ".join(best.text.split()))
        text = f"{self.messages['refusal']} {self.messages['refusal_closest']} {attach_markers(closest, '[1]')}"
        return text, [self._citation(ctx, 1, best)]



def read_messages(question: str, texts: Sequence[str]) -> list[dict]:
    """The narrow reading: only the chosen sentences, in article order, and the question."""
    p = prompts.load("read")
    text = " ".join(" ".join(t.split()) for t in texts)
    return [{"role": "system", "content": p["system"]},
            {"role": "user", "content": p["user"].format(text=text, question=question)}]


