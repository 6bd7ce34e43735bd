"""The Library tab and the page's orientation: what the library holds, examples drawn from it,
uploads with a report in words, reading a document, and removing one from the index."""

from __future__ import annotations

import contextlib
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from rag.dates import display_date, month_year
from rag.errors import DocumentNotFoundError, RagError, split_detail
from rag.ingest.trash import forget, former_place
from rag.pipeline_api import PipelineAPI
from rag.schema import DocumentInfo, IngestReport
from rag.settings import Settings
from rag.web.feeds import FeedList
from ui.headline import FUNCTION, headline_question
from ui.library_table import (LOADING_HTML, KeyCache, Query, display_title, document_html, feed_choices, list_html,
                              outlet_choices)
from ui.render import esc
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
def _when(published: str, approx: bool) -> str:
    """A date range's end: "Oct 2015", or "about Oct 2015" when the date is an estimate (as the source cards say)."""
    return display_date(published, approx) if approx else month_year(published)


def _short_title(title: str, limit: int = 60) -> str:
    """The headline's main clause: "Why Putin Went Into Syria" of "Why Putin Went Into Syria: Russia's Bid ..."."""
    head = re.split(r"\s*[:|—–]\s+", title.strip(), maxsplit=1)[0].strip()
    return head if len(head) <= limit else head[: head.rfind(" ", 0, limit)] + "…"


def _subjects(docs: Sequence[DocumentInfo], n: int = 3) -> list[str]:
    """Names that recur across headlines (in two or more): what a larger library is mostly about."""
    seen: Counter = Counter()
    for d in docs:
        seen.update(list(dict.fromkeys(w for w in re.findall(r"\b[A-Z][a-zA-Z’'-]{2,}", d.title or "")
                                  if w.lower() not in FUNCTION and w not in _NOT_NAMES and w.lower() not in _WH)))
    first = {w: i for i, w in enumerate(seen)}  # ties: the name met first
    return [w for w in sorted(seen, key=lambda w: (-seen[w], first[w]))[:n] if seen[w] >= 2]


def library_summary(docs: Sequence[DocumentInfo], text_of: Callable[[str], str] | None = None) -> str:
    """What the library covers: a few articles by headline, outlet and date (as the list and the source cards show
    it: "TIME, about Oct 2015"); more by count, outlets, date range (by month) and the names their headlines share."""
    if not docs:
        return "The library is empty: add articles in the Library tab to ask about them."
    noun = "article" if len(docs) == 1 else "articles"
    if len(docs) <= 3:
        items = []
        for d in docs:
            where = ", ".join(x for x in (re.sub(r"\s*\(.*\)$", "", d.outlet or ""),
                                          display_date(d.published, d.published_approx)) if x)
            items.append(f"“{_short_title(display_title(d, text_of))}”" + (f" ({where})" if where else ""))
        return f"{len(docs)} {noun}: " + " · ".join(items)
    dated = sorted((d for d in docs if d.published), key=lambda d: d.published)
    outlets = {d.outlet for d in docs if d.outlet}
    text = f"{len(docs):,} {noun}"
    if outlets:
        text += f" from {len(outlets)} outlet{'s' if len(outlets) != 1 else ''}"
    if dated:
        first = _when(dated[0].published, dated[0].published_approx)
        last = _when(dated[-1].published, dated[-1].published_approx)
        text += f", {first}" + (f" – {last}" if last != first else "")
    subjects = _subjects(docs)
    if subjects:
        text += ", mostly about " + (", ".join(subjects[:-1]) + " and " + subjects[-1] if len(subjects) > 1
                                     else subjects[0])
    return text


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
    ranked = sorted(names, key=lambda s: (-counts[s.split()[-1].lower()], names.index(s)))
    # "the Soviet Union": a name the article writes after "the" (at least half the time) is asked about so
    return [f"the {n}" if len(re.findall(rf"\b[Tt]he {re.escape(n)}\b", text)) * 2 >= max(1, text.count(n)) else n
            for n in ranked]


