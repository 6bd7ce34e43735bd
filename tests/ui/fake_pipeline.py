"""A small, deterministic stand-in for `rag.pipeline.Pipeline`, so the UI is tested without models.

It keeps a few real articles in memory, retrieves paragraphs by word overlap, and answers by quoting
the best matching sentence, so every citation is an exact slice `text[start:end]` of its document.
Answers stream in several token events with short sleeps, like a real model.
"""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.errors import DocumentNotFoundError, LoadError, RagError
from rag.pipeline_api import History, Progress, Stop
from rag.schema import Answer, Chunk, Citation, DateRange, DocumentInfo, IngestReport, Passage, StreamEvent

PUTIN_SYRIA = """Russian warplanes began striking targets in Syria on Wednesday, the first time Moscow has fought outside the former Soviet Union since its war in Afghanistan ended in 1989.

President Vladimir Putin said the campaign would stabilise the legitimate government of Bashar al-Assad and fight terrorists in Syria before they could reach Russia. Officials in Moscow said several thousand fighters from Russia and Central Asia had joined the Islamic State.

Analysts said Putin entered Syria to protect Russia's only naval base on the Mediterranean, at Tartus, and to show that Moscow could not be ignored in the Middle East. Western governments said most of the first strikes hit rebel groups rather than the Islamic State.

The intervention came weeks after Russia moved tanks, artillery and fighter jets to an air base near Latakia, the Assad family's home region."""

EU_CLIMATE = """European Union leaders agreed early on Friday to cut the bloc's greenhouse gas emissions by at least 55 percent by 2030, compared with 1990 levels, after an all-night summit in Brussels.

Poland, which relies on coal for most of its electricity, won a promise of extra money to help its power sector change. Environmental groups said the target was still too weak to meet the goals of the Paris Agreement.

The deal must now be written into the European climate law, which the European Parliament wants to set at a 60 percent cut."""

XSS_TEXT = """Security researchers published a test page that contained the string <script>window.__xss=1</script> inside an article about browser safety.

The same report quoted an image tag, <img src=x onerror="window.__xss=1">, to show how an injection attack works."""

XSS_TITLE = 'Browser <img src=x onerror="window.__xss=1"> safety & <b>you</b>'

STOPWORDS = set(
    "a an and are as at be by did do does for from has have how in is it its of on or the to was were what "
    "when where which who why will with about after this that these those their there they he she his her "
    "me my i you your we our tell more said says".split()
)
_WORD = re.compile(r"[A-Za-z0-9]+")
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
_NEGATION = re.compile(r"\b(not|never|no|didn't|did not)\b", re.I)
_NUMBERS_AND_NEGATION = {"not", "never", "no"}
_SENTENCE = re.compile(r"\S.*?(?:[.!?](?=\s|$)|$)", re.S)


def terms(text: str) -> set[str]:
    """Crude stems (first 5 letters) of the content words, so 'entered' matches 'enter'."""
    return {w.lower()[:5] for w in _WORD.findall(text) if w.lower() not in STOPWORDS and len(w) > 1}


@dataclass
class FakeDoc:
    doc: str
    title: str
    outlet: str
    published: str
    text: str
    published_approx: bool = False
    url: str = ""
    author: str = ""
    feed: str = ""  # the followed feed it came from


def default_corpus(with_xss: bool = True) -> list[FakeDoc]:
    docs = [
        FakeDoc("putin-syria.md", "Why Russia went into Syria", "The Global Ledger", "2015-10-02", PUTIN_SYRIA),
        FakeDoc("eu-climate.md", "EU agrees deeper emissions cut", "Continental Post", "2020-12-11", EU_CLIMATE),
    ]
    if with_xss:
        docs.append(FakeDoc("xss-test.html", XSS_TITLE, "Sec<script>Weekly</script>", "2024-05-01", XSS_TEXT))
    return docs


def paragraphs(text: str) -> list[tuple[int, int]]:
    """(start, end) of each "\n\n"-separated paragraph."""
    out, pos = [], 0
    for part in text.split("\n\n"):
        if part.strip():
            out.append((pos, pos + len(part)))
        pos += len(part) + 2
    return out


def sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    return [(start + m.start(), start + m.end()) for m in _SENTENCE.finditer(text[start:end])]


class FakePipeline:
    """Implements `rag.pipeline_api.PipelineAPI` over an in-memory corpus."""

    def __init__(
        self,
        docs: Sequence[FakeDoc] | None = None,
        *,
        warm_up_s: float = 0.0,
        token_delay_s: float = 0.03,
        warm_up_error: Exception | None = None,
        read_s: float = 0.0,
        check_s: float = 0.0,
        stop_lag_s: float = 0.0,
    ) -> None:
        self._docs: dict[str, FakeDoc] = {d.doc: d for d in (docs if docs is not None else default_corpus())}
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self.warm_up_s = warm_up_s
        self.token_delay_s = token_delay_s
        self.read_s = read_s  # a silent phase before the first word, like the reader reading its prompt
        self.warm_up_error = warm_up_error
        self.warm_up_calls = 0
        self.ingest_calls: list[list[Path]] = []
        self.questions: list[tuple[str, list[dict]]] = []
        self.dates: list[DateRange | None] = []  # the date filter each answer was asked with
        self.removed: list[str] = []
        self.claims: list[str] = []  # the claims checked
        self.check_s = check_s  # how long checking a claim takes
        self.stop_lag_s = stop_lag_s  # how long a running answer takes to notice Stop

    # ---- lifecycle ----
    def warm_up(self) -> None:
        self.warm_up_calls += 1
        time.sleep(self.warm_up_s)
        if self.warm_up_error is not None:
            raise self.warm_up_error
        self._ready.set()

    def is_ready(self) -> bool:
        return self._ready.is_set()

    def _require_ready(self) -> None:
        if not self._ready.is_set():
            raise RuntimeError("FakePipeline used before warm_up() finished")

    # ---- retrieval ----
    def search(self, query: str, k: int | None = None, dates: DateRange | None = None) -> list[Passage]:
        self._require_ready()
        q = terms(query)
        scored = []
        with self._lock:
            docs = [d for d in self._docs.values() if dates is None or dates.contains(d.published)]
        for d in docs:
            for i, (s, e) in enumerate(paragraphs(d.text)):
                hit = len(q & terms(d.text[s:e]))
                if hit:
                    scored.append((hit, d, i, s, e))
        scored.sort(key=lambda x: (-x[0], x[1].doc, x[2]))
        out = []
        for rank, (hit, d, i, s, e) in enumerate(scored[: k or 5], start=1):
            chunk = Chunk(id=f"{d.doc}#{i}", doc=d.doc, text=d.text[s:e], start=s, end=e)
            out.append(
                Passage(chunk, d.title, d.outlet, d.published, score=1.0 / (60 + rank),
                        dense=0.5 + 0.1 * hit, keyword=float(hit) if hit > 1 else None, rank=rank,
                        published_approx=d.published_approx)
            )
        return out

    def _query(self, question: str, history: History | None) -> str:
        """Short follow-ups ("Where is the base?") are searched together with the previous question."""
        users = [m.get("content", "") for m in (history or []) if m.get("role") == "user"]
        return f"{users[-1]} {question}" if users and len(terms(question)) < 3 else question

    def _compose(self, question: str, query: str, passages: list[Passage]) -> Answer:
        q = terms(query)
        citations: list[Citation] = []
        for p in passages[:2]:
            d = self._docs[p.chunk.doc]
            overlap = lambda se: len(q & terms(d.text[se[0] : se[1]]))  # noqa: E731
            best = max(sentences(d.text, p.chunk.start, p.chunk.end), key=overlap)
            if overlap(best) < (1 if not citations else 2):
                continue
            citations.append(Citation(len(citations) + 1, d.doc, d.title, d.published, d.text[best[0]:best[1]],
                                      best[0], best[1], d.outlet, d.published_approx))
        if not citations:
            text = "The articles don't say. None of the retrieved passages answers this question."
            return Answer(question, text, True, [], passages, query, {"retrieve": 1.0, "generate": 2.0})
        text = " ".join(f"{c.quote} [{c.n}]" for c in citations)
        return Answer(question, text, False, citations, passages, query, {"retrieve": 1.0, "generate": 2.0})

    def answer(self, question: str, history: History | None = None, dates: DateRange | None = None) -> Answer:
        final = None
        for ev in self.answer_stream(question, history, dates=dates):
            if ev.kind == "answer":
                final = ev.data
        assert final is not None
        return final

    def answer_stream(self, question: str, history: History | None = None,
                      stop: Stop | None = None, dates: DateRange | None = None) -> Iterator[StreamEvent]:
        self._require_ready()
        if not question.strip():
            raise RagError("Please type a question.")
        if "trigger-error" in question:
            raise RagError("The index is locked by another ingest; try again in a minute.")
        if "trigger-crash" in question:
            raise ValueError("internal details that must not reach the page")
        self.questions.append((question, [dict(m) for m in (history or [])]))
        if stop is not None and self.stop_lag_s:
            stop = self._lagging(stop)
        query = self._query(question, history)
        yield StreamEvent("query", query)
        self.dates.append(dates)
        passages = self.search(query, dates=dates)
        yield StreamEvent("passages", passages)
        final = self._compose(question, query, passages)
        until = time.monotonic() + self.read_s
        while time.monotonic() < until and not (stop is not None and stop()):
            time.sleep(0.05)
        draft = ""
        for piece in re.findall(r"\S+\s*", final.answer):
            time.sleep(self.token_delay_s)
            if stop is not None and stop():
                yield StreamEvent("answer", self._stopped(final, draft))
                return
            draft += piece
            yield StreamEvent("token", piece)
        yield StreamEvent("answer", final)

    def _lagging(self, stop: Stop) -> Stop:
        """A reader too busy to notice Stop for `stop_lag_s` (a long prompt read on a loaded machine)."""
        seen: list[float] = []

        def lagging() -> bool:
            if not seen and stop():
                seen.append(time.monotonic())
            return bool(seen) and time.monotonic() - seen[0] >= self.stop_lag_s

        return lagging

    @staticmethod
    def _stopped(final: Answer, draft: str) -> Answer:
        """Like the real pipeline: only the whole cited sentences streamed so far stay, with their citations."""
        kept = [c for c in final.citations if f"{c.quote} [{c.n}]" in draft]
        text = " ".join(f"{c.quote} [{c.n}]" for c in kept)
        return Answer(final.question, text, False, kept, final.passages, final.query, final.timings, stopped=True)

    # ---- library ----
    def ingest(self, paths: Sequence[Path] | None = None, progress: Progress | None = None) -> IngestReport:
        t0 = time.perf_counter()
        report = IngestReport()
        files: list[Path] = []
        for p in map(Path, paths or []):
            files.extend(sorted(x for x in p.iterdir() if x.is_file()) if p.is_dir() else [p])
        self.ingest_calls.append(files)
        for i, f in enumerate(files):
            if progress:
                progress(i, len(files), f.name)
            try:
                doc = self._load(f)
            except LoadError as e:
                report.skipped.append((str(f), str(e)))
                continue
            with self._lock:
                prev = self._docs.get(doc.doc)
                if prev is not None and prev.text == doc.text:
                    report.unchanged.append(doc.doc)
                else:
                    (report.updated if prev else report.added).append(doc.doc)
                    self._docs[doc.doc] = doc
        if progress:
            progress(len(files), len(files), "done")
        report.documents = len(self._docs)
        report.chunks = sum(len(paragraphs(d.text)) for d in self._docs.values())
        report.embedded = sum(len(paragraphs(self._docs[d].text)) for d in report.added + report.updated)
        report.seconds = time.perf_counter() - t0
        return report

    @staticmethod
    def _load(path: Path) -> FakeDoc:
        """Read a .txt/.md/.html upload; a leading '# Title' line becomes the title."""
        suffix = path.suffix.lower()
        if suffix == ".pdf":  # the real loader's checks and messages (a damaged file's reason in words)
            from rag.ingest.loaders import load_file

            d = load_file(path)
            return FakeDoc(path.name, d.title, "Uploaded", "", d.text)
        if suffix not in {".txt", ".md", ".html"}:
            raise LoadError(f"unsupported file type {suffix or '(none)'}")
        try:
            raw = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise LoadError(f"not readable as UTF-8 text ({type(e).__name__})") from e
        if suffix == ".html":
            raw = html.unescape(re.sub(r"<[^>]+>", "", raw))
        raw = raw.replace("\r\n", "\n").strip()
        title = path.stem
        if raw.startswith("# "):
            first, _, raw = raw.partition("\n")
            title, raw = first[2:].strip(), raw.strip()
        if not raw:
            raise LoadError("no text found")
        return FakeDoc(path.name, title, "Uploaded", "", raw)

    def documents(self) -> list[DocumentInfo]:
        self._require_ready()
        with self._lock:
            docs = list(self._docs.values())
        return [DocumentInfo(d.doc, d.title, d.outlet, d.published, len(paragraphs(d.text)), d.published_approx,
                             url=d.url, author=d.author, feed=d.feed) for d in docs]

    def remove(self, docs: Sequence[str]) -> IngestReport:
        self._require_ready()
        with self._lock:
            unknown = [d for d in docs if d not in self._docs]
            if unknown:
                raise DocumentNotFoundError(f"No document {unknown[0]!r} in the library.")
            for d in docs:
                del self._docs[d]
        self.removed.extend(docs)
        return IngestReport(removed=list(docs), documents=len(self._docs))

    def document_text(self, doc: str) -> str:
        d = self._docs.get(doc)
        return d.text if d else ""

    # ---- claims ----
    def check_claim(self, claim: str) -> dict:
        """Like `rag check --json CLAIM`: the sentence holding most of the claim's words decides. Supported when it
        holds them all (and the claim's numbers); contradicted when it holds most but another number, or the claim
        negates what it says; else not supported, with the closest sentence."""
        from rag.answer.check import CheckResult, QuoteRef, validate_claim

        self._require_ready()
        text = validate_claim(claim)
        if "trigger-crash" in text:
            raise ValueError("internal details that must not reach the page")
        self.claims.append(text)
        time.sleep(self.check_s)
        want = {t for t in terms(text) if not t[0].isdigit()} - _NUMBERS_AND_NEGATION
        scored = []
        with self._lock:
            docs = list(self._docs.values())
        for d in docs:
            for ps, pe in paragraphs(d.text):
                for s, e in sentences(d.text, ps, pe):
                    held = len(want & terms(d.text[s:e])) / max(1, len(want))
                    scored.append((held, d, s, e))
        scored.sort(key=lambda x: (-x[0], x[1].doc, x[2]))
        rows = []
        for held, d, s, e in scored[:3]:
            quote = d.text[s:e]
            numbers_differ = set(_NUMBER.findall(text)) - set(_NUMBER.findall(quote))
            negation_differs = bool(_NEGATION.search(text)) and not _NEGATION.search(quote)
            if held >= 0.99 and not numbers_differ and not negation_differs:
                verdict, reason = "supported", "the quote holds every word of the claim"
            elif held >= 0.6 and ((numbers_differ and _NUMBER.search(quote)) or negation_differs):
                verdict, reason = "contradicted", ("numbers not in the quote" if numbers_differ
                                                   else "negation differs from the quote")
            else:
                verdict, reason = "not supported", "no sentence holds the claim"
            rows.append((verdict, round(held, 4), reason,
                         QuoteRef(quote, d.doc, d.title, s, e, d.outlet, d.published, d.published_approx)))
        if not rows:
            return CheckResult(text, "not supported", 0.0, "", "the library has nothing about it").to_dict()
        rank = {"supported": 2, "contradicted": 1}
        rows.sort(key=lambda r: -rank.get(r[0], 0))
        verdict, score, reason, ref = rows[0]
        result = CheckResult(text, verdict, score, ref.quote, reason, "", ref,
                             [{**r.to_dict(), "verdict": v, "score": sc, "reason": why} for v, sc, why, r in rows])
        return result.to_dict()
