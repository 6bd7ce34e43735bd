"""Evidence-first answering: retrieve, pick evidence sentences, let the model phrase an answer from them,
verify every sentence it wrote, and cite verbatim quotes. The answer is never worse than quoting the evidence.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass


from rag import prompts
from rag.errors import EmptyQuestionError
from rag.evidence import EvidenceSelector, EvidenceSentence, Selection, document_idf
from rag.followup import rewrite_query
from rag.keyword import tokenize
from rag.schema import Answer, Citation, Document, Passage, StreamEvent
from rag.verify import check_sentence, split_answer

log = logging.getLogger(__name__)

MAX_ANSWER_SENTENCES = 3
MAX_DRAFT_SENTENCES = 2


@dataclass
class Unit:
    """One citable piece of evidence: a sentence plus the neighbour that says who said it or when."""

    doc: str
    start: int
    end: int
    text: str
    paragraph: str


class IndexContext:
    """What answering needs from one index version, computed once per version."""

    def __init__(self, retriever, embedder) -> None:
        self.retriever = retriever
        data = retriever.data
        self.documents: dict[str, Document] = data.documents
        spans: dict[str, set[tuple[int, int]]] = {}
        for c in data.chunks:
            spans.setdefault(c.doc, set()).update((s.start, s.end) for s in c.sentences)
        self.sentence_index = {d: sorted(s) for d, s in spans.items()}
        self._sentences = [(d, a, b, self.documents[d].text[a:b]) for d, spans_ in self.sentence_index.items()
                           for a, b in spans_ if d in self.documents]
        # sentence-level document frequencies: chunks are too few in a small corpus to weigh words well
        texts = {(d, a): t for d, a, _, t in self._sentences}
        idf = document_idf([set(tokenize(t)) for t in texts.values()])
        self.selector = EvidenceSelector(embedder, idf)

    def prefill(self) -> int:
        """Embed every sentence now, when the corpus is small enough to keep them all: questions then pay
        only for the query (~200 ms less before the first token on 2 cores). Returns how many were embedded."""
        if len(self._sentences) > self.selector.vectors.capacity:
            return 0
        self.selector.vectors.get(self._sentences)
        return len(self._sentences)


class Answerer:
    def __init__(self, pipeline) -> None:
        self.pipeline = pipeline
        self.settings = pipeline.settings
        self.messages = prompts.load("messages")
        self.prompt = prompts.load("answer")
        self._ctx: IndexContext | None = None

    def warm_up(self) -> None:
        self.pipeline.generator.warm_up()
        n = self._context().prefill()
        log.info("embedded %d sentences for evidence selection", n)

    def _context(self) -> IndexContext:
        retriever = self.pipeline.retriever
        if self._ctx is None or self._ctx.retriever is not retriever:
            self._ctx = IndexContext(retriever, self.pipeline.embedder)
        return self._ctx

    # ---------- public ----------
    def answer(self, question: str, history: Sequence[dict] | None = None) -> Answer:
        final = None
        for event in self.answer_stream(question, history):
            if event.kind == "answer":
                final = event.data
        assert final is not None
        return final

    def answer_stream(self, question: str, history: Sequence[dict] | None = None) -> Iterator[StreamEvent]:
        t0 = time.perf_counter()
        question, notice = self._validate(question)
        query = rewrite_query(question, history)
        yield StreamEvent("query", query)
        ctx = self._context()
        passages = ctx.retriever.search(query, self.settings.top_k)
        timings = {"retrieve_ms": (time.perf_counter() - t0) * 1000}
        yield StreamEvent("passages", passages)

        selection = ctx.selector.select(query, passages, ctx.documents, ctx.sentence_index)
        units = [self._unit(ctx, s, selection, query) for s in selection.sentences]
        if not selection.answerable:
            log.info("refusing %r: %s", question, selection.reason)
            text, citations = self._refusal(ctx, selection, passages, query)
            timings["first_token_ms"] = (time.perf_counter() - t0) * 1000
            yield StreamEvent("token", text)
            timings["total_ms"] = (time.perf_counter() - t0) * 1000
            yield StreamEvent("answer", Answer(question, text, True, citations, passages, query, timings, notice))
            return

        messages = self._messages(question, units)
        draft = ""
        first = None
        pieces = self.pipeline.generator.stream(messages, self.settings.max_new_tokens)
        try:
            for piece in pieces:
                if first is None:
                    first = time.perf_counter()
                    timings["first_token_ms"] = (first - t0) * 1000
                draft += piece
                yield StreamEvent("token", piece)
                if _sentence_ends(draft) >= MAX_DRAFT_SENTENCES:
                    break  # the answer is meant to be short: stop the model here
        finally:
            close = getattr(pieces, "close", None)
            if close:
                close()
        if first is None:
            timings["first_token_ms"] = (time.perf_counter() - t0) * 1000
        t_gen = time.perf_counter()
        text, citations = self._compose(ctx, draft, units)
        timings["verify_ms"] = (time.perf_counter() - t_gen) * 1000
        timings["total_ms"] = (time.perf_counter() - t0) * 1000
        yield StreamEvent("answer", Answer(question, text, False, citations, passages, query, timings, notice))

    # ---------- steps ----------
    def _validate(self, question: str) -> tuple[str, str]:
        q = (question or "").strip()
        if not q or not re.search(r"\w", q):
            raise EmptyQuestionError(self.messages["empty_question"])
        limit = self.settings.max_question_chars
        if len(q) > limit:
            return q[:limit], self.messages["truncated"].format(length=len(q), limit=limit)
        return q, ""

    def _unit(self, ctx: IndexContext, s: EvidenceSentence, selection: Selection, query: str) -> Unit:
        text = ctx.documents[s.doc].text
        parts = sorted([s, *s.context], key=lambda x: x.start)
        a, b = parts[0].start, parts[-1].end
        pa = text.rfind("\n", 0, a) + 1
        pb = text.find("\n", b)
        paragraph = text[pa : pb if pb >= 0 else len(text)]
        return Unit(s.doc, a, b, text[a:b], paragraph)

    def _messages(self, question: str, units: list[Unit]) -> list[dict]:
        quotes = "\n".join(f"[{i + 1}] {' '.join(u.text.split())}" for i, u in enumerate(units))
        return [
            {"role": "system", "content": self.prompt["system"]},
            {"role": "user", "content": self.prompt["user"].format(quotes=quotes, question=question)},
        ]

    def _compose(self, ctx: IndexContext, draft: str, units: list[Unit]) -> tuple[str, list[Citation]]:
        """Keep the model's sentences that the evidence supports; quote the evidence for the rest."""
        sentences = split_answer(draft)[:MAX_ANSWER_SENTENCES]
        embedder = ctx.selector.embedder
        vecs = embedder.embed(sentences) if sentences else None
        ev_vecs = ctx.selector.vectors.get([(u.doc, u.start, u.end, u.text) for u in units])
        kept: list[tuple[str, list[int]]] = []
        for i, s in enumerate(sentences):
            support = check_sentence(s, [u.text for u in units], [u.paragraph for u in units],
                                     None if vecs is None else vecs[i], ev_vecs)
            log.debug("draft sentence %r: %s", s, support)
            if support.ok:
                kept.append((s, support.sources))
        cited = {i for _, src in kept for i in src}
        # every piece of evidence is in the answer, in the model's words or its own
        for i, u in enumerate(units):
            if i in cited or len(kept) >= MAX_ANSWER_SENTENCES:
                continue
            kept.append((" ".join(u.text.split()), [i]))
            cited.add(i)
        return self._render(ctx, kept, units)

    def _render(self, ctx: IndexContext, kept: list[tuple[str, list[int]]], units: list[Unit]
                ) -> tuple[str, list[Citation]]:
        numbers: dict[int, int] = {}
        citations: list[Citation] = []
        out = []
        for sentence, sources in kept:
            marks = []
            for i in sources:
                if i not in numbers:
                    numbers[i] = len(numbers) + 1
                    citations.append(self._citation(ctx, numbers[i], units[i]))
                marks.append(f"[{numbers[i]}]")
            out.append(_attach(sentence, " ".join(marks)))
        return " ".join(out), citations

    def _citation(self, ctx: IndexContext, n: int, u: Unit) -> Citation:
        d = ctx.documents[u.doc]
        quote = d.text[u.start : u.end]
        return Citation(n=n, doc=u.doc, title=d.title, published=d.published, quote=quote, start=u.start,
                        end=u.end, outlet=d.outlet)

    def _refusal(self, ctx: IndexContext, selection: Selection, passages: list[Passage], query: str
                 ) -> tuple[str, list[Citation]]:
        if not passages or not selection.candidates:
            return self.messages["no_documents"] if not ctx.documents else self.messages["refusal"], []
        best = selection.sentences[0] if selection.sentences else selection.candidates[0]
        unit = self._unit(ctx, best, selection, query)
        closest = " ".join(unit.text.split())
        text = f"{self.messages['refusal']} {self.messages['refusal_closest']} {_attach(closest, '[1]')}"
        return text, [self._citation(ctx, 1, unit)]


def _sentence_ends(text: str) -> int:
    """Full stops that end a sentence (followed by a space and a capital), a cheap count while streaming."""
    return len(re.findall(r"[.!?][”\"’)]?\s+(?=[A-Z“\"])", text))


def _attach(sentence: str, marks: str) -> str:
    """Put citation markers before the final full stop: "... later [1]."."""
    s = sentence.rstrip()
    if s.endswith((".", "!", "?")) and not s.endswith(("..", "”.", '".')):
        return f"{s[:-1]} {marks}{s[-1]}"
    return f"{s} {marks}"