def example_questions(docs: Sequence[DocumentInfo], text_of: Callable[[str], str], n: int = N_EXAMPLES
                      ) -> list[str]:
    """Questions the library can answer: its wh-headlines asked as real questions (ui.headline; a headline that
    cannot be made one is left out), then the people its articles lead with."""
    texts: dict[str, str] = {}
    for d in docs[: 2 * n]:
        try:
            texts[d.doc] = text_of(d.doc) or ""
        except Exception:  # noqa: BLE001 - no text just means no example from this document
            continue
    out = list(dict.fromkeys(q for d in docs if (q := headline_question(d.title, texts.get(d.doc, "")))))[:n]
    pools = [_lead_names(t) for t in texts.values()]
    while len(out) < n and any(pools):
        for pool in pools:
            while pool and len(out) < n:
                name = pool.pop(0)
                if not any(name.split()[-1].lower() in q.lower() for q in out):
                    out.append(f"What do the articles say about {name}?")
                    break
    return out


# ---------- upload report ----------
def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _reason_html(reason: str) -> str:
    """The reason in words; a library's own wording (e.g. pypdf's) folded behind "Technical detail"."""
    words, detail = split_detail(reason)
    if not detail:
        return esc(words)
    return (f'{esc(words)}. <details class="rag-detail"><summary>Technical detail</summary>'
            f'<code>{esc(detail)}</code></details>')


