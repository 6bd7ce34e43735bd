"""Offline evaluation against a JSONL question set (see tests/fixtures/dev.jsonl).

Scores what the pipeline returns, so the same numbers hold for the CLI and the UI:
retrieval (is the gold evidence in the passages, in the top one), answer content (key terms),
grounding (citations are verbatim, point at gold evidence, hold the expected answer), refusals,
and latency.

A set is either a .jsonl file about the configured corpus, or a folder with `questions.jsonl`
and its own `corpus/`, which is indexed into a temporary folder (see `corpus_pipeline`).
Items split into "fit" and "report" halves by a hash of their id, so thresholds and prompts
tuned on one half are reported on the other.

All text comparisons use `_norm`: whitespace collapsed, lower-cased, and a dash glued to a word
rejoined with the next word (the cleaner rejoins "U.S.-" + "backed" across a hard wrap).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.pipeline_api import PipelineAPI
from rag.schema import Answer, Citation, IngestReport, Passage
from rag.settings import Settings

log = logging.getLogger(__name__)

TYPES = ("factoid", "why", "who-said", "multi-hop", "comparison", "unanswerable")
UNANSWERABLE = "unanswerable"
MIN_SHARED_WORDS = 8  # a quote "overlaps" gold evidence when they share this many words in a row
PERCENTILE_METHOD = "linear interpolation between closest ranks (numpy default)"

SPLITS = ("fit", "report", "all")
SPLIT_RULE = "sha1(id): even last byte -> fit, odd -> report"
QUESTIONS_FILE = "questions.jsonl"
CORPUS_DIR = "corpus"

Progress = Callable[[int, int, str], None]
PipelineFactory = Callable[[Settings], PipelineAPI]


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    type: str
    answer: str = ""
    must_mention: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    doc: tuple[str, ...] = ()  # gold source files ("x.txt" is indexed as "x.md"); kept for reports

    @property
    def answerable(self) -> bool:
        return self.type != UNANSWERABLE


# ---------------------------------------------------------------------------- loading


def load_eval(path: str | Path) -> list[EvalItem]:
    """Read a JSONL eval file; any bad line is an error naming the line, so no item is silently dropped."""
    p = Path(path)
    if not p.is_file():
        raise RagError(f"Eval file not found: {p}. Pass a .jsonl file with one question per line.")
    items: list[EvalItem] = []
    seen: set[str] = set()
    with p.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{p}:{lineno}"
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise RagError(f"{where}: not valid JSON ({e.msg} at column {e.colno}).") from None
            item = _item_from_dict(d, where)
            if item.id in seen:
                raise RagError(f"{where}: duplicate id {item.id!r}.")
            seen.add(item.id)
            items.append(item)
    if not items:
        raise RagError(f"Eval file {p} has no questions.")
    return items


def _item_from_dict(d: Any, where: str) -> EvalItem:
    if not isinstance(d, dict):
        raise RagError(f"{where}: expected a JSON object, got {type(d).__name__}.")
    for key in ("id", "question", "type"):
        if not isinstance(d.get(key), str) or not d[key].strip():
            raise RagError(f"{where}: missing or empty string field {key!r}.")
    if d["type"] not in TYPES:
        raise RagError(f"{where}: unknown type {d['type']!r}; expected one of {', '.join(TYPES)}.")
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("must_mention", "evidence", "doc"):
        v = d.get(key, [])
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise RagError(f"{where}: field {key!r} must be a list of strings.")
        lists[key] = tuple(x for x in v if x.strip())
    if d["type"] != UNANSWERABLE and not lists["evidence"]:
        raise RagError(f"{where}: answerable question {d['id']!r} has no evidence.")
    return EvalItem(
        id=d["id"],
        question=d["question"],
        type=d["type"],
        answer=str(d.get("answer", "")),
        must_mention=lists["must_mention"],
        evidence=lists["evidence"],
        doc=lists["doc"],
    )


# ---------------------------------------------------------------------------- sets, splits, filters


@dataclass(frozen=True)
class EvalSet:
    """Where the questions are, and the corpus they are about when the set brings its own
    (None: the questions are about the configured index)."""

    path: Path  # what the user named: the .jsonl file or the set folder
    questions: Path
    corpus: Path | None = None


def open_eval_set(path: str | Path) -> EvalSet:
    """A .jsonl file, or a folder holding `questions.jsonl` and `corpus/`; anything else says what is missing."""
    p = Path(path)
    if p.is_file():
        return EvalSet(path=p, questions=p)
    if not p.is_dir():
        raise RagError(f"Eval set not found: {p}. Pass a .jsonl file or a folder with {QUESTIONS_FILE} and {CORPUS_DIR}/.")
    questions, corpus = p / QUESTIONS_FILE, p / CORPUS_DIR
    missing = ([] if questions.is_file() else [QUESTIONS_FILE]) + ([] if corpus.is_dir() else [CORPUS_DIR + "/"])
    if missing:
        raise RagError(f"{p} is not an eval set folder: it has no {' and no '.join(missing)}.")
    return EvalSet(path=p, questions=questions, corpus=corpus)


def item_split(item_id: str) -> str:
    """"fit" or "report" from a hash of the id: stable across runs, machines and Python versions
    (unlike `hash()`), and independent of line order, so adding questions never moves old ones."""
    return "fit" if hashlib.sha1(item_id.encode("utf-8")).digest()[-1] % 2 == 0 else "report"


def select_items(items: Sequence[EvalItem], split: str = "all", types: Sequence[str] = (),
                 limit: int | None = None) -> list[EvalItem]:
    """The split first, then the types, then the first `limit` in file order: so `--limit` takes
    a prefix of exactly the items a full run of that split would score."""
    if split not in SPLITS:
        raise RagError(f"Unknown split {split!r}; expected one of {', '.join(SPLITS)}.")
    out = [it for it in items if split == "all" or item_split(it.id) == split]
    if types:
        out = [it for it in out if it.type in types]
    return out if limit is None else out[:limit]


@dataclass(frozen=True)
class RunInfo:
    """What a report was computed on, so a number is never quoted without its split and filters."""

    source: str
    split: str = "all"
    types: tuple[str, ...] = ()
    limit: int | None = None
    in_set: int = 0  # questions in the set, before any filter
    selected: int = 0  # questions the run was asked to answer

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "split": self.split, "split_rule": SPLIT_RULE, "types": list(self.types),
                "limit": self.limit, "in_set": self.in_set, "selected": self.selected}

    def describe(self) -> str:
        types = ", ".join(self.types) if self.types else "all types"
        limit = "" if self.limit is None else f", first {self.limit}"
        return (f"{self.source}: split {self.split} ({SPLIT_RULE}), {types}{limit}: "
                f"{self.selected} of {self.in_set} questions")


# ---------------------------------------------------------------------------- a set's own corpus


def _inside(path: Path, folder: Path) -> bool:
    p, f = path.resolve(), folder.resolve()
    return p == f or f in p.parents


def check_writable_outside(path: Path, set_folder: Path, what: str) -> None:
    """Nothing is ever written into a set folder: it is shared reference data."""
    if _inside(path, set_folder):
        raise RagError(f"{what} {path} is inside the eval set {set_folder}, which is never written to: "
                       "choose a folder elsewhere.")


def _check_index_dir(index: Path, corpus: Path, settings: Settings) -> None:
    """Refuse an index folder that holds something else: ingest keeps documents from outside the scanned
    paths, so reusing the main index (or another set's) would mix corpora and pollute both."""
    from rag.store import IndexStore

    if _inside(index, settings.index_path) or _inside(settings.index_path, index):
        raise RagError(f"--index-dir {index} is the configured index {settings.index_path}: "
                       "choose a separate folder for the eval set's index.")
    store = IndexStore(index)
    if not store.exists():
        if index.is_dir() and any(index.iterdir()):
            raise RagError(f"--index-dir {index} is a non-empty folder but not an index: choose a new folder.")
        return
    try:
        documents = store.read_manifest().get("documents", {})
    except RagError as e:
        log.warning("cannot read the index at %s (%s): ingest will rebuild it", index, e)
        return
    foreign = [d for d, info in documents.items() if info.get("path") and not _inside(Path(info["path"]), corpus)]
    if foreign:
        raise RagError(f"--index-dir {index} holds {len(foreign)} documents from outside {corpus} "
                       f"(e.g. {foreign[0]}): choose a new folder for this set's index.")


def _real_pipeline(settings: Settings) -> PipelineAPI:
    from rag.pipeline import Pipeline

    return Pipeline(settings)


@contextmanager
def corpus_pipeline(settings: Settings, corpus: Path, index_dir: Path | None = None,
                    factory: PipelineFactory | None = None,
                    progress: Progress | None = None) -> Iterator[tuple[PipelineAPI, IngestReport]]:
    """A pipeline over `corpus` alone, indexed in a temporary folder that is removed on exit (also on
    Ctrl-C); with `index_dir` the index is kept there, and a re-run over an unchanged corpus only
    re-checks file stats. Uploads are pointed at the temporary folder too, so nothing lands in the set."""
    corpus = Path(corpus)
    tmp = Path(tempfile.mkdtemp(prefix="rag-eval-"))
    try:
        index = Path(index_dir) if index_dir is not None else tmp / "index"
        if index_dir is not None:
            _check_index_dir(index, corpus, settings)
        local = settings.replace(data_dir=corpus, index_dir=index, upload_dir=tmp / "uploads")
        pipeline = (factory or _real_pipeline)(local)
        report = pipeline.ingest([corpus], progress=progress)
        log.info("eval corpus %s: %s", corpus, report.summary())
        yield pipeline, report
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------- text matching


def _norm(s: str) -> str:
    s = " ".join(s.split()).lower()
    return re.sub(r"(?<=\S[-–—]) (?=\S)", "", s)


def _passage_texts(passages: Sequence[Passage]) -> list[str]:
    """Normalised passage texts, overlapping chunks of one document merged so evidence that
    straddles a chunk boundary still counts (a plain concatenation would depend on rank order)."""
    by_doc: dict[str, list[Passage]] = {}
    for p in passages:
        by_doc.setdefault(p.chunk.doc, []).append(p)
    texts: list[str] = []
    for ps in by_doc.values():
        ps.sort(key=lambda p: (p.chunk.start, p.chunk.end))
        cur_text, cur_end = "", -1
        for p in ps:
            c = p.chunk
            exact = len(c.text) == c.end - c.start  # offsets can be trusted for merging
            if cur_text and exact and c.start <= cur_end:
                if c.end > cur_end:
                    cur_text += c.text[cur_end - c.start :]
                    cur_end = c.end
                continue
            if cur_text:
                texts.append(cur_text)
            cur_text, cur_end = c.text, (c.end if exact else -1)
        if cur_text:
            texts.append(cur_text)
    return [_norm(t) for t in texts]


def _evidence_found(item: EvalItem, passages: Sequence[Passage]) -> list[bool]:
    texts = _passage_texts(passages)
    return [any(_norm(e) in t for t in texts) for e in item.evidence]


def _shares_run(a: str, b: str, n: int = MIN_SHARED_WORDS) -> bool:
    wa, wb = a.split(), b.split()
    if len(wa) < n or len(wb) < n:
        return False
    grams = {tuple(wa[i : i + n]) for i in range(len(wa) - n + 1)}
    return any(tuple(wb[i : i + n]) in grams for i in range(len(wb) - n + 1))


def quote_matches_evidence(quote: str, evidence: str) -> bool:
    """Overlap: either contains the other (normalised), or they share MIN_SHARED_WORDS words in a row."""
    q, e = _norm(quote), _norm(evidence)
    if not q or not e:
        return False
    return e in q or q in e or _shares_run(q, e)


# ---------------------------------------------------------------------------- per item


@dataclass
class ItemResult:
    id: str
    type: str
    question: str
    answer: str
    refused: bool
    evidence_recall: float | None  # share of gold evidence inside the passages; None: no evidence
    evidence_hit: bool | None  # all gold evidence inside the top-k passages
    evidence_first: bool | None  # all gold evidence inside the top-1 passage
    all_terms: bool | None  # every must_mention term in the answer; None for unanswerable
    cites_gold: bool | None  # a citation overlaps gold evidence; None for unanswerable
    cites_answer: bool | None  # one quote holds every must_mention term; None: unanswerable, refused or no terms
    citations: int
    citations_valid_count: int
    total_ms: float | None
    first_token_ms: float | None
    retrieve_ms: float | None
    quotes: tuple[str, ...] = ()  # the citations' quotes, for error analysis

    @property
    def answerable(self) -> bool:
        return self.type != UNANSWERABLE

    @property
    def citations_valid(self) -> bool | None:
        """True when every citation is verbatim at its offsets; None when there are none."""
        return None if not self.citations else self.citations_valid_count == self.citations

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "all_terms": self.all_terms,
            "cites_gold": self.cites_gold,
            "cites_answer": self.cites_answer,
            "evidence_recall": _round(self.evidence_recall),
            "evidence_hit": self.evidence_hit,
            "evidence_first": self.evidence_first,
            "citations": self.citations,
            "citations_valid": self.citations_valid,
            "total_ms": _round(self.total_ms, 1),
            "first_token_ms": _round(self.first_token_ms, 1),
            "retrieve_ms": _round(self.retrieve_ms, 1),
            "quotes": list(self.quotes),
        }


