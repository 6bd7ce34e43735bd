"""`rag bench library`: the Library tab's list over a generated library of N articles (5,000 by default): the first
page listed, a search, a sort, an outlet filter and a removal, each timed through the tab's own code (`ui.library`)
down to the pipeline call, which a stub answers at once. No models, no index, no server: what is measured is the
page's work in Python (reading the list, searching, sorting, paging, the page's HTML), the part that grows with the
library. The browser's round trip is measured by tests/ui/test_ui_library_scale.py."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.bench.common import Result, machine, md_table
from rag.schema import DocumentInfo, IngestReport

TARGET_MS = 1000.0  # each action of the list, at 5,000 articles

_WORDS = ("council budget harbour storm election minister drought farms reservoir summit ceasefire talks court "
          "ruling strike rail fares school hospital vaccine wildfire flood bridge tariff exports bank rates housing "
          "museum festival orchestra league final transfer climate emissions pipeline refinery mayor senate").split()
_OUTLETS = ["The Global Ledger", "Continental Post", "Kestrel Valley Courier", "Morning Herald", "Wire Service",
            "Evening Post", "World Desk", "Harbour Gazette", "The Daily Lantern", "Zürich Bote", "Atlas Review",
            "Northern Echo", "Coastal Times", "Metro Journal", "Valley Voice", "Capital Dispatch"]
_FEEDS = ["https://courier.example/rss.xml", "https://wire.example/feed/atom", "https://herald.example/news.rss"]
_AUTHORS = ["Priya Natarajan", "Tomas Varga", "Alice Moreno", "Jane Doe", "Kwame Mensah", "", ""]


def generated_library(n: int, seed: int = 0) -> list[DocumentInfo]:
    """N articles as the library lists them: varied headlines, outlets, authors and dates (some estimated, some
    missing), about a third from one of three followed feeds, with web addresses. Article i is the same whatever N
    is."""
    out = []
    for i in range(n):
        rng = random.Random(f"{seed}-{i}")
        title = " ".join(rng.sample(_WORDS, rng.randint(4, 8))).capitalize() + f" ({i})"
        outlet = rng.choice(_OUTLETS) if rng.random() > 0.02 else ""
        year, month, day = rng.randint(2015, 2026), rng.randint(1, 12), rng.randint(1, 28)
        published = "" if rng.random() < 0.03 else f"{year:04d}-{month:02d}-{day:02d}"
        feed = rng.choice(_FEEDS) if rng.random() < 0.35 else ""
        host = outlet.lower().replace(" ", "-").replace("ü", "u") or "news"
        out.append(DocumentInfo(f"web/{host}/{i:05d}-{rng.getrandbits(32):08x}.md", title, outlet, published,
                                rng.randint(2, 30), rng.random() < 0.05, url=f"https://{host}.example/a/{i}",
                                author=rng.choice(_AUTHORS), feed=feed))
    return out


class StubLibraryPipeline:
    """The pipeline calls the Library tab makes, answered at once from a list in memory."""

    def __init__(self, docs: Sequence[DocumentInfo]) -> None:
        self.docs = {d.doc: d for d in docs}
        self.removed: list[str] = []

    def warm_up(self) -> None:
        pass

    def is_ready(self) -> bool:
        return True

    def documents(self) -> list[DocumentInfo]:
        return sorted(self.docs.values(), key=lambda d: (d.published or "", d.doc), reverse=True)

    def document_text(self, doc: str) -> str:
        d = self.docs.get(doc)
        return f"{d.title}.\n\nThe article's text, as stored." if d else ""

    def remove(self, docs: Sequence[str]) -> IngestReport:
        from rag.errors import DocumentNotFoundError

        if unknown := [d for d in docs if d not in self.docs]:
            raise DocumentNotFoundError(f"No document {unknown[0]!r} in the index; nothing was removed.")
        for doc in docs:
            del self.docs[doc]
        self.removed.extend(docs)
        return IngestReport(removed=list(docs), documents=len(self.docs))


@dataclass
class LibraryBench(Result):
    articles: int
    repeat: int
    timings_ms: dict[str, float]  # action -> median ms
    worst_ms: dict[str, float]  # action -> slowest ms
    machine: str
    notes: list[str] = field(default_factory=list)

    def targets(self) -> list[tuple[str, str, bool]]:
        return [(f"{action} < {TARGET_MS:,.0f} ms at {self.articles:,} articles", f"{self.worst_ms[action]:,.1f} ms",
                 self.worst_ms[action] < TARGET_MS) for action in self.timings_ms]

    def table(self) -> str:
        rows = [[a, f"{self.timings_ms[a]:,.1f}", f"{self.worst_ms[a]:,.1f}"] for a in self.timings_ms]
        out = [f"rag bench library: the Library tab's list over {self.articles:,} generated articles, "
               f"{self.repeat} runs each; {self.machine}", "",
               md_table(["action (through ui.library, stub pipeline)", "median ms", "slowest ms"], rows), "",
               self.targets_table()]
        return "\n".join(out + [f"note: {n}" for n in self.notes])


def _timed(fn: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def bench_library(articles: int = 5000, repeat: int = 5, seed: int = 0, tmp: Path | None = None) -> LibraryBench:
    """Time the list's actions over a generated library of `articles` rows (see the module's docstring)."""
    import tempfile

    from rag.settings import Settings
    from ui.library import Library
    from ui.warmup import Warmup

    docs = generated_library(articles, seed)
    pipe = StubLibraryPipeline(docs)
    with tempfile.TemporaryDirectory(prefix="rag-bench-library-") as folder:
        settings = Settings(data_dir=Path(tmp or folder) / "data")
        warmup = Warmup(pipe)  # type: ignore[arg-type]
        warmup.wait()
        lib = Library(pipe, settings, warmup)  # type: ignore[arg-type]
        outlet = docs[0].outlet
        word = docs[len(docs) // 2].title.split()[0].lower()
        victims = iter(d.doc for d in docs[::max(1, len(docs) // (repeat + 1))])
        lib.view()  # the first view after start-up reads the list once more; not what a reader waits on later
        actions: dict[str, Callable[[], object]] = {
            "list (the whole tab, page 1)": lambda: lib.view(),
            "next page": lambda: lib.browse("", "new", "", "", 2),
            f"search “{word}”": lambda: lib.browse(word, "new", "", "", 1),
            "sort by title": lambda: lib.browse("", "title", "", "", 1),
            f"filter by outlet ({outlet})": lambda: lib.browse("", "new", outlet, "", 1),
            "remove a row (and list again)": lambda: (lib.remove(next(victims)), lib.view()),
        }
        times = {a: _timed(fn, repeat) for a, fn in actions.items()}
    return LibraryBench(
        articles=articles, repeat=repeat,
        timings_ms={a: round(statistics.median(t), 2) for a, t in times.items()},
        worst_ms={a: round(max(t), 2) for a, t in times.items()}, machine=machine(),
        notes=["generated rows (DocumentInfo), a stub pipeline answering at once: the times are the tab's own work "
               "(reading the list, search, sort, filters, paging, the page's HTML, the orientation line and "
               "examples); in Chromium, from the click or keystroke to the list on screen, each took 0.1-0.5 s "
               "(tests/ui/test_ui_library_scale.py prints them)"])
