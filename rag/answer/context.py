"""What answering keeps between questions: one index version's sentences, word weights and evidence selector
(`IndexContext`, rebuilt when the index changes), and the events of recent answers (`AnswerCache`)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator

from rag.answer.evidence import EvidenceSelector, document_idf
from rag.schema import Document, StreamEvent
from rag.text import tokenize


class IndexContext:
    """What answering needs from one index version, computed once per version."""

    def __init__(self, retriever, embedder, max_units: int) -> None:
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
        idf = document_idf([set(tokenize(t)) for *_, t in self._sentences])
        self.selector = EvidenceSelector(embedder, idf, max_units=max_units)

    def prefill(self, keep: bool = True) -> int:
        """Embed every sentence now, when the corpus is small enough to keep them all: questions then pay
        only for the query. With `keep`, the vectors are saved beside the index version and read back on the
        next start. Returns how many sentences were embedded now (0 when they were read back)."""
        vectors, folder = self.selector.vectors, self.retriever.data.path
        if len(self._sentences) > vectors.capacity:
            return 0
        if keep and folder is not None and vectors.restore(folder, self._sentences):
            return 0
        matrix = vectors.get(self._sentences)
        if keep and folder is not None:
            vectors.save(folder, self._sentences, matrix)
        return len(self._sentences)


class AnswerCache:
    """The events of recent complete answers, by (question, search query): answering is deterministic (greedy
    decoding, fixed evidence), so a repeated question, such as an example button many people press, is replayed
    instead of read again. Cleared whenever the index changes; stopped answers are not kept."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(0, capacity)
        self._items: OrderedDict[tuple[str, str, int], list[StreamEvent]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, int]) -> list[StreamEvent] | None:
        with self._lock:
            events = self._items.get(key)
            if events is not None:
                self._items.move_to_end(key)
            return events

    def put(self, key: tuple[str, str, int], events: list[StreamEvent]) -> None:
        if not self.capacity:
            return
        with self._lock:
            self._items[key] = events
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def replay(events: list[StreamEvent], t0: float) -> Iterator[StreamEvent]:
    """A kept answer's events again; its timings say it was replayed and how long this call took."""
    for event in events[:-1]:
        yield event
    answer = events[-1].data
    ms = (time.perf_counter() - t0) * 1000
    yield StreamEvent("answer", dataclasses.replace(answer, timings={"retrieve_ms": 0.0, "first_token_ms": ms,
                                                                     "total_ms": ms, "cached": True}))