class _DocCache:
    """document_text per doc, fetched once; an unknown doc reads as "" (every quote from it is invalid)."""

    def __init__(self, pipeline: PipelineAPI) -> None:
        self._pipeline = pipeline
        self._texts: dict[str, str] = {}

    def text(self, doc: str) -> str:
        if doc not in self._texts:
            try:
                self._texts[doc] = self._pipeline.document_text(doc)
            except (RagError, KeyError, OSError) as e:
                log.warning("cannot read %s to check a citation: %s", doc, e)
                self._texts[doc] = ""
        return self._texts[doc]


def citation_valid(c: Citation, doc_text: str) -> bool:
    return bool(c.quote) and 0 <= c.start < c.end <= len(doc_text) and doc_text[c.start : c.end] == c.quote


def cites_answer(item: EvalItem, answer: Answer) -> bool | None:
    """Whether the cited sentence holds the expected answer: some single quote contains every
    must_mention term. A correct answer that cites the wrong sentence is unsupported for the reader."""
    if not item.answerable or answer.refused or not item.must_mention:
        return None
    terms = [_norm(m) for m in item.must_mention]
    return any(all(t in _norm(c.quote) for t in terms) for c in answer.citations)


def score_answer(item: EvalItem, answer: Answer, docs: _DocCache, k: int = 5) -> ItemResult:
    """Score one answer; split from `evaluate` so tests can check metrics without a loop."""
    found = _evidence_found(item, answer.passages)
    recall = sum(found) / len(found) if found else None
    hit = None if recall is None else all(_evidence_found(item, answer.passages[:k]))
    first = None if recall is None else all(_evidence_found(item, answer.passages[:1]))
    answer_norm = _norm(answer.answer)
    valid = [citation_valid(c, docs.text(c.doc)) for c in answer.citations]
    cites_gold = any(quote_matches_evidence(c.quote, e) for c in answer.citations for e in item.evidence)
    t = answer.timings or {}
    return ItemResult(
        id=item.id,
        type=item.type,
        question=item.question,
        answer=answer.answer,
        refused=bool(answer.refused),
        evidence_recall=recall,
        evidence_hit=hit,
        evidence_first=first,
        all_terms=all(_norm(m) in answer_norm for m in item.must_mention) if item.answerable else None,
        cites_gold=cites_gold if item.answerable else None,
        cites_answer=cites_answer(item, answer),
        citations=len(valid),
        citations_valid_count=sum(valid),
        total_ms=t.get("total_ms"),
        first_token_ms=t.get("first_token_ms"),
        retrieve_ms=t.get("retrieve_ms"),
        quotes=tuple(c.quote for c in answer.citations),
    )


