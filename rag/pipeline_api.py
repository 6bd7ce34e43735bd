"""The surface the CLI and the UI program against, so a fake can stand in for the real pipeline."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from rag.schema import Answer, DateRange, DocumentInfo, IngestReport, Passage, StreamEvent

# Conversation history as chat messages: [{"role": "user"|"assistant", "content": str}, ...]
History = Sequence[dict]
# progress(done, total, label) for long work (ingest)
Progress = Callable[[int, int, str], None]
# stop() -> True ends a streamed answer early (e.g. the user pressed Stop); asked between generated pieces
Stop = Callable[[], bool]


class PipelineAPI(Protocol):
    def warm_up(self) -> None:
        """Load models and the index now (the UI calls this in the background after start)."""

    def is_ready(self) -> bool: ...

    def search(self, query: str, k: int | None = None, dates: DateRange | None = None) -> list[Passage]:
        """The best passages; with an active `dates`, only from articles published in that range."""

    def answer(self, question: str, history: History | None = None, dates: DateRange | None = None) -> Answer: ...

    def answer_stream(self, question: str, history: History | None = None,
                      stop: Stop | None = None, dates: DateRange | None = None) -> Iterator[StreamEvent]:
        """Stream the answer (see `StreamEvent`); when `stop()` returns True it ends early, keeping only the
        sentences already streamed, with `Answer.stopped` set. `dates` narrows the articles it may read."""

    def ingest(self, paths: Sequence[Path] | None = None, progress: Progress | None = None) -> IngestReport: ...

    def remove(self, docs: Sequence[str]) -> IngestReport:
        """Drop these document ids from the index in one atomic switch; their files under the data folder
        move to its hidden trash so that the next ingest does not bring them back."""

    def documents(self) -> list[DocumentInfo]: ...

    def document_text(self, doc: str) -> str:
        """The stored text of a document, for showing a quote inside its paragraph."""

    def check_claim(self, claim: str) -> dict:
        """Is the claim supported by the library? The same JSON object as `rag check --json CLAIM`: `verdict`
        ("supported", "not supported" or "contradicted"), `score`, `quote`, `reason`, the deciding quote's `doc`,
        `title`, `outlet`, `published`, and `quotes` (the best few, deciding one first). A claim that is not one
        sentence of text raises `ClaimError` with a one-line message."""