def report_html(report: IngestReport | None, rejected: Sequence[tuple[str, str]],
                docs: dict[str, DocumentInfo], text_of: Callable[[str], str] | None = None) -> str:
    """"Added 1 article: Title (12 passages). Skipped 1: report.pdf: corrupt PDF." with clear marks."""
    def named(ids: Sequence[str]) -> str:
        return "; ".join(
            f"{display_title(d, text_of)} ({_plural(d.chunks, 'passage')})" if (d := docs.get(i)) else Path(i).name
            for i in ids
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
        items = "".join(f"<li><b>{esc(n)}</b>: {_reason_html(r)}</li>" for n, r in rejected)
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
        self._indexing = 0  # uploads being indexed now (a slow answer's status line says so)
        self._keys = KeyCache()  # each article's search text, kept between keystrokes

    @property
    def indexing(self) -> bool:
        return self._indexing > 0

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Marks an indexing run (uploads, web pages, feeds) while it lasts."""
        self._indexing += 1
        try:
            yield
        finally:
            self._indexing -= 1

    def documents(self) -> list[DocumentInfo]:
        """Empty until the models (and so the index) are loaded."""
        if not self.warmup.ready:
            return []
        try:
            return self.pipeline.documents()
        except RagError as e:
            log.warning("listing documents failed: %s", e)
            return []

    def _feed_titles(self) -> dict[str, str]:
        try:
            return {f.url: f.title for f in FeedList(self.settings.feeds_path).read()}
        except RagError as e:
            log.warning("reading the list of feeds failed: %s", e)
            return {}

    def _list(self, docs: list[DocumentInfo], q: Query) -> tuple[str, int]:
        return list_html(docs, q, self._keys.of(docs), text_of=self.pipeline.document_text)

    def view(self, search: str = "", sort: str = "new", outlet: str = "", feed: str = "", page: int = 1
             ) -> tuple[Any, ...]:
        """(library list, outlet filter, feed filter, page, orientation line, *example buttons): everything on the
        page that follows the library, after a change or when the tab opens. A filter whose outlet or feed is gone
        goes back to all articles."""
        docs = self.documents()
        ready = self.warmup.ready
        outlets = outlet_choices(docs)
        feeds = feed_choices(docs, self._feed_titles()) if docs else []
        q = Query.of(search, sort, outlet, feed, page)
        q = Query(q.search, q.sort, q.outlet if q.outlet in {v for _, v in outlets} else "",
                  q.feed if q.feed in {v for _, v in feeds} else "", q.page)
        html, shown = self._list(docs, q) if ready else (LOADING_HTML, q.page)
        examples = example_questions(docs, self.pipeline.document_text) if ready else []
        about = library_summary(docs, self.pipeline.document_text) if ready else "Loading the library…"
        buttons = [gr.Button(value=x, visible=True) for x in examples]
        buttons += [gr.Button(visible=False)] * (N_EXAMPLES - len(examples))
        return (html, gr.Dropdown(choices=outlets, value=q.outlet),
                gr.Dropdown(choices=feeds or [("All articles", "")], value=q.feed, visible=bool(feeds)), shown,
                f'<p class="rag-about">{esc(about)}</p>', *buttons)

    def browse(self, search: str = "", sort: str = "new", outlet: str = "", feed: str = "", page: int = 1
               ) -> tuple[str, int]:
        """(library list, page): a search, an order, a filter or another page redraws the list alone."""
        q = Query.of(search, sort, outlet, feed, page)
        return self._list(self.documents(), q) if self.warmup.ready else (LOADING_HTML, q.page)

    def add_files(self, files: list[str] | str | None, progress: gr.Progress = gr.Progress()) -> tuple[str, None]:
        """Check, store and index uploads; a file that fails is reported, deleted, and the rest still go in."""
        paths = [files] if isinstance(files, str) else list(files or [])
        if not paths:
            gr.Warning("Choose one or more files first (.txt, .md, .html, .pdf).")
            return "", None
        s = self.settings
        roots = [Path(s.data_dir), s.upload_path]
        intake = store_uploads(paths, s.upload_path, s.max_upload_mb,
                               place=lambda name, src: former_place(s.trash_path, name, src, roots))
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
        return report_html(report, rejected, docs, self.pipeline.document_text), None

    def _ingest(self, intake: Intake, progress: gr.Progress) -> tuple[IngestReport | None, list[tuple[str, str]]]:
        def step(done: int, total: int, label: str) -> None:
            progress((done, total) if total else None, desc=label or "Indexing")

        try:
            with self.busy():
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
        for path in intake.returned:  # back in the library under its old id: the trashed copy is not needed
            if path in intake.saved:
                forget(self.settings.trash_path, path)
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
        """The article of a row's Show button, to read."""
        info = self._find(doc) if doc else None
        if info is None:
            gr.Warning(GONE)
            return ""
        return document_html(info, self.pipeline.document_text(info.doc))

    def ask_remove(self, doc: str | None) -> tuple[Any, Any, Any]:
        """(confirm row, its question, the article it is about): removing is not undoable from the page, so the
        row's Remove button asks first."""
        info = self._find(doc) if doc else None
        if info is None:
            gr.Warning(GONE)
            return gr.Row(visible=False), gr.skip(), gr.skip()
        return gr.Row(visible=True), (
            f"Remove **{_md(display_title(info, self.pipeline.document_text))}** from the library? It leaves the "
            "index at once; its file is set aside, so adding the same file again puts it back where it was."), doc

    def remove(self, doc: str | None) -> tuple[Any, str, str]:
        """(confirm row, report, document text); the caller refreshes the library view after."""
        if not doc:
            return gr.Row(visible=False), "", ""
        info = self._find(doc)
        name = display_title(info, self.pipeline.document_text) if info else ""
        try:
            self.pipeline.remove([doc])
        except DocumentNotFoundError:
            gr.Warning(GONE)
            msg = f'<div class="rag-report"><div class="rag-fail"><p>✖ {esc(GONE)}</p></div></div>'
        except RagError as e:
            gr.Warning(split_detail(str(e))[0])
            msg = f'<div class="rag-report"><div class="rag-fail"><p>✖ {_reason_html(str(e))}</p></div></div>'
        else:
            msg = f'<div class="rag-report"><p class="rag-ok">✔ Removed: {esc(name or "the article")}.</p></div>'
        return gr.Row(visible=False), msg, ""


GONE = "That article is no longer in the library (it may have been removed in another window)."


def _md(text: str) -> str:
    """Text shown as itself inside Markdown (a headline's * or _ is not emphasis, its <b> not a tag)."""
    return re.sub(r"([\\`*_{}\[\]()#+!|<>~-])", r"\\\1", text)
