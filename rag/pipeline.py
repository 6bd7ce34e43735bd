"""The pipeline object the CLI and UI use: lazy models, the live index, search, answers and ingest."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from rag.cpu import ANSWERS
from rag.errors import IndexMissingError
from rag.index.embed import Embedder, make_embedder
from rag.index.retrieve import Retriever
from rag.index.store import make_store
from rag.ingest.incremental import chunker_settings, ingest, remove_documents
from rag.pipeline_api import History, Progress, Stop
from rag.schema import Answer, DateRange, DocumentInfo, IngestReport, Passage, StreamEvent
from rag.settings import Settings

log = logging.getLogger(__name__)


class Pipeline:
    """Thread-safe: searches read an immutable Retriever that ingest swaps in when it is done."""

    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None, generator=None) -> None:
        self.settings = settings or Settings.from_env()
        self._embedder = embedder
        self._generator = generator
        self._answerer = None
        self.store = make_store(self.settings)
        self._retriever: Retriever | None = None
        self._lock = threading.RLock()
        self._ready = threading.Event()
        ANSWERS.max_wait_s = self.settings.ingest_yield_s  # the CPU is the process's: one setting for all pipelines

    # ---------- lazily built parts ----------
    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = make_embedder(self.settings)
            return self._embedder

    @property
    def generator(self):
        with self._lock:
            if self._generator is None:
                from rag.generate.base import make_generator

                self._generator = make_generator(self.settings)
            return self._generator

    @property
    def retriever(self) -> Retriever:
        with self._lock:
            if self._retriever is None:
                self._retriever = self._open_index()
            return self._retriever

    def _open_index(self) -> Retriever:
        """Load the index, building it from the data folder when there is none (a new user's first query)."""
        s = self.settings
        if not self.store.exists():
            if not Path(s.data_dir).is_dir():
                raise IndexMissingError(
                    f"No index at {self.store.root} and no data folder at {s.data_dir}. "
                    "Add articles there or set RAG_DATA_DIR, then run 'rag ingest'."
                )
            log.warning("No index yet: building it from %s", s.data_dir)
            self._ingest([Path(s.data_dir)])
        expect = {"embed_model": self.embedder.name,
                  "chunker": chunker_settings(s.chunk_words, s.chunk_overlap)}
        data = self.store.load(expect=expect)
        return Retriever(data, self.embedder, candidates=s.candidates, rrf_k=s.rrf_k,
                         engine=self.store.search_engine(data))

    def _ingest(self, paths: Sequence[Path], rebuild: bool = False, progress: Progress | None = None
                ) -> IngestReport:
        s = self.settings
        return ingest(paths, self.store, self.embedder, chunk_words=s.chunk_words, overlap=s.chunk_overlap,
                      base=Path(s.data_dir), rebuild=rebuild, progress=progress, lock_wait_s=s.lock_wait_s,
                      max_file_bytes=s.max_file_mb * 1024 * 1024)

    # ---------- PipelineAPI ----------
    def warm_up(self) -> None:
        self.answerer.warm_up()  # the index, the embedder, the evidence-sentence vectors and the reader
        self.retriever.groups  # noqa: B018 - syndicated copies (datasketch's import is ~0.4 s): not at the first question
        self.embedder.embed(["warm up"])
        self._ready.set()

    def is_ready(self) -> bool:
        return self._ready.is_set()

    def search(self, query: str, k: int | None = None, dates: DateRange | None = None) -> list[Passage]:
        return self.retriever.search(query, k or self.settings.top_k, dates=dates)

    def ingest(self, paths: Sequence[Path] | None = None, progress: Progress | None = None,
               rebuild: bool = False) -> IngestReport:
        report = self._ingest(list(paths) if paths else [Path(self.settings.data_dir)], rebuild, progress)
        self._index_changed()
        return report

    def remove(self, docs: Sequence[str]) -> IngestReport:
        """Drop `docs` (ids) from the index atomically; their files in the data or upload folder move to its
        hidden trash (`Settings.trash_path`) so that the next ingest does not bring them back."""
        s = self.settings
        report = remove_documents(self.store, self.embedder, docs, lock_wait_s=s.lock_wait_s,
                                  trash_dir=s.trash_path, trash_roots=[Path(s.data_dir), s.upload_path])
        self._index_changed()
        return report

    def close(self) -> None:
        """Let go of the store (Milvus Lite: its file, so another process may open it)."""
        with self._lock:
            self._retriever = None
            self.store.close()

    def _index_changed(self) -> None:
        with self._lock:
            self._retriever = None  # the next search loads the new version

    def documents(self) -> list[DocumentInfo]:
        data = self.retriever.data
        return [
            DocumentInfo(d.doc, d.title, d.outlet, d.published, len(data.by_doc.get(d.doc, [])), d.published_approx,
                         url=str(d.meta.get("url") or ""), author=d.author, feed=str(d.meta.get("feed") or ""))
            for d in sorted(data.documents.values(), key=lambda d: (d.published or "", d.doc), reverse=True)
        ]

    def document_text(self, doc: str) -> str:
        d = self.retriever.data.documents.get(doc)
        return d.text if d else ""

    @property
    def answerer(self):
        with self._lock:
            if self._answerer is None:
                from rag.answer.compose import Answerer

                self._answerer = Answerer(self)
            return self._answerer

    def answer(self, question: str, history: History | None = None, dates: DateRange | None = None) -> Answer:
        return self.answerer.answer(question, history, dates=dates)

    def answer_stream(self, question: str, history: History | None = None,
                      stop: Stop | None = None, dates: DateRange | None = None) -> Iterator[StreamEvent]:
        return self.answerer.answer_stream(question, history, stop, dates=dates)

    def check_claim(self, claim: str) -> dict:
        from rag.answer.check import check_in_library, validate_claim

        text = validate_claim(claim)
        with ANSWERS.answering():  # the reader judges it: an upload's embedding waits between its batches meanwhile
            result = check_in_library(self, text, threshold=self.settings.judge_threshold,
                                      use_model=self.settings.judge_model)
        return result.to_dict()
