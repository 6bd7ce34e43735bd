"""Adding web pages to the library: fetch, read, save as files under data/web/, index just those files.

A page that fails (unreachable, not an article, too large...) is reported in one line and writes nothing; a page
added again overwrites its own file (its address is its identity), and if the new version cannot be indexed the old
file is put back, so nothing already in the library is lost."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import FetchError, RagError
from rag.pipeline_api import PipelineAPI
from rag.schema import IngestReport
from rag.settings import Settings
from rag.web.article import WebArticle, article_path, read_article, save_article
from rag.web.fetch import fetch

log = logging.getLogger(__name__)

Tick = Callable[[int, int, str], None]


@dataclass
class PageResult:
    url: str  # as given
    doc: str = ""  # the document id, once saved
    title: str = ""
    outlet: str = ""
    published: str = ""
    status: str = ""  # added | updated | unchanged | failed
    error: str = ""

    def failure(self) -> str:
        """Why it failed, naming the address once ("“not a url” is not a web address: …" names it already)."""
        return self.error if self.error.startswith("“") else f"{self.url}: {self.error}"

    def line(self) -> str:
        if self.status == "failed":
            return f"✖ {self.failure()}"
        where = ", ".join(x for x in (self.outlet, self.published) if x)
        return f"✔ {self.status}: {self.title}" + (f" ({where})" if where else "") + f"  [{self.doc}]"


@dataclass
class AddReport:
    pages: list[PageResult] = field(default_factory=list)
    ingest: IngestReport | None = None

    @property
    def failed(self) -> list[PageResult]:
        return [p for p in self.pages if p.status == "failed"]

    def summary(self) -> str:
        counts = {s: sum(p.status == s for p in self.pages) for s in ("added", "updated", "unchanged", "failed")}
        return ", ".join(f"{n} {s}" for s, n in counts.items() if n or s == "added")


def fetch_article(url: str, settings: Settings) -> WebArticle:
    page = fetch(url, settings)
    return read_article(page.body, page.url)


def doc_id(path: Path, settings: Settings) -> str:
    try:
        return path.resolve().relative_to(Path(settings.data_dir).resolve()).as_posix()
    except ValueError:
        return path.name


def index_saved(saved: dict[Path, bytes | None], pipeline: PipelineAPI, progress: Tick | None = None
                ) -> tuple[IngestReport, dict[Path, str]]:
    """Index the files just written; one that ingest skips gets its earlier version back (or goes), and its reason
    comes back by path."""
    report = pipeline.ingest(list(saved), progress=progress)
    failed: dict[Path, str] = {}
    restore: list[Path] = []
    for raw, reason in report.skipped:
        path = Path(raw)
        match = next((p for p in saved if p.resolve() == path.resolve()), None)
        if match is None:
            continue
        failed[match] = reason
        before = saved[match]
        if before is None:
            match.unlink(missing_ok=True)
        else:
            match.write_bytes(before)
            restore.append(match)
    if restore:
        pipeline.ingest(restore)
    return report, failed


def add_urls(urls: Sequence[str], pipeline: PipelineAPI, settings: Settings, progress: Tick | None = None,
             fetched: Tick | None = None) -> AddReport:
    """Fetch and save each page, then index them in one go. `fetched(done, total, url)` follows the downloads."""
    report = AddReport()
    saved: dict[Path, bytes | None] = {}
    by_path: dict[Path, PageResult] = {}
    wanted = [u.strip() for u in urls if u and u.strip()]
    for i, url in enumerate(dict.fromkeys(wanted)):
        result = PageResult(url)
        report.pages.append(result)
        try:
            article = fetch_article(url, settings)
        except FetchError as e:
            result.status, result.error = "failed", str(e)
        else:
            path = article_path(article.url, settings)
            if path not in saved:
                saved[path] = path.read_bytes() if path.is_file() else None
            save_article(article, settings)
            by_path[path] = result
            result.doc, result.title = doc_id(path, settings), article.title
            result.outlet, result.published = article.outlet, article.published
        if fetched:
            fetched(i + 1, len(wanted), url)
    if not saved:
        return report
    try:
        report.ingest, failed = index_saved(saved, pipeline, progress)
    except RagError as e:
        for path, before in saved.items():  # the index did not change: the files go back as they were
            if before is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(before)
            by_path[path].status, by_path[path].error = "failed", str(e)
        return report
    done = report.ingest
    for path, result in by_path.items():
        if path in failed:
            result.status, result.error = "failed", failed[path]
        elif result.doc in done.added:
            result.status = "added"
        elif result.doc in done.updated:
            result.status = "updated"
        else:
            result.status = "unchanged"
    for result in report.pages:  # two addresses with one canonical page: the second was the same document
        result.status = result.status or "unchanged"
    return report
