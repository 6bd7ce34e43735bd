"""Following RSS and Atom feeds: the feeds followed and the entries already taken live in data/.feeds.json; an
update fetches each feed (conditionally: a 304 costs nothing), takes its new entries' pages, and indexes them in one
go. An entry is new when neither its id nor its link has been seen and its text is not already in the library."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rag.errors import FetchError, with_detail
from rag.pipeline_api import PipelineAPI
from rag.settings import Settings
from rag.web.add import PageResult, Tick, doc_id, index_saved
from rag.web.article import WebArticle, article_path, read_article, save_article
from rag.web.fetch import FEED_TYPES, fetch, normalize_url

log = logging.getLogger(__name__)

MAX_TRIES = 3  # an entry whose page keeps failing is given up after this many updates (and said so)
FULL_TEXT_WORDS = 150  # an entry carrying this much text is read from the feed when its page yields none


@dataclass
class Feed:
    url: str
    title: str = ""
    added: str = ""
    last_update: str = ""  # when it was last updated (ISO, UTC)
    last_result: str = ""  # "3 new, 1 skipped", or why it failed
    etag: str = ""
    modified: str = ""
    seen: list[str] = field(default_factory=list)  # entry ids and links already taken
    hashes: list[str] = field(default_factory=list)  # text hashes of the articles taken
    tries: dict[str, int] = field(default_factory=dict)  # entry key -> failed fetches so far


@dataclass
class Entry:
    keys: tuple[str, ...]  # its id and its link
    link: str
    title: str = ""
    published: str = ""
    author: str = ""
    content: str = ""  # the text the feed itself carries (summary or full text)


@dataclass
class FeedUpdate:
    feed: str
    title: str = ""
    new: list[PageResult] = field(default_factory=list)
    skipped: int = 0
    failed: list[PageResult] = field(default_factory=list)
    error: str = ""
    note: str = ""  # e.g. the entry cap

    def summary(self) -> str:
        if self.error:
            return f"failed: {self.error}"
        text = f"{len(self.new)} new, {self.skipped} skipped"
        return text + (f", {len(self.failed)} failed" if self.failed else "")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def text_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).lower().encode("utf-8")).hexdigest()[:32]


# ---------------------------------------------------------------- the list of feeds
class FeedList:
    """data/.feeds.json, read and written under a lock so the page and `rag feed` can both change it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextlib.contextmanager
    def locked(self) -> Iterator[list[Feed]]:
        """The feeds, to change; saved when the block ends without an error."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            feeds = self.read()
            yield feeds
            self._write(feeds)

    def read(self) -> list[Feed]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as e:
            raise FetchError(f"the list of feeds ({self.path}) could not be read ({e}); fix or delete it") from e
        names = set(Feed.__dataclass_fields__)
        return [Feed(**{k: v for k, v in f.items() if k in names}) for f in raw.get("feeds", [])]

    def _write(self, feeds: list[Feed]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"feeds": [asdict(f) for f in feeds]}, ensure_ascii=False, indent=1),
                       encoding="utf-8")
        os.replace(tmp, self.path)


def find(feeds: list[Feed], url: str) -> Feed | None:
    return next((f for f in feeds if f.url == url), None)


# ---------------------------------------------------------------- reading a feed
def parse_feed(body: bytes, url: str, limit: int) -> tuple[str, list[Entry], str]:
    """(feed title, its newest entries up to `limit`, a note when some were left out)."""
    import feedparser

    parsed = feedparser.parse(body, response_headers={"content-location": url})
    if not parsed.get("version") or (parsed.get("bozo") and not parsed.entries):
        if b"<html" in body[:2048].lower():
            raise FetchError("the address gives a web page, not an RSS or Atom feed (use 'rag add' for an article, "
                             "or the site's feed address)")
        problem = parsed.get("bozo_exception")
        raise FetchError(with_detail("not a valid RSS or Atom feed", " ".join(str(problem or "").split())))
    entries = [e for e in (_entry(x) for x in parsed.entries) if e is not None]
    entries.sort(key=lambda e: e.published or "", reverse=True)
    note = ""
    if len(entries) > limit:
        note = (f"the feed lists {len(entries):,} entries; took the newest {limit} "
                "(RAG_FEED_MAX_ENTRIES)")
        entries = entries[:limit]
    return (parsed.feed.get("title") or "").strip(), entries, note


def _entry(x) -> Entry | None:
    link = (x.get("link") or "").strip()
    if not link:
        return None
    keys = tuple(dict.fromkeys(k for k in ((x.get("id") or "").strip(), link) if k))
    when = x.get("published_parsed") or x.get("updated_parsed")
    published = time.strftime("%Y-%m-%d", when) if when else ""
    content = ""
    if x.get("content"):
        content = max((c.get("value", "") for c in x.content), key=len)
    content = content or x.get("summary", "")
    return Entry(keys, link, (x.get("title") or "").strip(), published, (x.get("author") or "").strip(), content)


def _from_entry(e: Entry, feed_title: str, error: FetchError) -> WebArticle:
    """The article from the feed's own text, when the page had none to read (a feed that carries full text)."""
    from rag.ingest.html_text import html_fallback

    text = html_fallback(e.content.encode("utf-8"))[0] if "<" in e.content else e.content
    if len(text.split()) < FULL_TEXT_WORDS:
        raise error
    return WebArticle(url=normalize_url(e.link), fetched_url=e.link, title=e.title, text=text, outlet=feed_title,
                      author=e.author, published=e.published, read_from={"text": "the feed"})


