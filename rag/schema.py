"""The data that flows between pipeline stages.

Offsets (`start`/`end`) always index into `Document.text`, so a citation can be checked
against the stored article and highlighted in it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """One article as stored: cleaned body text plus metadata from front matter or the file."""

    doc: str  # file name, unique within the corpus (the id users see)
    text: str
    title: str = ""
    outlet: str = ""
    author: str = ""
    published: str = ""  # ISO date (YYYY-MM-DD) or "" when unknown
    published_approx: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        return {
            "doc": self.doc,
            "title": self.title,
            "outlet": self.outlet,
            "author": self.author,
            "published": self.published,
            "published_approx": self.published_approx,
        }


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int


@dataclass(frozen=True)
class Chunk:
    """A span of consecutive sentences of one document."""

    id: str
    doc: str
    text: str
    start: int
    end: int
    sentences: tuple[Sentence, ...] = ()  # absolute offsets into the document text

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "doc": self.doc,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "sentences": [[s.start, s.end] for s in self.sentences],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Chunk":
        return cls(
            id=d["id"],
            doc=d["doc"],
            text=d["text"],
            start=d["start"],
            end=d["end"],
            sentences=tuple(Sentence(a, b) for a, b in d.get("sentences", [])),
        )


@dataclass
class Passage:
    """A retrieved chunk with its scores and its document's metadata."""

    chunk: Chunk
    title: str = ""
    outlet: str = ""
    published: str = ""
    score: float = 0.0  # fused (RRF) score; higher is better
    dense: float | None = None  # cosine similarity, None when not in the dense candidates
    keyword: float | None = None  # BM25 score, None when not in the keyword candidates
    rank: int = 0
    published_approx: bool = False  # the date is an estimate (see `rag.dates.display_date`)
    url: str = ""  # the original web address, for articles added by URL or from a feed
    author: str = ""
    # outlets that published the same story (a syndicated copy: `rag.ingest.syndication`), earliest first
    also_published_by: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        c = self.chunk
        return {
            "doc": c.doc,
            "title": self.title,
            "outlet": self.outlet,
            "published": self.published,
            "text": c.text,
            "start": c.start,
            "end": c.end,
            "chunk_id": c.id,
            "rank": self.rank,
            "score": round(self.score, 6),
            "dense": None if self.dense is None else round(self.dense, 6),
            "keyword": None if self.keyword is None else round(self.keyword, 6),
            "published_approx": self.published_approx,
            "url": self.url,
            "author": self.author,
            "also_published_by": list(self.also_published_by),
        }


@dataclass
class Citation:
    """A verbatim quote: `quote == document.text[start:end]` always holds."""

    n: int
    doc: str
    title: str
    published: str
    quote: str
    start: int
    end: int
    outlet: str = ""
    published_approx: bool = False
    url: str = ""  # the original web address ("" for a file)
    author: str = ""
    also_published_by: list[str] = field(default_factory=list)  # other outlets that ran the same story

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Answer:
    question: str
    answer: str
    refused: bool
    citations: list[Citation]
    passages: list[Passage]
    query: str
    timings: dict[str, float] = field(default_factory=dict)
    notice: str = ""  # e.g. "question truncated"
    stopped: bool = False  # the caller's stop() ended it early: the text is what was streamed until then

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
            "query": self.query,
            "timings": {k: round(v, 1) for k, v in self.timings.items()},
            "notice": self.notice,
            "stopped": self.stopped,
        }


@dataclass
class StreamEvent:
    """One step of a streamed answer, in this order: "query", "passages", "writing"?, "token"*, "answer".

    - "query": `data` is the search query used (the rewritten follow-up, or the question itself).
    - "passages": `data` is the list[Passage] retrieved.
    - "writing": `data` is None; the model is reading the evidence and writing (nothing verified yet).
    - "token": `data` is a str, the next verified piece of the answer (a whole sentence with its [n] markers,
      or the refusal); never unverified model text. Their concatenation is the final answer's text.
    - "answer": `data` is the final Answer; the UI replaces what it streamed with `answer.answer`.

    When the caller's `stop()` returns True the stream ends early with an "answer" whose `stopped` is True:
    no refusal and no fallback quote, only the verified sentences already sent as "token" events.
    """

    kind: str
    data: Any


@dataclass(frozen=True)
class DateRange:
    """Articles published from `since` to `until` (ISO dates, both inclusive; "" leaves that end open). An
    active range leaves out undated articles: nobody can say they fall inside it."""

    since: str = ""
    until: str = ""
    # a range read from a question's own words ("in 2015") keeps undated articles: a library of undated passages
    # is not empty for questions that name a year
    undated: bool = False

    def __bool__(self) -> bool:
        return bool(self.since or self.until)

    def contains(self, published: str, approx: bool = False) -> bool:
        """Whether an article of that date falls in the range; an estimated date (`approx`) stands for its whole
        month (its day is a guess), so it falls in a range that meets that month."""
        if not self:
            return True
        day = (published or "")[:10]
        if not day:
            return self.undated
        first, last = (day[:7] + "-01", day[:7] + "-31") if approx else (day, day)
        return (not self.since or last >= self.since) and (not self.until or first <= self.until)

    def label(self) -> str:
        """"from 1 Mar 2026 to 31 May 2026", "since 1 Mar 2026", "until 31 May 2026"; "" when inactive."""
        from rag.dates import display_date

        if self.since and self.until:
            return f"from {display_date(self.since, False)} to {display_date(self.until, False)}"
        if self.since:
            return f"since {display_date(self.since, False)}"
        return f"until {display_date(self.until, False)}" if self.until else ""


@dataclass
class DocumentInfo:
    """One row of the library listing."""

    doc: str
    title: str
    outlet: str
    published: str
    chunks: int
    published_approx: bool = False
    url: str = ""
    author: str = ""
    feed: str = ""  # the address of the followed feed it came from ("" for uploads and pages added by address)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (path, path of the copy kept)
    documents: int = 0
    chunks: int = 0  # chunks in the index after ingest
    embedded: int = 0  # chunks embedded in this run
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # e.g. "rebuilt: embedding model changed"

    def summary(self) -> str:
        rate = self.embedded / self.seconds if self.seconds > 0 else 0.0
        parts = [
            f"{self.documents} documents",
            f"{self.chunks} chunks",
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged",
            f"{len(self.skipped)} skipped",
            f"{self.seconds:.1f} s",
            f"{rate:.0f} chunks/s",
        ]
        return "; ".join(parts)