# ---------------------------------------------------------------------------- aggregation


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _mean(values: Iterable[float | bool]) -> float | None:
    xs = [float(v) for v in values]
    return sum(xs) / len(xs) if xs else None


def _round(v: float | None, nd: int = 4) -> float | None:
    return None if v is None else round(v, nd)


def aggregate(results: Sequence[ItemResult]) -> dict[str, Any]:
    """Rates are over the items each metric applies to; None (JSON null) where none apply."""
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    n_cit = sum(r.citations for r in results)
    totals = [r.total_ms for r in results if r.total_ms is not None]
    firsts = [r.first_token_ms for r in results if r.first_token_ms is not None]
    return {
        "n": len(results),
        "evidence_recall": _round(_mean(r.evidence_recall for r in results if r.evidence_recall is not None)),
        "evidence_hit_rate": _round(_mean(r.evidence_hit for r in results if r.evidence_hit is not None)),
        "evidence_first_rate": _round(_mean(r.evidence_first for r in results if r.evidence_first is not None)),
        "all_terms_rate": _round(_mean(r.all_terms for r in answerable if r.all_terms is not None)),
        "citations": n_cit,
        "citation_validity": _round(sum(r.citations_valid_count for r in results) / n_cit) if n_cit else None,
        "cites_gold_rate": _round(_mean(r.cites_gold for r in answerable if r.cites_gold is not None)),
        "answered": sum(not r.refused for r in answerable),
        "cites_answer_rate": _round(_mean(r.cites_answer for r in answerable if r.cites_answer is not None)),
        "refusal_rate_unanswerable": _round(_mean(r.refused for r in unanswerable)),
        "false_refusal_rate": _round(_mean(r.refused for r in answerable)),
        "total_ms_p50": _round(percentile(totals, 50), 1),
        "total_ms_p95": _round(percentile(totals, 95), 1),
        "first_token_ms_p50": _round(percentile(firsts, 50), 1),
        "first_token_ms_p95": _round(percentile(firsts, 95), 1),
    }


