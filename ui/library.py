"""The Library tab and the page's orientation: what the library holds, examples drawn from it,
uploads with a report in words, reading a document, and removing one from the index."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from rag.dates import month_year
from rag.errors import RagError
from rag.pipeline_api import PipelineAPI
from rag.schema import DocumentInfo, IngestReport
from rag.settings import Settings
from ui.render import date_text, esc
from ui.uploads import Intake, store_uploads
from ui.warmup import Warmup

log = logging.getLogger(__name__)

N_EXAMPLES = 3
_WH = {"why", "how", "what", "who", "whom", "whose", "when", "where", "which"}
_NAME = re.compile(r"\b[A-Z][a-z]+(?:[-'’][A-Za-z]+)?(?:\s+[A-Z][a-z]+(?:[-'’][A-Za-z]+)?)+")
_NOT_NAMES = set(
    "A An The On In At Of For And But Or As By To From With After Before When While If Since During Mr Mrs Ms Dr "
    "Jan Feb Mar Apr May Jun Jul Aug Sep Sept Oct Nov Dec January February March April June July August September "
    "October November December Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
)


# ---------- what the library holds ----------
def library_summary(docs: Sequence[DocumentInfo]) -> str:
    """"2 articles: TIME, Oct 2015 · The Moscow Times, Jan 2020"; a count and a date range for more."""
    if not docs:
        return "The library is empty: add articles in the Library tab to ask about them."
    noun = "article" if len(docs) == 1 else "articles"
    if len(docs) <= 3:
        items = [", ".join(x for x in (d.outlet or d.title or d.doc, month_year(d.published)) if x) for d in docs]
        return f"{len(docs)} {noun}: " + " · ".join(items)
    dates = sorted(d.published for d in docs if d.published)
    outlets = {d.outlet for d in docs if d.outlet}
    parts = [f"{len(docs)} {noun}"]
    if outlets:
        parts.append(f"from {len(outlets)} outlet{'s' if len(outlets) != 1 else ''}")
    text = " ".join(parts)
    if dates:
        first, last = month_year(dates[0]), month_year(dates[-1])
        text += f", {first}" + (f" – {last}" if last != first else "")
    return text


def _title_question(title: str) -> str:
    """A headline that is already a question ("Why Putin Went Into Syria: …") asked as one."""
    head = re.split(r"\s*[:|—–]\s*", title.strip(), maxsplit=1)[0].strip().rstrip("?.!")
    words = head.split()
    return f"{head}?" if len(words) >= 3 and words[0].lower() in _WH else ""


def _lead(text: str, chars: int = 500) -> str:
    """The opening paragraph: what the article leads with."""
    body = re.sub(r"^\s*#.*\n", "", text or "").strip()
    return body.split("\n\n", 1)[0][:chars]


def _names(text: str) -> list[str]:
    """Capitalised runs of 2+ words in the lead, trimmed to the last two words (a person's name)."""
    out = []
    for m in _NAME.finditer(text):
        words = [w for w in m.group(0).split() if w not in _NOT_NAMES]
        if len(words) >= 2 and " ".join(words[-2:]) not in out:
            out.append(" ".join(words[-2:]))
    return out


def _lead_names(text: str) -> list[str]:
    """Names in the lead, those the article mentions most first (ties: the earlier one)."""
    counts = Counter(w.lower() for w in re.findall(r"[A-Za-z]+", text))
    names = _names(_lead(text))
    return sorted(names, key=lambda s: (-counts[s.split()[-1].lower()], names.index(s)))


def example_questions(docs: Sequence[DocumentInfo], text_of: Callable[[str], str], n: int = N_EXAMPLES
                      ) -> list[str]:
    """Questions the library can answer, from its headlines and the people its articles lead with."""
    out = list(dict.fromkeys(q for d in docs if (q := _title_question(d.title))))[:n]
    pools = []
    for d in docs[: 2 * n]:
        try:
            pools.append(_lead_names(text_of(d.doc) or ""))
        except Exception:  # noqa: BLE001 - no text just means no example from this document
            continue
    while len(out) < n and any(pools):
        for pool in pools:
            while pool and len(out) < n:
                name = pool.pop(0)
                if not any(name.split()[-1].lower() in q.lower() for q in out):
                    out.append(f"What do the articles say about {name}?")
                    break
    return out


def docs_html(docs: Sequence[DocumentInfo]) -> str:
    """The library as a list that wraps on any screen (a table cut its columns off on phones)."""
    if not docs:
        return '<p class="rag-placeholder">No articles yet: add some below.</p>'
    rows = []
    for d in docs:
        meta = " · ".join(x for x in (esc(d.outlet), esc(date_text(vars(d))),
                                      f"{d.chunks} passage{'s' if d.chunks != 1 else ''}") if x)
        rows.append(f'<li><span class="rag-title">{esc(d.title or d.doc)}</span>'
                    f'<span class="rag-meta">{meta}</span><span class="rag-doc">{esc(d.doc)}</span></li>')
    return f'<ul class="rag-doclist">{"".join(rows)}</ul>'


def document_html(d: DocumentInfo | None, text: str) -> str:
    if d is None:
        return ""
    meta = " · ".join(x for x in (esc(d.outlet), esc(date_text(vars(d))), esc(d.doc)) if x)
    paras = "".join(f"<p>{esc(p)}</p>" for p in re.split(r"\n\s*\n", text or "") if p.strip())
    return (f'<div class="rag-doctext"><h3>{esc(d.title or d.doc)}</h3><p class="rag-meta">{meta}</p>'
            f'{paras or "<p><i>No text stored.</i></p>"}</div>')


# ---------- upload report ----------
def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def report_html(report: IngestReport | None, rejected: Sequence[tuple[str, str]],
                docs: dict[str, DocumentInfo]) -> str:
    """"Added 1 article: Title (12 passages). Skipped 1: report.pdf: corrupt PDF." with clear marks."""
    def named(ids: Sequence[str]) -> str:
        return "; ".join(
            f"{d.title or d.doc} ({_plural(d.chunks, 'passage')})" if (d := docs.get(i)) else i for i in ids
        )

    ok, fail = [], []
    if report is not None:
        if report.added:
            ok.append(f"Added {_plural(len(report.added), 'article')}: {named(report.added)}.")
        if report.updated:
            ok.append(f"Updated {_plural(len(report.updated), 'article')}: {named(report.updated)}.")
        if report.unchanged:
            ok.append(f"Already in the library, unchanged: {named(report.unchanged)}.")
    if rejected:
        items = "".join(f"<li><b>{esc(n)}</b>: {esc(r)}</li>" for n, r in rejected)
        fail.append(f"<p>✖ Skipped {len(rejected)}:</p><ul>{items}</ul>")
    parts = [f'<p class="rag-ok">✔ {esc(line)}</p>' for line in ok] + \
        [f'<div class="rag-fail">{"".join(fail)}</div>'] * bool(fail)
    return f'<div class="rag-report">{"".join(parts)}</div>' if parts else ""


# ---------- handlers ----------
class Library:
    """Everything that reads or changes the library; every change refreshes the whole page's view of it."""

    def __init__(self, pipeline: PipelineAPI, settings: Settings, warmup: Warmup) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.warmup = warmup

    def documents(self) -> list[DocumentInfo]:
        """Empty until the models (and so the index) are loaded."""
        if not self.warmup.ready:
            return []
        try:
            return self.pipeline.documents()
        except RagError as e:
            log.warning("listing documents failed: %s", e)
            return []

    def view(self) -> tuple[Any, ...]:
        """(library list, document picker, orientation line, *example buttons)."""
        docs = self.documents()
        ready = self.warmup.ready
        examples = example_questions(docs, self.pipeline.document_text) if ready else []
        choices = [(f"{d.title or d.doc} ({d.doc})", d.doc) for d in docs]
        about = library_summary(docs) if ready else "Loading the library…"
        buttons = [gr.Button(value=q, visible=True) for q in examples]
        buttons += [gr.Button(visible=False)] * (N_EXAMPLES - len(examples))
        return (docs_html(docs), gr.Dropdown(choices=choices, value=None),
                f'<p class="rag-about">{esc(about)}</p>', *buttons)

    def add_files(self, files: list[str] | str | None, progress: gr.Progress = gr.Progress()) -> tuple[str, None]:
        """Check, store and index uploads; a file that fails is reported, deleted, and the rest still go in."""
        paths = [files] if isinstance(files, str) else list(files or [])
        if not paths:
            gr.Warning("Choose one or more files first (.txt, .md, .html, .pdf).")
            return "", None
        intake = store_uploads(paths, self.settings.upload_path, self.settings.max_upload_mb)
        rejected = list(intake.rejected)
        report = None
        if intake.saved:
            progress(0.0, desc="Waiting for the models…")
            if not self.warmup.wait():
                self._discard_all(intake)
                raise gr.Error(self.warmup.error or "The models are not available.")
            report, failed = self._ingest(intake, progress)
            rejected += failed
        if rejected:
            gr.Warning(f"{_plural(len(rejected), 'file')} could not be added; see the report.")
        docs = {d.doc: d for d in self.documents()}
        return report_html(report, rejected, docs), None

    def _ingest(self, intake: Intake, progress: gr.Progress) -> tuple[IngestReport | None, list[tuple[str, str]]]:
        def step(done: int, total: int, label: str) -> None:
            progress((done, total) if total else None, desc=label or "Indexing")

        try:
            report = self.pipeline.ingest(list(intake.saved), progress=step)
        except RagError as e:
            return None, self._discard_all(intake, str(e))
        except Exception:  # noqa: BLE001
            log.exception("ingest of uploads failed")
            return None, self._discard_all(intake, "indexing failed; the details are in the server log")
        failed, restore = [], []
        for path, reason in report.skipped:
            failed.append((Path(path).name, reason))
            if intake.discard(Path(path)):
                restore.append(Path(path))
        intake.commit()
        if restore:  # a bad re-upload must not cost the good version it tried to replace
            self.pipeline.ingest(restore)
        report.skipped = []
        return report, failed

    def _discard_all(self, intake: Intake, reason: str = "") -> list[tuple[str, str]]:
        failed = [(p.name, reason) for p in list(intake.saved)]
        restore = [p for p in list(intake.saved) if intake.discard(p)]
        if restore:
            try:
                self.pipeline.ingest(restore)
            except RagError as e:
                log.warning("re-indexing the earlier uploads failed: %s", e)
        return failed

    # ---- the API's library calls (JSON in and out, for scripts) ----
    def api_documents(self) -> list[dict]:
        """The documents in the library: id, title, outlet, date and chunks of each."""
        if not self.warmup.wait():
            raise gr.Error(self.warmup.error or "The models are not available.")
        try:
            return [d.to_dict() for d in self.pipeline.documents()]
        except RagError as e:
            raise gr.Error(str(e)) from e

    def api_remove(self, doc: str) -> dict:
        """Remove one document (by its id, as /documents lists it) from the library; its file goes to .removed/.

        Parameters:
            doc: the document's id
        """
        if not self.warmup.wait():
            raise gr.Error(self.warmup.error or "The models are not available.")
        try:
            report = self.pipeline.remove([(doc or "").strip()])
        except RagError as e:
            raise gr.Error(str(e)) from e
        return {"removed": report.removed, "documents": report.documents, "chunks": report.chunks}

    def _find(self, doc: str) -> DocumentInfo | None:
        return next((d for d in self.documents() if d.doc == doc), None)

    def show_text(self, doc: str | None) -> str:
        if not doc:
            gr.Warning("Choose a document first.")
            return ""
        info = self._find(doc)
        return document_html(info, self.pipeline.document_text(doc) if info else "")

    def ask_remove(self, doc: str | None) -> tuple[Any, Any]:
        """Removing is not undoable from the page, so it asks first."""
        if not doc:
            gr.Warning("Choose a document first.")
            return gr.skip(), gr.skip()
        info = self._find(doc)
        name = info.title or info.doc if info else doc
        return gr.Row(visible=True), (f"Remove **{name}** from the library? It leaves the index at once; "
                                      "its file is moved to the data folder's `.removed/` folder.")

    def remove(self, doc: str | None) -> tuple[Any, str, str]:
        """(confirm row, report, document text); the caller refreshes the library view after."""
        if not doc:
            return gr.Row(visible=False), "", ""
        info = self._find(doc)
        try:
            self.pipeline.remove([doc])
        except RagError as e:
            gr.Warning(str(e))
            msg = f'<div class="rag-report"><div class="rag-fail"><p>✖ {esc(e)}</p></div></div>'
        else:
            name = (info.title or info.doc) if info else doc
            msg = f'<div class="rag-report"><p class="rag-ok">✔ Removed: {esc(name)}.</p></div>'
        return gr.Row(visible=False), msg, ""
