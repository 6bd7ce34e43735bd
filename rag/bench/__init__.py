"""Benchmarks behind `rag bench answer|ingest|search|coldstart|library|reader`, one module each (common: what they
share; synthetic: the synthetic corpora).

Shared machines are noisy, so every figure that is compared with a target is a ratio against a baseline
measured in the same run (the generator called directly on the same prompts; raw `SentenceTransformer.encode`
on the same chunk texts; exact search over the same vectors). Absolute times are context.

Nothing here prints: each benchmark returns an object with `.table()` (markdown) and `.to_dict()`. Progress
goes to logging, and tqdm bars to stderr when asked for.

What is synthetic is said in each result's `notes`:
- ingest: documents assembled from the sentences of the bundled articles (deterministic; document i is the
  same whatever N is), real loading, chunking, embedding and saving;
- search: no 2-core machine can embed a million chunks, so chunk vectors are perturbations of real embeddings:
  the normalised mean of the real embeddings of 3-5 bundled sentences plus Gaussian noise, and the chunk text
  is those same sentences plus a dateline of pseudo-words (so BM25 sees a growing vocabulary). Queries are the
  dev questions and fragments of bundled sentences, embedded by the real model at query time.
"""

from rag.exports import lazy_exports

_PUBLIC = {
    "bench_answer": "answer", "DEFAULT_QUESTIONS": "common", "bench_ingest": "ingest", "bench_search": "search",
    "bench_cold_start": "coldstart", "bench_reader": "reader", "bench_library": "library",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