@dataclass
class EvalReport:
    items: list[ItemResult] = field(default_factory=list)
    k: int = 5
    run: RunInfo | None = None
    interrupted: bool = False  # stopped by Ctrl-C: the numbers cover `items` only

    def by_type(self) -> dict[str, dict[str, Any]]:
        order = [t for t in TYPES if any(r.type == t for r in self.items)]
        return {t: aggregate([r for r in self.items if r.type == t]) for t in order}

    def overall(self) -> dict[str, Any]:
        return aggregate(self.items)

    def to_dict(self) -> dict[str, Any]:
        overall = self.overall()
        overall["k"] = self.k
        overall["percentile_method"] = PERCENTILE_METHOD
        out: dict[str, Any] = {
            "overall": overall,
            "by_type": self.by_type(),
            "items": [r.to_dict() for r in self.items],
        }
        if self.run is not None or self.interrupted:
            run = self.run.to_dict() if self.run is not None else {}
            out["run"] = {**run, "answered": len(self.items), "interrupted": self.interrupted}
        return out

    def heading(self) -> str:
        """What the table is about (set, split, filters) and whether it is partial."""
        lines = [self.run.describe()] if self.run is not None else []
        if self.interrupted:
            planned = f" of {self.run.selected}" if self.run is not None else ""
            lines.append(f"INTERRUPTED after {len(self.items)}{planned} questions: the scores cover those only.")
        return "\n".join(lines)

    def table(self) -> str:
        """Fixed-width summary for the terminal: one row per type plus "overall".

        Columns go from retrieval (evidence in the passages, in the top k, in the top one) to answers
        (key terms, refusals) to citations (verbatim, overlapping gold evidence, holding the answer)."""
        cols = [
            ("type", 12, None),
            ("n", 4, None),
            ("evid recall", 11, "evidence_recall"),
            (f"hit@{self.k}", 6, "evidence_hit_rate"),
            ("top1", 5, "evidence_first_rate"),
            ("key terms", 9, "all_terms_rate"),
            ("false refus", 11, "false_refusal_rate"),
            ("refused(unans)", 14, "refusal_rate_unanswerable"),
            ("cites valid", 11, "citation_validity"),
            ("cites gold", 10, "cites_gold_rate"),
            ("cites answer", 12, "cites_answer_rate"),
            ("p50/p95 total ms", 16, None),
            ("p50 1st tok ms", 14, None),
        ]
        rates = cols[2:-2]
        rows = [(t, agg) for t, agg in self.by_type().items()] + [("overall", self.overall())]
        lines = ["  ".join(name.rjust(w) if i else name.ljust(w) for i, (name, w, _) in enumerate(cols))]
        lines.append("-" * len(lines[0]))
        for name, agg in rows:
            cells = [name.ljust(cols[0][1]), str(agg["n"]).rjust(cols[1][1])]
            cells += [_pct(agg[key]).rjust(w) for _, w, key in rates]
            total = f"{_ms(agg['total_ms_p50'])} / {_ms(agg['total_ms_p95'])}"
            if agg["total_ms_p50"] is None:
                total = "-"
            cells.append(total.rjust(cols[-2][1]))
            cells.append(_ms(agg["first_token_ms_p50"]).rjust(cols[-1][1]))
            lines.append("  ".join(cells))
        return "\n".join(lines)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.0f}%"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


