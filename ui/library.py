"""The Library tab: list the indexed articles and add uploads to the index."""

from __future__ import annotations

import logging
from collections.abc import Callable
from html import escape
from pathlib import Path

import gradio as gr

from rag.errors import RagError
from rag.pipeline_api import PipelineAPI
from rag.schema import IngestReport
from rag.settings import Settings
from ui.render import esc
from ui.uploads import store_uploads
from ui.warmup import Warmup

log = logging.getLogger(__name__)

HEADERS = ["Title", "Outlet", "Date", "Chunks", "File"]


def document_rows(pipeline: PipelineAPI, warmup: Warmup) -> list[list]:
    """Rows for the table; empty until the models (and so the index) are loaded."""
    if not warmup.ready:
        return []
    try:
        docs = pipeline.documents()
    except RagError as e:
        log.warning("listing documents failed: %s", e)
        return []
    return [[d.title or d.doc, d.outlet, d.published, d.chunks, d.doc] for d in docs]


def _report_html(report: IngestReport | None, rejected: list[tuple[str, str]]) -> str:
    parts = []
    if report is not None:
        added = ", ".join(report.added + report.updated)
        parts.append(f'<p class="rag-ok">✔ {esc(report.summary())}</p>')
        if added:
            parts.append(f"<p>Now searchable: {esc(added)}</p>")
    skipped = list(rejected) + [(Path(p).name, r) for p, r in (report.skipped if report else [])]
    if skipped:
        items = "".join(f"<li><b>{escape(n)}</b>: {escape(r)}</li>" for n, r in skipped)
        parts.append(f'<div class="rag-skipped"><p>Not added:</p><ul>{items}</ul></div>')
    return f'<div class="rag-report">{"".join(parts)}</div>' if parts else ""


def make_add_files(pipeline: PipelineAPI, settings: Settings, warmup: Warmup) -> Callable:
    """Check, store and ingest uploaded files; bad files are reported and the rest still go in."""

    def add_files(files: list[str] | str | None, progress: gr.Progress = gr.Progress()) -> tuple[str, list[list], None]:
        paths = [files] if isinstance(files, str) else list(files or [])
        if not paths:
            gr.Warning("Choose one or more files first (.txt, .md, .html, .pdf).")
            return "", document_rows(pipeline, warmup), None
        intake = store_uploads(paths, settings.upload_path, settings.max_upload_mb)
        report = None
        if intake.saved:
            progress(0.0, desc="Waiting for the models…")
            if not warmup.wait():
                raise gr.Error(warmup.error or "The models are not available.")

            def step(done: int, total: int, label: str) -> None:
                progress((done, total) if total else None, desc=label or "Indexing")

            try:
                report = pipeline.ingest(intake.saved, progress=step)
            except RagError as e:
                gr.Warning(str(e))
                return _report_html(None, intake.rejected + [(p.name, str(e)) for p in intake.saved]), \
                    document_rows(pipeline, warmup), None
            except Exception:  # noqa: BLE001
                log.exception("ingest of uploads failed")
                msg = "indexing failed; the details are in the server log"
                return _report_html(None, intake.rejected + [(p.name, msg) for p in intake.saved]), \
                    document_rows(pipeline, warmup), None
        if intake.rejected:
            gr.Warning(f"{len(intake.rejected)} file(s) were not added; see the list below.")
        return _report_html(report, intake.rejected), document_rows(pipeline, warmup), None

    return add_files
