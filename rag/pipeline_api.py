"""The surface the CLI and the UI program against, so a fake can stand in for the real pipeline."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from rag.schema import Answer, DocumentInfo, IngestReport, Passage, StreamEvent

# Conversation history as chat messages: [{"role": "user"|"assistant", "content": str}, ...]
History = Sequence[dict]
# progress(done, total, label) for long work (ingest)
Progress = Callable[[int, int, str], None]


class PipelineAPI(Protocol):
    def warm_up(self) -> None:
        """Load models and the index now (the UI calls this in the background after start)."""

    def is_ready(self) -> bool: ...

    def search(self, query: str, k: int | None = None) -> list[Passage]: ...

    def answer(self, question: str, history: History | None = None) -> Answer: ...

    def answer_stream(self, question: str, history: History | None = None) -> Iterator[StreamEvent]: ...

    def ingest(self, paths: Sequence[Path] | None = None, progress: Progress | None = None) -> IngestReport: ...

    def documents(self) -> list[DocumentInfo]: ...

    def document_text(self, doc: str) -> str:
        """The stored text of a document, for showing a quote inside its paragraph."""
