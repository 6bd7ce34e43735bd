"""Answering: retrieve, number the best evidence sentences, let the model read them and write the answer,
verify every sentence it writes against the evidence it cites, and stream only what passed.

The model decides what the answer is, or that the evidence does not hold one ("NONE", or a refusal
probability above `RAG_REFUSE_THRESHOLD`); the code decides what may be shown: a sentence whose names,
numbers, dates or quotations are not in its evidence, whose negation differs, or whose content is not
covered, is dropped. When nothing the model wrote survives, the evidence it cited is quoted verbatim.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from rag import prompts
from rag.answer.context import AnswerCache, IndexContext, replay
from rag.answer.draft import Draft, attach_markers, draft_sentences, plain_start, strip_markers
from rag.answer.evidence import Unit, unresolved_pronoun
from rag.answer.followup import rewrite_query
from rag.answer.verify import check_sentence
from rag.errors import EmptyQuestionError
from rag.pipeline_api import Stop
from rag.schema import Answer, Citation, StreamEvent
from rag.text import names_in, tokenize

log = logging.getLogger(__name__)

MAX_ANSWER_SENTENCES = 3
MAX_DRAFT_SENTENCES = 5  # the model may write a sentence that fails; stop it after this many
REFUSAL_WORD = "NONE"
# How a reader model says "the sentences don't say" when it does not use the word it was asked to use.
REFUSAL_TEXT = re.compile(r"^\W*(none\b|no\b[^.]*\b(answer|information|mention)|(the )?(sentences|articles|text|"
                          r"quotes)\s+(do|does|did)\s*n[o']t|there is no|it is not (mentioned|stated|said|clear)|"
                          r"(this|that) is not (mentioned|stated)|not (mentioned|stated|specified|given|provided)|"
                          r"i (do not|don't|cannot|can't) (know|find|answer))", re.I)


class Answerer:
    def __init__(self, pipeline) -> None:
        self.pipeline = pipeline
        self.settings = pipeline.settings
        self.messages = prompts.load("messages")
        self.prompt = prompts.load("answer")
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
        """Run the fixed prompt prefix once, so its KV cache is ready for the first question."""
        messages = self._messages("Is this a warm-up?", [])
        prime = getattr(gen, "prime", None)
        if prime is not None:
            prime(messages, self.settings.cache_path if keep else None)
            return
        gen.warm_up()
        for _ in gen.stream(messages, 1):
            pass

    def _context(self) -> IndexContext:
        retriever = self.pipeline.retriever
        with self._ctx_lock:
            if self._ctx is None or self._ctx.retriever is not retriever:
                self._ctx = IndexContext(retriever, self.pipeline.embedder, self.settings.evidence_units)
                self._cache.clear()  # answers are only as current as the index they were read from
            return self._ctx

    # ---------- public ----------
    def answer(self, question: str, history: Sequence[dict] | None = None) -> Answer:
        final = None
        for event in self.answer_stream(question, history):
            if event.kind == "answer":
                final = event.data
        assert final is not None
        return final

    def answer_stream(self, question: str, history: Sequence[dict] | None = None,
                      stop: Stop | None = None) -> Iterator[StreamEvent]:
        """Events as in `StreamEvent`. `stop()` is asked before the model starts and at every piece it
        writes; once it says True the answer ends with the sentences already verified and streamed."""
        t0 = time.perf_counter()
        question, notice = self._validate(question)
        query = rewrite_query(question, history)
        ctx = self._context()
        key = (question, query, id(ctx))  # an answer read from an index swapped out meanwhile is not kept
        cached = self._cache.get(key)
        if cached is not None:
            yield from replay(cached, t0)
            return
        events = []
        for event in self._compute(question, notice, query, ctx, stop, t0):
            events.append(event)
            yield event
        if events and events[-1].kind == "answer" and not events[-1].data.stopped and ctx is self._ctx:
            self._cache.put(key, events)

    def _compute(self, question: str, notice: str, query: str, ctx: IndexContext, stop: Stop | None,
                 t0: float) -> Iterator[StreamEvent]:
        yield StreamEvent("query", query)
        passages = ctx.retriever.search(query, self.settings.top_k)
        timings = {"retrieve_ms": (time.perf_counter() - t0) * 1000}
        yield StreamEvent("passages", passages)
        units = ctx.selector.select(query, passages, ctx.documents, ctx.sentence_index)

        def finish(text: str, refused: bool, citations: list[Citation], stopped: bool = False) -> StreamEvent:
            timings.setdefault("first_token_ms", (time.perf_counter() - t0) * 1000)
            timings["total_ms"] = (time.perf_counter() - t0) * 1000
            return StreamEvent("answer", Answer(question, text, refused, citations, passages, query, timings,
                                                notice, stopped))

        if _asked_to_stop(stop):
            yield finish("", False, [], stopped=True)
            return
        if not units:
            text = self.messages["no_documents"] if not ctx.documents else self.messages["refusal"]
            yield StreamEvent("token", text)
            yield finish(text, True, [])
            return

        yield StreamEvent("writing", None)
        messages = self._messages(query, units)
        gen = self.pipeline.generator
        p_refuse = _refusal_probability(gen, messages)
        timings["read_ms"] = (time.perf_counter() - t0) * 1000
        draft = Draft()
        refused = p_refuse is not None and p_refuse >= self.settings.refuse_threshold
        numbers: dict[int, int] = {}
        citations: list[Citation] = []
        stopped = False
        if not refused:
            pieces = gen.stream(messages, self.settings.max_new_tokens)
            try:
                for piece in pieces:
                    if _asked_to_stop(stop):
                        stopped = True
                        break
                    timings.setdefault("generate_first_ms", (time.perf_counter() - t0) * 1000)
                    draft.text += piece
                    if not draft.kept and REFUSAL_TEXT.match(draft.text) and not draft.judged:
                        refused = True
                        break
                    for sentence in self._judge(ctx, query, draft, units, final=False):
                        timings.setdefault("first_token_ms", (time.perf_counter() - t0) * 1000)
                        yield StreamEvent("token", self._render(ctx, sentence, units, numbers, citations,
                                                                first=len(draft.kept) == 1) + " ")
                    if len(draft.kept) >= MAX_ANSWER_SENTENCES or draft.judged >= MAX_DRAFT_SENTENCES:
                        break
            finally:
                close = getattr(pieces, "close", None)
                if close:
                    close()
            if not refused and not stopped:  # a model that wrote nothing, or only a refusal in its own words
                refused = not draft.kept and (not draft.text.strip() or bool(REFUSAL_TEXT.match(draft.text)))
            if not refused and not stopped:
                for sentence in self._judge(ctx, query, draft, units, final=True):
                    timings.setdefault("first_token_ms", (time.perf_counter() - t0) * 1000)
                    yield StreamEvent("token", self._render(ctx, sentence, units, numbers, citations,
                                                            first=len(draft.kept) == 1) + " ")
        timings["generate_ms"] = (time.perf_counter() - t0) * 1000 - timings["read_ms"]
        if stopped:  # the reader asked to stop: keep what was shown, neither refuse nor quote
            log.info("stopped %r after %d verified sentences", question, len(draft.kept))
            yield finish(self._text(draft, numbers), False, citations, stopped=True)
            return
        if refused:
            stated = self._states_the_answer(ctx, query, units)
            if stated is None:
                log.info("refusing %r (p_refuse=%s, draft=%r)", question, p_refuse, draft.text[:80])
                text, citations = self._refusal(ctx, units)
                yield StreamEvent("token", text)
                yield finish(text, True, citations)
                return
            log.info("the model refused %r, but evidence %d states it: quoting it", question, stated)
            draft.cited = [stated]
        if not draft.kept:
            # nothing the model wrote holds up: quote the evidence it pointed at (or the best evidence)
            best = next((i for i in draft.cited if 0 <= i < len(units)), _best(units))
            draft.kept.append((" ".join(units[best].text.split()), [best]))
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

    def _messages(self, question: str, units: Sequence[Unit]) -> list[dict]:
        p = self.prompt
        msgs = [{"role": "system", "content": p["system"]}]
        for ex in p.get("examples", []):
            msgs.append({"role": "user", "content": p["user"].format(sentences=ex["sentences"].strip(),
                                                                     question=ex["question"])})
            msgs.append({"role": "assistant", "content": ex["answer"].strip()})
        sentences = "\n".join(f"[{i + 1}] {' '.join(u.text.split())}" for i, u in enumerate(units))
        msgs.append({"role": "user", "content": p["user"].format(sentences=sentences, question=question)})
        return msgs

    def _judge(self, ctx: IndexContext, query: str, draft: Draft, units: Sequence[Unit], final: bool
               ) -> Iterator[tuple[str, list[int]]]:
        """Verify the sentences the model has completed since last time; yield those that hold up."""
        sentences = draft_sentences(draft.text)
        complete = sentences if final else sentences[:-1]
        for raw in complete[draft.judged:]:
            draft.judged += 1
            sentence, cited = strip_markers(raw)
            cited = [i - 1 for i in cited if 1 <= i <= len(units)]
            draft.cited += [i for i in cited if i not in draft.cited]
            if not sentence or REFUSAL_TEXT.match(sentence) or sentence.rstrip(".").endswith(":"):
                continue  # a refusal in words, or a sentence that only announces what follows
            if not draft.kept and unresolved_pronoun(sentence) and not names_in(query):
                log.debug("draft sentence %r opens the answer with a pronoun nobody was named for", sentence)
                continue
            support = self._verify(ctx, query, sentence, cited, units)
            log.debug("draft sentence %r cites %s: %s", sentence, cited, support)
            if support is None:
                continue
            if any(sentence == s for s, _ in draft.kept):
                continue
            draft.kept.append((sentence, support))
            yield draft.kept[-1]
            if len(draft.kept) >= MAX_ANSWER_SENTENCES:
                return

    def _verify(self, ctx: IndexContext, query: str, sentence: str, cited: list[int], units: Sequence[Unit]
                ) -> list[int] | None:
        """The units that support `sentence`: those it cites when they do, else any that do; None if none."""
        embedder = ctx.selector.embedder
        vec = embedder.embed([sentence])[0]
        ev_vecs = ctx.selector.vectors.get([(u.doc, u.start, u.end, u.text) for u in units])
        given = set(tokenize(query))
        for pool in ([i for i in cited], list(range(len(units)))):
            if not pool:
                continue
            support = check_sentence(sentence, [units[i].text for i in pool], [units[i].paragraph for i in pool],
                                     vec, ev_vecs[pool], given=given)
            if support.ok:
                return [pool[i] for i in support.sources]
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
        return self._attach_marks(sentence, sources, numbers, first)

    def _text(self, draft: Draft, numbers: dict[int, int]) -> str:
        """The answer from the kept sentences, marked as they were streamed."""
        return " ".join(self._attach_marks(s, src, numbers, first=i == 0) for i, (s, src) in enumerate(draft.kept))

    @staticmethod
    def _attach_marks(sentence: str, sources: list[int], numbers: dict[int, int], first: bool) -> str:
        if first:
            sentence = plain_start(sentence)
        return attach_markers(sentence, " ".join(f"[{numbers[i]}]" for i in sources))

    def _citation(self, ctx: IndexContext, n: int, u: Unit) -> Citation:
        d = ctx.documents[u.doc]
        return Citation(n=n, doc=u.doc, title=d.title, published=d.published, quote=d.text[u.start:u.end],
                        start=u.start, end=u.end, outlet=d.outlet, published_approx=d.published_approx)

    def _refusal(self, ctx: IndexContext, units: Sequence[Unit]) -> tuple[str, list[Citation]]:
        """"The articles don't say", with the closest passage only when it is about the question."""
        best = units[_best(units)]
        if best.dense < self.settings.closest_dense:
            return self.messages["refusal"], []
        closest = plain_start(" ".join(best.text.split()))
        text = f"{self.messages['refusal']} {self.messages['refusal_closest']} {attach_markers(closest, '[1]')}"
        return text, [self._citation(ctx, 1, best)]


def _asked_to_stop(stop: Stop | None) -> bool:
    return stop is not None and bool(stop())


def _best(units: Sequence[Unit]) -> int:
    """The best-scoring unit (the prompt shows them in reading order, not by score)."""
    return max(range(len(units)), key=lambda i: units[i].score)


def _refusal_probability(gen, messages: list[dict]) -> float | None:
    """The model's own probability that its reply starts with the refusal word (None: the runtime can't say)."""
    probe = getattr(gen, "first_token_probs", None)
    if probe is None:
        return None
    probs = probe(messages, [REFUSAL_WORD])
    return None if not probs else float(probs.get(REFUSAL_WORD, 0.0))