# ---------------------------------------------------------------- following and updating
def follow(url: str, settings: Settings) -> Feed:
    """Check that `url` is a feed and add it to the list (once)."""
    url = normalize_url(url)
    page = fetch(url, settings, accept=FEED_TYPES, what="feed")
    title, entries, _ = parse_feed(page.body, page.url, settings.feed_max_entries)
    with FeedList(settings.feeds_path).locked() as feeds:
        feed = find(feeds, url)
        if feed is None:
            feed = Feed(url=url, title=title, added=_now(), last_result=f"followed: {len(entries)} entries listed")
            feeds.append(feed)
        return feed


def unfollow(url: str, settings: Settings) -> Feed | None:
    """Stop following a feed (None: it was not followed); the articles it brought stay in the library."""
    with FeedList(settings.feeds_path).locked() as feeds:
        feed = find(feeds, normalize_url(url))
        if feed is not None:
            feeds.remove(feed)
        return feed


def update(urls: list[str] | None, pipeline: PipelineAPI, settings: Settings, progress: Tick | None = None,
           fetched: Tick | None = None) -> list[FeedUpdate]:
    """Update the feeds `urls` (None: all): fetch new entries, index them in one go, remember what was taken."""
    store = FeedList(settings.feeds_path)
    wanted = None if urls is None else [normalize_url(u) for u in urls]
    feeds = [f for f in store.read() if wanted is None or f.url in wanted]
    missing = [] if wanted is None else [u for u in wanted if not find(feeds, u)]
    if missing:
        raise FetchError(f"not following {', '.join(missing)}; add it with 'rag feed add URL'")
    results: list[FeedUpdate] = []
    plans: list[tuple[Feed, FeedUpdate, list[Entry], Feed]] = []
    for feed in feeds:
        res = FeedUpdate(feed.url, feed.title)
        results.append(res)
        fresh = Feed(**asdict(feed))
        try:
            page = fetch(feed.url, settings, accept=FEED_TYPES, what="feed", etag=feed.etag,
                         last_modified=feed.modified)
            if not page.not_modified:
                fresh.title, entries, res.note = parse_feed(page.body, page.url, settings.feed_max_entries)
                fresh.etag, fresh.modified = page.etag, page.last_modified
                res.title = fresh.title or feed.title
                seen = set(feed.seen)
                todo = [e for e in entries if not seen.intersection(e.keys)]
                res.skipped = len(entries) - len(todo)
                plans.append((feed, res, todo, fresh))
        except FetchError as e:
            res.error = str(e)
    saved: dict[Path, bytes | None] = {}
    taken: dict[Path, tuple[Feed, Entry, PageResult, str]] = {}
    total = sum(len(todo) for _, _, todo, _ in plans)
    done = 0
    for feed, res, todo, fresh in plans:
        hashes = set(feed.hashes)
        for e in todo:
            done += 1
            result = PageResult(e.link)
            try:
                try:
                    article = read_article(fetch(e.link, settings).body, e.link)
                except FetchError as err:
                    article = _from_entry(e, fresh.title, err)
            except FetchError as err:
                result.status, result.error = "failed", str(err)
                res.failed.append(result)
                key = e.keys[0]
                fresh.tries[key] = fresh.tries.get(key, 0) + 1
                if fresh.tries[key] >= MAX_TRIES:  # given up: not fetched again
                    fresh.seen.extend(e.keys)
                    result.error += f" (tried {MAX_TRIES} times; not tried again)"
            else:
                _fill_from_entry(article, e, fresh.title)
                digest = text_hash(article.text)
                path = article_path(article.url, settings)
                if digest in hashes or path in taken or path.is_file():  # already in the library
                    res.skipped += 1
                    fresh.seen.extend(e.keys)
                else:
                    hashes.add(digest)
                    saved.setdefault(path, path.read_bytes() if path.is_file() else None)
                    save_article(article, settings, feed=feed.url)
                    result.doc, result.title, result.outlet = doc_id(path, settings), article.title, article.outlet
                    result.published, result.status = article.published, "added"
                    taken[path] = (fresh, e, result, digest)
            if fetched:
                fetched(done, total, e.link)
    failed: dict[Path, str] = {}
    if saved:
        _, failed = index_saved(saved, pipeline, progress)
    for path, (fresh, e, result, digest) in taken.items():
        res = next(r for f, r, _, fr in plans if fr is fresh)
        if path in failed and failed[path].startswith("duplicate of"):  # the same text is in the library
            res.skipped += 1
        elif path in failed:
            result.status, result.error = "failed", failed[path]
            res.failed.append(result)
        else:
            res.new.append(result)
        fresh.seen.extend(e.keys)  # an entry whose page was read but not indexable is not fetched again
        fresh.hashes.append(digest)
    with store.locked() as current:
        for feed in feeds:
            res = next(r for r in results if r.feed == feed.url)
            fresh = next((fr for f, _, _, fr in plans if f is feed), feed)
            target = find(current, feed.url)
            if target is None:  # unfollowed meanwhile
                continue
            if fresh is not feed:
                target.title, target.etag, target.modified = fresh.title or target.title, fresh.etag, fresh.modified
                target.seen = list(dict.fromkeys(target.seen + fresh.seen))
                target.hashes = list(dict.fromkeys(target.hashes + fresh.hashes))
                target.tries = fresh.tries
            target.last_update, target.last_result = _now(), res.summary()
    return results


def _fill_from_entry(a: WebArticle, e: Entry, feed_title: str) -> None:
    """What the page did not say, the feed may: its date, author and title (and the feed's name as the outlet)."""
    if not a.published and e.published:
        a.published, a.read_from["published"] = e.published, "the feed"
    if not a.author and e.author:
        a.author = e.author
    if not a.title and e.title:
        a.title = e.title
    if a.read_from.get("outlet") == "the web address" and feed_title:
        a.outlet, a.read_from["outlet"] = feed_title, "the feed"
