"""Running an evaluation: index a set's own corpus into a temporary folder when it has one (`corpus_pipeline`), ask
every question through the same pipeline the CLI and the UI use, score each answer, and build the report."""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.evaluate.dataset import EvalItem
from rag.evaluate.report import EvalReport
from rag.evaluate.score import DocCache, ItemResult, evidence_found, mean, rounded, score_answer
from rag.pipeline_api import PipelineAPI
from rag.schema import IngestReport
from rag.settings import Settings

log = logging.getLogger(__name__)


Progress = Callable[[int, int, str], None]
PipelineFactory = Callable[[Settings], PipelineAPI]


# ---------------------------------------------------------------------------- loading


# ---------------------------------------------------------------------------- sets, splits, filters


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
    from rag.index.store import make_store

    if _inside(index, settings.index_path) or _inside(settings.index_path, index):
        raise RagError(f"--index-dir {index} is the configured index {settings.index_path}: "
                       "choose a separate folder for the eval set's index.")
    store = make_store(settings.replace(index_dir=index))
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


def eval_collection(settings: Settings, corpus: Path) -> str:
    """With RAG_STORE=milvus and a database named by RAG_MILVUS_URI (one the library may share), an eval set gets
    collections of its own, named after its folder; the default Milvus Lite file lives in the eval's index folder."""
    if settings.store != "milvus" or not settings.milvus_uri:
        return settings.milvus_collection
    digest = hashlib.sha1(str(Path(corpus).resolve()).encode()).hexdigest()[:10]
    return f"{settings.milvus_collection}_eval_{digest}"


def _real_pipeline(settings: Settings) -> PipelineAPI:
    from rag.pipeline import Pipeline

    return Pipeline(settings)


def _copy_half(files: Sequence[Path], folder: Path) -> Path:
    """`folder` holding exactly `files` (unchanged ones are not copied again)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = {f.name for f in files}
    for old in folder.iterdir():
        if old.name not in names and old.is_file():
            old.unlink()
    for f in files:
        target = folder / f.name
        if not target.exists() or target.stat().st_size != f.stat().st_size:
            shutil.copy2(f, target)
    return folder


@contextmanager
def corpus_pipeline(settings: Settings, corpus: Path, index_dir: Path | None = None,
                    factory: PipelineFactory | None = None,
                    progress: Progress | None = None,
                    files: Sequence[Path] | None = None) -> Iterator[tuple[PipelineAPI, IngestReport]]:
    """A pipeline over `corpus` alone, indexed in a temporary folder that is removed on exit (also on
    Ctrl-C); with `index_dir` the index is kept there, and a re-run over an unchanged corpus only
    re-checks file stats. Uploads are pointed at the temporary folder too, so nothing lands in the set.
    With `files`, only those files of the corpus are indexed (one half of it: copied to the temporary folder)."""
    corpus = Path(corpus)
    tmp = Path(tempfile.mkdtemp(prefix="rag-eval-"))
    pipeline = None
    try:
        if files is not None:  # beside a kept index, so that a re-run finds the same corpus folder
            corpus = _copy_half(files, tmp / "corpus" if index_dir is None else
                                Path(index_dir).with_name(Path(index_dir).name + "-corpus"))
        index = Path(index_dir) if index_dir is not None else tmp / "index"
        if index_dir is not None:
            _check_index_dir(index, corpus, settings)
        local = settings.replace(data_dir=corpus, index_dir=index, upload_dir=tmp / "uploads",
                                 milvus_collection=eval_collection(settings, corpus))
        pipeline = (factory or _real_pipeline)(local)
        report = pipeline.ingest([corpus], progress=progress)
        log.info("eval corpus %s: %s", corpus, report.summary())
        yield pipeline, report
    finally:
        close = getattr(pipeline, "close", None)
        if close:  # a database store lets go of its files before they are removed
            close()
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------- text matching


# ---------------------------------------------------------------------------- per item


# ---------------------------------------------------------------------------- aggregation


# ---------------------------------------------------------------------------- entry points


def score_items(pipeline: PipelineAPI, items: Sequence[EvalItem], k: int = 5) -> Iterator[ItemResult]:
    """Answer the questions one at a time (no history), yielding each score as soon as it is known,
    so a caller can write it out and keep what was answered when the run is stopped."""
    docs = DocCache(pipeline)
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
        found = evidence_found(item, pipeline.search(item.question, k))
        recalls.append(sum(found) / len(found))
        if not all(found):
            missing = [e for e, ok in zip(item.evidence, found) if not ok]
            misses.append({"id": item.id, "type": item.type, "question": item.question, "missing": missing})
    n = len(answerable)
    return {
        "k": k,
        "n": n,
        "hit_rate": rounded((n - len(misses)) / n) if n else None,
        "evidence_recall": rounded(mean(recalls)),
        "misses": misses,
    }
