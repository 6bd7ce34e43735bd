"""Offline evaluation against a JSONL question set (see tests/fixtures/dev.jsonl): dataset (sets, items, the split),
score (one answer against its gold item), report (the table and JSON), run (the evaluation itself).

Scores what the pipeline returns, so the same numbers hold for the CLI and the UI:
retrieval (is the gold evidence in the passages, in the top one), answer content (key terms),
grounding (citations are verbatim, point at gold evidence, hold the expected answer), refusals,
and latency.

A set is either a .jsonl file about the configured corpus, or a folder with `questions.jsonl`
and its own `corpus/`, which is indexed into a temporary folder (see `corpus_pipeline`).
Items split into "fit" and "report" halves by a hash of their id, so thresholds and prompts
tuned on one half are reported on the other.

All text comparisons use `score._norm`: whitespace collapsed, lower-cased, and a dash glued to a word
rejoined with the next word (the cleaner rejoins "U.S.-" + "backed" across a hard wrap).
"""

from rag.exports import lazy_exports

_PUBLIC = {
    "EvalItem": "dataset", "EvalSet": "dataset", "load_eval": "dataset", "open_eval_set": "dataset",
    "item_split": "dataset", "corpus_half": "dataset", "select_items": "dataset", "SPLITS": "dataset",
    "TYPES": "dataset",
    "ItemResult": "score", "score_answer": "score", "aggregate": "score", "percentile": "score",
    "quote_matches_evidence": "score", "citation_valid": "score",
    "RunInfo": "report", "EvalReport": "report",
    "evaluate": "run", "score_items": "run", "retrieval_recall": "run", "corpus_pipeline": "run",
    "check_writable_outside": "run",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
