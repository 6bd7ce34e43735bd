"""`rag bench ingest`: ingest throughput on a synthetic corpus against raw encoding of the same chunk texts, and
no-change / one-changed re-ingest times."""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.bench.common import Result, fmt, machine, md_table, percentile, progress_bar
from rag.bench.synthetic import write_synthetic_corpus


@dataclass
class IngestBench(Result):
    docs: int
    chunks: int
    workers: int
    embedder: str
    ingest_s: float
    chunks_per_s: float
    baseline_chunks: int  # chunk texts the raw-encode baseline ran on (a random sample of the ingested ones)
    baseline_s: float
    baseline_chunks_per_s: float
    ratio: float  # ingest chunks/s / raw encode chunks/s
    reingest_s: list[float]  # no-change re-ingests
    reingest_one_changed_s: float  # one document edited
    corpus_mb: float
    machine: str
    notes: list[str] = field(default_factory=list)

    def targets(self) -> list[tuple[str, str, bool]]:
        out = [("ingest >= 0.9 x raw encode throughput", f"{self.ratio:.2f}", self.ratio >= 0.9)]
        worst = max(self.reingest_s) if self.reingest_s else float("nan")
        if self.docs >= 10_000:
            out.append(("no-change re-ingest of 10k documents <= 1 s", f"{worst:.2f} s", worst <= 1.0))
        else:
            limit = self.docs / 10_000
            out.append((f"no-change re-ingest <= 1 s per 10k documents ({limit:.2f} s here)", f"{worst:.2f} s",
                        worst <= max(limit, 0.1)))
        return out

    def table(self) -> str:
        rows = [
            ["ingest (load, clean, chunk, embed, save)", fmt(self.ingest_s, 1), fmt(self.chunks_per_s, 1)],
            [f"raw encode, same texts ({self.baseline_chunks} chunks)", fmt(self.baseline_s, 1),
             fmt(self.baseline_chunks_per_s, 1)],
        ]
        re = self.reingest_s
        out = [f"rag bench ingest: {self.docs} synthetic documents ({self.corpus_mb:.1f} MB), {self.chunks} chunks; "
               f"embedder {self.embedder}, {self.workers} worker(s); {self.machine}", "",
               md_table(["step", "seconds", "chunks/s"], rows), "",
               f"ingest / raw encode throughput: {self.ratio:.2f}",
               f"no-change re-ingest: {', '.join(f'{x:.3f}' for x in re)} s (median {percentile(re, 50):.3f} s)",
               f"re-ingest with one document edited: {self.reingest_one_changed_s:.2f} s", "",
               self.targets_table()]
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)


def _raw_encode(embedder, texts: list[str], batch_size: int) -> float:
    """Seconds for the embedding model itself on texts: `SentenceTransformer.encode` in one call."""
    t = time.perf_counter()
    model = getattr(embedder, "model", None)
    if model is not None and hasattr(model, "encode"):
        model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                     show_progress_bar=False)
    else:  # a fake embedder: its own embed is the baseline
        embedder.embed(texts)
    return time.perf_counter() - t


def bench_ingest(settings=None, docs: int = 1000, *, workers: int = 1, embedder=None, source: Path | None = None,
                 baseline_chunks: int = 2000, workdir: Path | None = None, keep: bool = False, seed: int = 0,
                 reingests: int = 3, progress: bool = False) -> IngestBench:
    """Ingest a synthetic corpus of `docs` documents and compare its throughput with raw encoding of the
    same chunk texts (half of the baseline before the ingest, half after, to even out load changes)."""
    from rag.index.embed import make_embedder
    from rag.index.store import IndexStore
    from rag.ingest.incremental import ingest
    from rag.ingest.loaders import load_paths
    from rag.ingest.scan import RACY_NS
    from rag.ingest.segment import chunk_document
    from rag.settings import Settings

    settings = settings or Settings.from_env()
    source = Path(source or settings.data_dir)
    own_embedder = embedder is None
    embedder = embedder if embedder is not None else make_embedder(settings, workers=workers)
    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="rag-bench-ingest-"))
    data, index = root / "data", root / "index"
    notes = [f"synthetic corpus: document i is 4-7 paragraphs of consecutive sentences from the articles in "
             f"{source}, with a unique dateline (deterministic, seed {seed})"]
    try:
        if index.exists():
            shutil.rmtree(index)
        if data.exists():
            shutil.rmtree(data)
        size = write_synthetic_corpus(data, docs, source, seed)
        # the chunk texts, for the baseline (the ingest below does this work again, timed)
        loaded, _ = load_paths([data])
        texts = [c.text for d in loaded for c in chunk_document(d.doc, d.text, settings.chunk_words,
                                                                settings.chunk_overlap)]
        rng = np.random.default_rng(seed)
        sample = texts if not baseline_chunks or baseline_chunks >= len(texts) else \
            [texts[i] for i in rng.choice(len(texts), size=baseline_chunks, replace=False)]
        if sample is not texts:
            notes.append(f"raw-encode baseline on a random sample of {len(sample)} of the {len(texts)} chunk texts")
        embedder.embed(texts[:8])  # load the model outside the timings
        time.sleep(RACY_NS / 1e9)  # files written this recently are re-read by design; let them age

        half = len(sample) // 2
        base_s = _raw_encode(embedder, sample[:half], settings.embed_batch_size) if half else 0.0
        store = IndexStore(index)
        bar = None

        def tick(done: int, total: int, label: str) -> None:
            nonlocal bar
            if bar is None:
                bar = progress_bar(total, label, progress)
            bar.n = done
            bar.refresh()

        t = time.perf_counter()
        report = ingest([data], store, embedder, chunk_words=settings.chunk_words, overlap=settings.chunk_overlap,
                        base=data, progress=tick)
        ingest_s = time.perf_counter() - t
        if bar is not None:
            bar.close()
        base_s += _raw_encode(embedder, sample[half:], settings.embed_batch_size)
        if report.chunks != len(texts):
            notes.append(f"the ingest made {report.chunks} chunks, the baseline's chunking {len(texts)}")

        reingest = []
        for _ in range(reingests):
            t = time.perf_counter()
            again = ingest([data], store, embedder, chunk_words=settings.chunk_words,
                           overlap=settings.chunk_overlap, base=data)
            reingest.append(time.perf_counter() - t)
            if again.added or again.updated or again.removed or again.embedded:
                notes.append(f"a no-change re-ingest changed something: {again.summary()}")
        victim = next(iter(sorted((data / "part-000").glob("*.md"))))
        victim.write_text(victim.read_text(encoding="utf-8") + "\nA late paragraph added to one document.\n",
                          encoding="utf-8")
        t = time.perf_counter()
        ingest([data], store, embedder, chunk_words=settings.chunk_words, overlap=settings.chunk_overlap, base=data)
        one_s = time.perf_counter() - t
    finally:
        if own_embedder:
            close = getattr(embedder, "close", None)
            if close:
                close()
        if not keep and not workdir:
            shutil.rmtree(root, ignore_errors=True)
    cps = report.chunks / ingest_s if ingest_s else float("nan")
    bcps = len(sample) / base_s if base_s else float("nan")
    return IngestBench(
        docs=docs, chunks=report.chunks, workers=workers, embedder=embedder.name, ingest_s=ingest_s,
        chunks_per_s=cps, baseline_chunks=len(sample), baseline_s=base_s, baseline_chunks_per_s=bcps,
        ratio=cps / bcps if bcps else float("nan"), reingest_s=reingest, reingest_one_changed_s=one_s,
        corpus_mb=size / 1e6, machine=machine(), notes=notes,
    )