# ---------------------------------------------------------------------------- entry points


def score_items(pipeline: PipelineAPI, items: Sequence[EvalItem], k: int = 5) -> Iterator[ItemResult]:
    """Answer the questions one at a time (no history), yielding each score as soon as it is known,
    so a caller can write it out and keep what was answered when the run is stopped."""
    docs = _DocCache(pipeline)
    for item in items:
        r = score_answer(item, pipeline.answer(item.question), docs, k)
        log.debug("eval %s: recall=%s terms=%s refused=%s", item.id, r.evidence_recall, r.all_terms, r.refused)
        yield r


def evaluate(
    pipeline: PipelineAPI, items: Sequence[EvalItem], k: int = 5, progress: Progress | None = None
) -> EvalReport:
    """Answer every question one at a time (no history) and score it.

    Evidence recall is over all passages the answer was given (the pipeline's own depth);
    the evidence hit needs all evidence within the first `k` of them.
    """
    results: list[ItemResult] = []
    for i, r in enumerate(score_items(pipeline, items, k), 1):
        results.append(r)
        if progress is not None:
            progress(i, len(items), r.id)
    return EvalReport(items=results, k=k)


def retrieval_recall(pipeline: PipelineAPI, items: Sequence[EvalItem], k: int = 5) -> dict[str, Any]:
    """Retrieval-only check (no generation): share of answerable items with all evidence in the top-k."""
    answerable = [it for it in items if it.answerable and it.evidence]
    misses: list[dict[str, Any]] = []
    recalls: list[float] = []
    for item in answerable:
        found = _evidence_found(item, pipeline.search(item.question, k))
        recalls.append(sum(found) / len(found))
        if not all(found):
            missing = [e for e, ok in zip(item.evidence, found) if not ok]
            misses.append({"id": item.id, "type": item.type, "question": item.question, "missing": missing})
    n = len(answerable)
    return {
        "k": k,
        "n": n,
        "hit_rate": _round((n - len(misses)) / n) if n else None,
        "evidence_recall": _round(_mean(recalls)),
        "misses": misses,
    }
