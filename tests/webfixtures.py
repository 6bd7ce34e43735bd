"""A loopback web site for tests that fetch pages and feeds: no test touches the internet.

`FixtureSite` serves tests/fixtures/web/ and a few generated routes from a `ThreadingHTTPServer` bound to
127.0.0.1 on a port the OS picks, in a daemon thread, and records every request it answers:

    with FixtureSite() as site:
        r = httpx.get(site.url("feeds/rss2.xml"))
        assert site.count("/feeds/") == 1 and site.hits[-1].status == 200

As a pytest fixture: `site = pytest.fixture(fixture_site, name="site")` in a test module. By hand:

    python tests/webfixtures.py --port 8765        # then open http://127.0.0.1:8765/

Routes (a query string is ignored unless named here):
    /<file>                      a file under tests/fixtures/web/ ("{{BASE}}" in text becomes http://127.0.0.1:PORT)
    /transit/metro-fares-rise-july   the canonical URL of /transit-fares.html (see ALIASES)
    /status/<code>               that status (400-599) with a small HTML body
    /redirect/<n>/<path>         a chain of n 302 hops ending at /<path> (its query kept)
    /loop/a, /loop/b             302 to each other, for ever
    /redirect-to?url=U[&status=301]   a redirect to any URL U (another host, a private address, file:, ...)
    /slow?s=S                    waits S seconds (default 5) before sending headers, then a short page
    /trickle?s=S[&every=E]       headers at once, then a short page dribbled out over S seconds (a piece every E s)
    /huge[?mb=M]                 a text/html response of M MiB (default 50) in 64 KiB pieces, with Content-Length
    /huge-chunked[?mb=M]         the same, chunked, without Content-Length
    /image.png, /doc.pdf         a small PNG (image/png) and a one-page PDF (application/pdf)
    /feeds/generated-<n>.xml?start=S   RSS 2.0 with n (<= 5000) entries, articles start..start+n-1, newest first
    /gen/article-<i>.html        a generated article (by "Reporter <i % 7>" of "Generated Daily", published
                                 2010-01-01 + i days), the same as its entry in the generated feeds
    /                            an index of the files and routes

Everything under /feeds/ is sent with ETag and Last-Modified and answers 304 to a matching If-None-Match
(or, without one, If-Modified-Since at or after Last-Modified). `site.put(path, body, ctype=None, status=200)`
serves or replaces a page from memory (a feed that gains an entry between two updates, a page that starts to 404),
ahead of every other route; `site.remove(path)` undoes it. `site.requests`, `site.count(prefix)`, `site.hits`
(method, path, headers, status) and `site.reset()` are the request log.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import random
import re
import signal
import struct
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime, formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

WEB = Path(__file__).resolve().parent / "fixtures" / "web"
HOST = "127.0.0.1"  # loopback only, always
BASE_PLACEHOLDER = b"{{BASE}}"
# bodies of these types get "{{BASE}}" replaced
TEXT_TYPES = frozenset({"text/html", "text/plain", "application/json", "application/rss+xml",
                        "application/atom+xml", "application/rdf+xml"})
HTML = "text/html; charset=utf-8"
CONTENT_TYPES = {
    ".html": HTML, ".htm": HTML, ".txt": "text/plain; charset=utf-8", ".json": "application/json",
    ".rdf": "application/rdf+xml; charset=utf-8", ".atom": "application/atom+xml; charset=utf-8",
    ".png": "image/png", ".jpg": "image/jpeg", ".gif": "image/gif", ".pdf": "application/pdf",
}
# a served path -> the fixture file it shows (a page's clean canonical URL)
ALIASES = {"/transit/metro-fares-rise-july": "/transit-fares.html"}
PIECE = 64 * 1024
MAX_GENERATED = 5000
MAX_ARTICLE = 1_000_000


def content_type(path: str) -> str:
    """By file name: .xml is an Atom feed when its name says "atom", an HTML page when it says "not-a-feed",
    else RSS."""
    name = path.rsplit("/", 1)[-1].lower()
    suffix = os.path.splitext(name)[1]
    if suffix == ".xml":
        if "not-a-feed" in name:
            return HTML
        return "application/atom+xml; charset=utf-8" if "atom" in name else "application/rss+xml; charset=utf-8"
    return CONTENT_TYPES.get(suffix, "application/octet-stream")


@dataclass
class Hit:
    """One request as the server saw it."""

    method: str
    path: str  # as requested, query included
    headers: dict[str, str]
    status: int | None = None  # None until the response line is sent


@dataclass
class _Page:
    body: bytes
    content_type: str
    status: int
    modified: float  # for Last-Modified


@dataclass
class FixtureSite:
    """The fixture web site on 127.0.0.1:<port> (0: the OS picks a free one), serving `root`; started at once."""

    root: Path = WEB
    port: int = 0
    verbose: bool = False  # print one line per request (main() turns it on)
    hits: list[Hit] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._pages: dict[str, _Page] = {}
        self._clock = 0.0
        handler = type("Handler", (_Handler,), {"site": self})
        self.server = _Server((HOST, self.port), handler)
        self.port = self.server.server_address[1]
        self.base = f"http://{HOST}:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fixture-site-{self.port}", daemon=True)
        self._thread.start()

    def url(self, path: str = "/") -> str:
        return self.base + "/" + path.lstrip("/")

    @property
    def requests(self) -> list[str]:
        """The paths requested so far (query included), oldest first: a copy."""
        with self._lock:
            return [h.path for h in self.hits]

    def count(self, prefix: str = "/") -> int:
        """How many requests had a path starting with `prefix` ("feeds/" and "/feeds/" alike)."""
        prefix = "/" + prefix.lstrip("/")
        with self._lock:
            return sum(h.path.startswith(prefix) for h in self.hits)

    def reset(self) -> None:
        """Forget the requests recorded so far."""
        with self._lock:
            self.hits.clear()

    def put(self, path: str, body: str | bytes, ctype: str | None = None, status: int = 200) -> None:
        """Serve `body` at `path` (query ignored) from now on, ahead of files and routes; "{{BASE}}" is
        substituted as in files. Each put gets a later Last-Modified than the one before."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        with self._lock:
            self._clock = max(float(int(time.time())), self._clock + 1)
            self._pages["/" + path.lstrip("/")] = _Page(data, ctype or content_type(path), status, self._clock)

    def remove(self, path: str) -> None:
        with self._lock:
            self._pages.pop("/" + path.lstrip("/"), None)

    def close(self) -> None:
        if self._closing.is_set():
            return
        self._closing.set()  # wakes /slow and /trickle, stops /huge
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FixtureSite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _record(self, hit: Hit) -> None:
        with self._lock:
            self.hits.append(hit)

    def _page(self, path: str) -> _Page | None:
        with self._lock:
            return self._pages.get(path)


def fixture_site() -> Iterator[FixtureSite]:
    """Body of a pytest fixture: `site = pytest.fixture(fixture_site, name="site")` (any scope)."""
    with FixtureSite() as site:
        yield site


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hung or slow request never blocks close()

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a client that hangs up early is what several tests do on purpose
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked responses, like a real server
    server_version = "FixtureSite/1.0"
    timeout = 30  # an idle keep-alive connection's thread ends after this
    disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart
    site: FixtureSite
    hit: Hit | None = None

    ROUTES = [
        (re.compile(r"/status/(\d{3})"), "_status"),
        (re.compile(r"/redirect/(\d{1,3})/(.*)"), "_redirect_chain"),
        (re.compile(r"/loop/([ab])"), "_loop"),
        (re.compile(r"/redirect-to"), "_redirect_to"),
        (re.compile(r"/slow"), "_slow"),
        (re.compile(r"/trickle"), "_trickle"),
        (re.compile(r"/huge"), "_huge"),
        (re.compile(r"/huge-chunked"), "_huge_chunked"),
        (re.compile(r"/image\.png"), "_image"),
        (re.compile(r"/doc\.pdf"), "_pdf"),
        (re.compile(r"/feeds/generated-(\d{1,6})\.xml"), "_generated_feed"),
        (re.compile(r"/gen/article-(\d{1,7})\.html"), "_generated_article"),
        (re.compile(r"/"), "_index"),
    ]

    def handle_one_request(self) -> None:
        self.hit = None  # a keep-alive connection's next request starts afresh
        super().handle_one_request()

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def _handle(self) -> None:
        self.hit = Hit(self.command, self.path, dict(self.headers.items()))
        self.site._record(self.hit)
        parts = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        path = unquote(parts.path) or "/"
        try:
            if (page := self.site._page(path)) is not None:
                self._send_page(path, page.body, page.content_type, page.status, page.modified)
                return
            path = ALIASES.get(path, path)
            for pattern, name in self.ROUTES:
                if m := pattern.fullmatch(path):
                    getattr(self, name)(*m.groups())
                    return
            self._static(path)
        except ValueError as e:  # a bad query value
            self._send(400, _small_page("400 Bad Request", str(e)))
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    # --- sending ---

    def send_response(self, code: int, message: str | None = None) -> None:
        if self.hit is not None:
            self.hit.status = code
        super().send_response(code, message)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        if self.site.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, ctype: str = HTML, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_page(self, path: str, body: bytes, ctype: str, status: int, modified: float) -> None:
        """Send a page; under /feeds/ with validators, and 304 when the request's validators match."""
        if ctype.split(";")[0] in TEXT_TYPES:
            body = body.replace(BASE_PLACEHOLDER, self.site.base.encode())
        if not path.startswith("/feeds/") or status != 200:
            self._send(status, body, ctype)
            return
        etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
        validators = {"ETag": etag, "Last-Modified": formatdate(int(modified), usegmt=True),
                      "Cache-Control": "no-cache"}
        if self._not_modified(etag, int(modified)):
            self.send_response(304)
            for k, v in validators.items():
                self.send_header(k, v)
            self.end_headers()
        else:
            self._send(200, body, ctype, validators)

    def _not_modified(self, etag: str, modified: int) -> bool:
        inm = self.headers.get("If-None-Match")
        if inm is not None:  # takes precedence over If-Modified-Since (RFC 9110 13.2.2)
            tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
            return "*" in tags or etag in tags
        ims = self.headers.get("If-Modified-Since")
        if not ims:
            return False
        try:
            return modified <= parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError, IndexError):
            return False

    def _send_redirect(self, location: str, status: int = 302) -> None:
        self._send(status, _small_page(f"{status} Found", f'Moved to <a href="{html.escape(location)}">here</a>.'),
                   headers={"Location": location})

    # --- routes ---

    def _static(self, path: str) -> None:
        target = (self.site.root / path.lstrip("/")).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(self.site.root) or not target.is_file():
            self._send(404, _small_page("404 Not Found", f"No page at {html.escape(path)}."))
            return
        self._send_page(path, target.read_bytes(), content_type(target.name), 200, target.stat().st_mtime)

    def _index(self) -> None:
        files = sorted(p.relative_to(self.site.root).as_posix() for p in self.site.root.rglob("*") if p.is_file())
        routes = ["status/404", "status/500", "status/503", "redirect/3/council-budget.html", "loop/a",
                  "redirect-to?url=http://10.0.0.1/", "slow?s=2", "trickle?s=3", "huge?mb=1", "huge-chunked?mb=1",
                  "image.png", "doc.pdf", "feeds/generated-20.xml?start=0", "gen/article-0.html"]
        items = "".join(f'<li><a href="/{html.escape(p)}">{html.escape(p)}</a></li>\n' for p in files + routes)
        self._send(200, _small_page("Fixture site", f"<ul>\n{items}</ul>"))

    def _status(self, code: str) -> None:
        status = int(code)
        if not 400 <= status <= 599:
            raise ValueError(f"status {status} is not an error status (400-599)")
        extra = {"Retry-After": "1"} if status in (429, 503) else {}
        self._send(status, _small_page(f"{status} Error", f"The fixture site answered {status} on purpose."),
                   headers=extra)

    def _redirect_chain(self, hops: str, rest: str) -> None:
        query = urlsplit(self.path).query
        target = f"/redirect/{int(hops) - 1}/{rest}" if int(hops) > 1 else "/" + rest
        self._send_redirect(target + (f"?{query}" if query else ""))

    def _loop(self, which: str) -> None:
        self._send_redirect("/loop/b" if which == "a" else "/loop/a")

    def _redirect_to(self) -> None:
        if "url" not in self.query:
            raise ValueError("redirect-to needs ?url=")
        status = int(self.query.get("status", "302"))
        if status not in (301, 302, 303, 307, 308):
            raise ValueError(f"status {status} is not a redirect")
        self._send_redirect(self.query["url"], status)

    def _seconds(self, default: float) -> float:
        s = float(self.query.get("s", default))
        if not 0 <= s <= 120:
            raise ValueError("s must be between 0 and 120 seconds")
        return s

    def _slow(self) -> None:
        s = self._seconds(5)
        if self.site._closing.wait(s):
            self.close_connection = True
            return
        self._send(200, _small_page("Slow page", f"This page waited {s:g} seconds before answering."))

    def _trickle(self) -> None:
        s, every = self._seconds(5), float(self.query.get("every", 0.2))
        if not 0.01 <= every <= 10:
            raise ValueError("every must be between 0.01 and 10 seconds")
        body = _small_page("Trickled page", "<p>" + "This page arrives a few bytes at a time. " * 12 + "</p>")
        n = max(1, round(s / every))
        size = -(-len(body) // n)
        self.send_response(200)
        self.send_header("Content-Type", HTML)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        for i in range(0, len(body), size):
            if i and self.site._closing.wait(every):
                self.close_connection = True
                return
            self.wfile.write(body[i:i + size])

    def _huge_size(self) -> int:
        mb = float(self.query.get("mb", 50))
        if not 0 < mb <= 1024:
            raise ValueError("mb must be between 0 and 1024")
        return int(mb * 1024 * 1024)

    def _huge(self) -> None:
        total = self._huge_size()
        self.send_response(200)
        self.send_header("Content-Type", HTML)
        self.send_header("Content-Length", str(total))
        self.end_headers()
        if self.command != "HEAD":
            for piece in _huge_pieces(total):
                if self.site._closing.is_set():
                    self.close_connection = True
                    return
                self.wfile.write(piece)

    def _huge_chunked(self) -> None:
        total = self._huge_size()
        self.send_response(200)
        self.send_header("Content-Type", HTML)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.command != "HEAD":
            for piece in _huge_pieces(total):
                if self.site._closing.is_set():
                    self.close_connection = True
                    return
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")

    def _image(self) -> None:
        self._send(200, PNG, "image/png")

    def _pdf(self) -> None:
        self._send(200, PDF, "application/pdf")

    def _generated_feed(self, n: str) -> None:
        count, start = int(n), int(self.query.get("start", 0))
        if not 1 <= count <= MAX_GENERATED or not 0 <= start <= MAX_ARTICLE - count:
            raise ValueError(f"need 1 <= n <= {MAX_GENERATED} and 0 <= start <= {MAX_ARTICLE} - n")
        body = generated_feed(self.site.base, count, start).encode("utf-8")
        newest = published(start + count - 1).timestamp()
        self._send_page(self.path.split("?")[0], body, "application/rss+xml; charset=utf-8", 200, newest)

    def _generated_article(self, i: str) -> None:
        if int(i) > MAX_ARTICLE:
            self._send(404, _small_page("404 Not Found", "No such generated article."))
            return
        self._send(200, generated_article(self.site.base, int(i)).encode("utf-8"))


def _small_page(title: str, body: str) -> bytes:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>\n'
            f"<body><h1>{html.escape(title)}</h1>\n<p>{body}</p></body></html>\n").encode("utf-8")


def _huge_pieces(total: int) -> Iterator[bytes]:
    head = b"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>A huge page</title></head><body>\n"
    line = b"<p>" + b"This page is far larger than any article and must be cut off while it is read. " * 8 + b"</p>\n"
    block = (line * (PIECE // len(line) + 2))[:PIECE]
    first = (head + block)[:PIECE]
    sent = 0
    while sent < total:
        piece = (first if sent == 0 else block)[:total - sent]
        sent += len(piece)
        yield piece


def _png(width: int = 16, height: int = 16) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + bytes(v for x in range(width) for v in (x * 16 % 256, y * 16 % 256, 160))
                    for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _pdf_bytes() -> bytes:
    text = b"BT /F1 18 Tf 72 720 Td (Fixture PDF: a document, not a news page.) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


PNG = _png()
PDF = _pdf_bytes()


# --- generated articles: deterministic in i, and different enough from each other not to look like copies ---

GEN_OUTLET = "Generated Daily"
_EPOCH = datetime(2010, 1, 1, tzinfo=timezone.utc)

TOWNS = ["Ashford", "Bramley", "Carrow", "Dunmore", "Elmstead", "Fairhaven", "Glenrock", "Hollins", "Ivybridge",
         "Juniper Falls", "Kingsmere", "Larkfield", "Marlow", "Northbrook", "Oakhurst", "Pinecrest", "Quarry Bay",
         "Redcliffe", "Stonebridge", "Thornbury", "Upton Vale", "Westmere", "Yarrow", "Zephyr Point", "Alderton",
         "Birchwood", "Coldwater", "Deepford", "Eastleigh", "Foxley", "Greywell", "Hartsfield", "Ironton",
         "Kelso Springs", "Lowick", "Millhaven", "Newhaven Cross", "Oxley", "Penrith Hollow", "Rosedale"]
FIRST = ["Amara", "Bruno", "Celia", "Dmitri", "Esther", "Farid", "Gwen", "Hiro", "Ingrid", "Jamal", "Keiko", "Lars",
         "Mireille", "Nikhil", "Olu", "Paloma", "Quentin", "Rosa", "Soren", "Tamsin", "Ugo", "Valentina", "Wendell",
         "Ximena", "Yusuf", "Zora", "Anselm", "Beatriz", "Callum", "Delphine", "Eamon", "Fatima", "Gideon", "Hana"]
LAST = ["Abernathy", "Baptiste", "Castellanos", "Dufresne", "Eriksen", "Fairweather", "Gallagher", "Haddad",
        "Iwasaki", "Jankowski", "Kowalczyk", "Lindgren", "Mbeki", "Novak", "O'Sullivan", "Petrakis", "Quist",
        "Rautio", "Szabo", "Tremblay", "Umarov", "Vasquez", "Whitlock", "Xu", "Yilmaz", "Zielinski", "Achebe",
        "Brennan", "Carvalho", "Delacroix", "Esposito", "Fitzgerald", "Grünewald", "Holloway", "Ibarra", "Moreau"]
STREETS = ["Canal Street", "Mercer Avenue", "Old Mill Road", "Harbor Lane", "Quince Boulevard", "Market Square",
           "Station Road", "King Street", "Water Lane", "Bridge Street", "Chapel Row", "Orchard Way"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]

# Each topic is one kind of local story. In templates {town} {town2} {person}..{person4} {street} {day} {month}
# (of publication) {before} {later} {year}, the topic's "nums" and its own named lists stay fixed within an article;
# {#a-b} is a fresh whole number in a..b and {x|y|z} a fresh choice, so two stories of one kind share little but
# their subject.
TOPICS: dict[str, dict] = {
    "water": {
        "section": "Infrastructure",
        "thing": ["water main", "pumping station", "reservoir outlet valve", "treatment filter bed", "trunk pipe"],
        "nums": {"homes": (1200, 9000)},
        "headlines": ["{town} under boil-water notice after {thing} fails near {street}",
                      "Broken {thing} leaves {homes} homes in {town} without water",
                      "{town} races to repair {thing} as taps run brown on {street}"],
        "lead": ["About {homes} households in {town} were told to boil their drinking water on {day} after a {thing} "
                 "{failed|ruptured|gave way} {near|beneath|close to} {street}.",
                 "A {thing} serving most of {town} {failed|burst|split open} early on {day}, cutting supply to about "
                 "{homes} homes and businesses."],
        "body": [
            "Crews from the {town} water department worked {through the night|around the clock|in shifts}, "
            "{digging|cutting|excavating} a {trench|pit} {#3-9} metres deep to reach the {damaged|cracked} section.",
            "Pressure readings fell by {#20-70} percent within minutes, according to a {district|utility} log.",
            "The {thing} was installed in {year} and had been {flagged|listed|marked} for replacement in a "
            "{#2-9}-year capital plan.",
            "Bottled water was handed out at the {fire station|community centre|high school gym|public library} "
            "until the supply of {#2000-9000} crates ran out.",
            "{Two|Three|Four} schools switched to half days and several cafés on {street} {closed their doors|"
            "shut early|put up handwritten signs}.",
            "An engineering survey last {spring|autumn} rated {#6-40} sections of pipe in the network as poor.",
            "Hydrants were flushed street by street to clear {sediment|rust|silt} stirred up by the {break|failure}.",
            "The emergency repair is expected to cost about ${#1-9}.{#1-9} million, drawn from a {reserve|rainy-day} "
            "fund.",
            "State regulators have asked for a written account of the incident within {#7-30} days.",
            "Laboratory samples taken on {day} will decide when the notice can be lifted.",
            "Dialysis patients were given priority deliveries by {volunteers|council staff|the fire service}.",
            "The utility's customer line took {#900-6000} calls in the first {#6-20} hours.",
            "A {brewery|laundry|dairy|car wash} on the industrial estate {halted production|sent staff home} "
            "until the supply returned.",
            "Engineers {suspect|believe|think} {ground movement|a sudden pressure surge|corrosion|frost heave} "
            "caused the {failure|fracture}.",
            "Customers will get a {rebate|credit|discount} of ${#10-60} on their next bill, the utility said.",
            "{Residents|Neighbours} in the {hillside|older|eastern} streets had {complained|warned} about low "
            "pressure for {months|weeks|years}.",
            "Tankers from {town2} {parked|were stationed} outside the {clinic|care home|town hall} so people could "
            "fill containers.",
        ],
        "quotes": ["\"We knew this {segment|stretch|part of the system} was fragile,\" said {person}, who runs the "
                   "utility. \"We simply ran out of dry seasons to fix it.\"",
                   "\"I filled every pot in the house and the bath,\" said {person2}, a {retired nurse|baker|"
                   "bus driver} who lives on {street}.",
                   "{person3}, a member of the town council, said the {failure|break} was \"the bill for decades of "
                   "putting off maintenance.\"",
                   "\"Please check on elderly neighbours and anyone who can't carry water,\" {person} {said|urged}.",
                   "\"The coffee tastes of swimming pool, but at least it's coming out of the tap,\" joked "
                   "{person2}."],
    },
    "hospital": {
        "section": "Health",
        "unit": ["maternity ward", "cardiac unit", "emergency department", "cancer day centre", "children's clinic"],
        "nums": {"months": (8, 30), "beds": (12, 60)},
        "headlines": ["{town} General opens {beds}-bed {unit} after {months}-month delay",
                      "New {unit} in {town} admits first patients, ending trips to {town2}",
                      "{town} hospital's {unit} opens, but staffing worries remain"],
        "lead": ["The long-awaited {unit} at {town} General Hospital admitted its first patients on {day}, "
                 "{months} months later than planned.",
                 "Patients in {town} no longer have to travel to {town2} for treatment after the hospital's new "
                 "{unit} opened this week."],
        "body": [
            "The wing adds {beds} beds and {two|three|four} treatment rooms, according to the hospital board.",
            "Ambulance crews previously drove patients {#15-70} miles to {town2}, a trip that could take over an "
            "hour in {winter|snow|holiday traffic}.",
            "Construction ran ${#2-14}.{#1-9} million over budget after a supplier of {ventilation|lift|"
            "electrical} equipment {collapsed|went bankrupt|pulled out}.",
            "The board said it had hired {#40-220} clinical staff since {before} and hoped to recruit more.",
            "Patients surveyed last year rated access to care at the hospital {#40-70} out of 100.",
            "Parking remains the most common complaint, and a shuttle bus from the {town} park-and-ride is planned.",
            "Funding came partly from a regional health grant and partly from {#10-40} years of local fundraising.",
            "Visiting hours on the {unit} will run from {eight|nine} in the morning until {eight|nine} at night.",
            "A {charity|hospital league of friends|local trust} paid for artwork on the walls and a family room.",
            "The old {unit} building will be turned into {offices and a staff training centre|a records store|"
            "a physiotherapy gym}.",
            "Dr. {person}, the medical director, said the first week had gone \"more smoothly than we feared.\"",
            "{Agency|Locum|Temporary} staff will fill about {#10-30} percent of shifts until {later}.",
            "The unit's {scanner|monitoring system|operating lights} {arrived|was delivered} {#2-6} weeks late "
            "from a factory in {Germany|Japan|Ohio}.",
            "A {bus route|footpath|pedestrian crossing} to the new entrance is still {under construction|awaiting "
            "approval}.",
            "{Four|Six|Nine} midwives and nurses moved from {town2} to staff the {unit}, leaving gaps there.",
            "The hospital expects to treat about {#2000-12000} patients a year in the {unit}.",
        ],
        "quotes": ["\"Beds without nurses are just furniture,\" said {person2}, a {union|nursing} representative, "
                   "who warned that rotas were already stretched.",
                   "\"My husband waited {#3-9} hours in a corridor last winter,\" said {person3}. \"This has to "
                   "be better.\"",
                   "\"The people of {town} built this hospital with cake sales and fun runs,\" said {person}.",
                   "\"It's bright, it's quiet, and it doesn't smell of paint any more,\" said {person2} on the "
                   "first morning.",
                   "\"We'll judge it in January, not on opening day,\" said {person3}, who chairs the patients' "
                   "forum."],
    },
    "housing": {
        "section": "Housing",
        "site": ["the old brickworks", "Meadow Farm", "the former bus depot", "Riverside Wharf", "the gasworks site"],
        "company": ["Greystone Homes", "Keel & Partners", "Northlight Developments", "Ashgrove Estates"],
        "nums": {"homes": (80, 900)},
        "headlines": ["Plans for {homes} homes at {site} divide {town}",
                      "{town} hearing on {company} plan for {site} runs late",
                      "{company} scheme for {homes} homes at {site} faces {town} objections"],
        "lead": ["{company} has asked {town} council for permission to build {homes} homes on {site}, and "
                 "{neighbours|residents} packed a hearing on {day} to {argue|say} why it should not.",
                 "A plan to put hundreds of new homes on {site} has split opinion in {town}, where rents have "
                 "risen {#10-40} percent in three years."],
        "body": [
            "Under the proposal, {#15-45} percent of the homes would be let at below-market rents.",
            "Objectors worry about traffic on the single access road and the lack of {a doctor's surgery|"
            "school places|a bus route}.",
            "{person}, who chairs the planning committee, said the town had a legal duty to meet its housing "
            "target.",
            "The plans include a park, a cycle path to the station and a shop of about {#150-600} square metres.",
            "Campaigners say the land floods in wet winters and want an independent drainage study first.",
            "{company} has offered ${#1-6}.{#1-9} million towards a new primary school as part of the deal.",
            "A final decision is due in {later} after a {#4-12}-week consultation closes.",
            "Similar plans were rejected in {town2} last year, when councillors cited a shortage of doctors.",
            "The site has been empty since {year} and is fenced off after repeated fly-tipping.",
            "A petition against the scheme has gathered {#400-5000} signatures.",
            "The council's own figures show {#300-2000} households on the waiting list for social housing.",
            "The tallest {block|building} would rise {four|five|six} storeys, {taller than|twice the height of} "
            "anything nearby.",
            "{Bats|Great crested newts|Nesting swifts} found on the site will need a licence before {demolition|"
            "work} can start.",
            "The hearing {ran past midnight|lasted five hours|was adjourned twice} as {#40-120} people asked to "
            "speak.",
            "Average house prices in {town} now stand at {#7-14} times average earnings.",
            "The developer's {architect|planning consultant}, {person3}, said the design had been changed "
            "{#2-5} times after consultation.",
        ],
        "quotes": ["\"My daughter teaches here and cannot afford to live here,\" said resident {person2}.",
                   "\"Nobody is against homes. We are against homes with no school, no doctor and one road,\" "
                   "said {person3}, who organised the petition.",
                   "\"If not here, then where?\" asked {person}, the committee chair.",
                   "\"I've watched foxes on that field every evening for twenty years,\" said {person2}.",
                   "\"Young people leave {town} because there is nowhere for them to rent,\" said {person}."],
    },
    "storm": {
        "section": "Weather",
        "crop": ["barley", "wheat", "sunflowers", "sweetcorn", "vines"],
        "nums": {"customers": (1000, 20000)},
        "headlines": ["Hailstorm batters {town}, flattening {crop} and denting cars",
                      "Freak storm cuts power to {customers} homes in {town}",
                      "{town} and {town2} count cost of {month} hailstorm"],
        "lead": ["A {violent|sudden|fierce} storm swept across {town} late on {day}, dropping hailstones the size "
                 "of {marbles|golf balls|grapes} and cutting power to thousands.",
                 "Farmers and drivers in {town} were counting the cost on {day} after {#10-40} minutes of hail "
                 "{shredded|flattened|battered} crops and cars."],
        "body": [
            "The weather service recorded {#20-70} millimetres of rain in an hour at its {town} gauge.",
            "Farmer {person} said the storm flattened about {#30-600} acres of {crop} days before harvest.",
            "Insurance brokers reported a spike in claims for cracked windscreens and dented roofs.",
            "Power was cut to {customers} customers, most of whom were reconnected by {the next morning|noon|"
            "Sunday}.",
            "Road crews cleared fallen {branches|trees|power lines} from the route between {town} and {town2}.",
            "Meteorologist {person2} said the pattern was unusual for {month} but not unprecedented.",
            "Forecasters put the chance of another storm before the weekend at {#10-60} percent.",
            "Greenhouses at a {garden centre|plant nursery|school allotment} on {street} lost most of their glass.",
            "A {barn|church roof|sports hall} in {town2} partly collapsed under the weight of hail and water.",
            "Emergency services answered {#60-400} calls during the storm, most for flooded {cellars|basements|"
            "underpasses}.",
            "Temperatures had reached {#28-36} degrees earlier in the day, feeding the thunderclouds.",
            "Lightning {struck|hit} a {transformer|chimney|oak tree} near the {station|cricket ground|cemetery}, "
            "{witnesses|neighbours} said.",
            "{Two|Three|Four|Five} people were treated for minor injuries, {mostly from falling glass|"
            "one after a fall on ice-covered steps}.",
            "Car dealers on the {ring road|bypass} said {dozens|scores} of vehicles on their forecourts were "
            "dented.",
            "The {county fair|outdoor concert|village fete} planned for the weekend has been {postponed|"
            "called off}.",
            "Drainage engineers said the {culverts|storm drains} could not cope with so much water so fast.",
        ],
        "quotes": ["\"I've lived here sixty years and never seen the creek come up that fast,\" said {person3}.",
                   "\"The {crop} was the best we'd had in years. Now it's straw,\" said {person}.",
                   "\"It sounded like gravel being poured on the roof,\" said {person3}, who runs a shop on "
                   "{street}.",
                   "\"My car looks like a golf ball,\" said {person2}, holding up a {hailstone|photo}.",
                   "\"We lost the whole greenhouse in ten minutes,\" said {person3}."],
    },
    "schools": {
        "section": "Education",
        "nums": {"posts": (6, 40)},
        "headlines": ["{town} school board cuts {posts} teaching posts",
                      "Falling rolls force {posts} job cuts at {town} schools",
                      "Parents in {town} protest as board votes to cut {posts} posts"],
        "lead": ["The {town} school board voted {#4-7} to {#2-3} on {day} to cut {posts} teaching posts, blaming "
                 "a drop in enrolment that has cost the district state aid.",
                 "Classes in {town} will grow next year after the school board approved a budget that {cuts|trims|"
                 "reduces} staff across its {#4-12} schools."],
        "body": [
            "Superintendent {person} said falling enrolment had cost the district about ${#1-5}.{#1-9} million.",
            "Enrolment has dropped by {#8-30} percent since {year}, with the steepest fall in the early grades.",
            "Parents led by {person2} presented a petition with {#300-3000} signatures against the cuts.",
            "Teachers will be offered transfers before any layoffs, according to the board's resolution.",
            "A {music|drama|swimming} programme on the list for cuts survived after a local foundation stepped in.",
            "The district will also retire {#3-12} of its oldest buses and share routes with {town2}.",
            "Test results show {#40-80} percent of eighth graders meeting the state maths standard.",
            "The next board meeting, in {later}, will discuss a proposal for a four-day week.",
            "Average class size would rise from {#18-22} to {#24-29} pupils under the plan.",
            "The teachers' union said it would {consider its options|consult members|seek legal advice}.",
            "{Two|Three|Four} village schools will share a head teacher from next {September|autumn}.",
            "Pupils {wearing|carrying} {yellow ribbons|handmade placards} {lined the corridor|stood outside} "
            "before the vote.",
            "The {library|nurse's office|counselling service} at the high school will be open {three|four} days "
            "a week instead of five.",
            "Birth rates in the county have fallen for {#6-12} years in a row, {census|state} data show.",
            "Heating and {insurance|transport|energy} costs have risen {#15-40} percent in two years.",
            "The board {rejected|shelved} a plan to close the {town2} primary school outright.",
        ],
        "quotes": ["\"Small classes are why families move here,\" said {person2}. \"Take those away and they leave.\"",
                   "\"Nobody on this board wanted to do this,\" {person} said before the vote.",
                   "\"My son's class already has a teacher who covers two grades,\" said parent {person3}.",
                   "\"We are teaching fewer children with less money, and the sums don't work,\" {person} said.",
                   "\"I came here to teach, not to count chairs,\" said {person3}, a maths teacher."],
    },
    "factory": {
        "section": "Business",
        "company": ["Halvorsen Foods", "Brightline Cables", "Pemberton Tools", "Corvid Batteries", "Tallis Textiles"],
        "nums": {"jobs": (200, 1500)},
        "headlines": ["{company} to build plant in {town}, hiring {jobs}",
                      "{town} beats {town2} to {company} factory",
                      "{company} picks {town} for {jobs}-job factory"],
        "lead": ["{company} will build a factory on the edge of {town}, the company said on {day}, promising "
                 "{jobs} jobs when it reaches full production.",
                 "{town} has beaten {town2} to a new {company} plant that will bring hundreds of jobs to a town "
                 "that lost its paper mill in {year}."],
        "body": [
            "The company said it would invest ${#40-400} million in the site over {#3-6} years.",
            "Chief executive {person} said the site was chosen for its rail link and its workforce.",
            "The plant received a tax break worth {#10-40} percent of its payroll for the first five years.",
            "Shops on {street} say trade has already picked up since survey crews arrived.",
            "Analysts noted that {company} shares rose {#2-9} percent after the announcement.",
            "A job fair for the first {#50-300} posts will be held at the {town} community college in {later}.",
            "Environmental groups asked for a public report on the plant's water use before permits are issued.",
            "The site previously housed a paper mill that closed in {year}, putting hundreds out of work.",
            "Construction is due to start in {later} and should take about {#14-30} months.",
            "The local college plans a new course in {welding|electrical maintenance|machine operation}.",
            "A new junction on the {bypass|county road} will be paid for by the company.",
            "Starting pay will be about ${#17-26} an hour, {above|slightly above|in line with} the regional average.",
            "Landlords in {town} have already {raised rents|seen inquiries from contractors}, estate agents said.",
            "The company's existing plant in {town2} will {keep running|be modernised|move to two shifts}.",
            "{Solar panels|A heat pump system|Rainwater tanks} on the roof will supply part of the site's needs.",
            "Neighbours on {street} asked for a {noise barrier|tree screen|night-time delivery ban}.",
        ],
        "quotes": ["\"It's the biggest thing to happen to this town since the railway,\" said café owner {person2}.",
                   "\"We want these to be good jobs, not just jobs,\" said union organiser {person3}.",
                   "\"We looked at {#10-40} sites. {town} was the only one that called us back the same day,\" "
                   "said {person}.",
                   "\"My father worked at the mill. Maybe my son will work here,\" said {person2}.",
                   "\"Promises are cheap. Let's see the hiring notices,\" said {person3}."],
    },
    "football": {
        "section": "Sport",
        "nums": {"goals": (2, 4), "against": (0, 1)},
        "headlines": ["{town} Rovers clinch title with {goals}-{against} win over {town2}",
                      "Rovers are champions as {town} beats {town2} Athletic",
                      "{town} Rovers seal the league on a {day} to remember"],
        "lead": ["{town} Rovers sealed the league title on {day} with a {goals}-{against} win over {town2} Athletic "
                 "in front of {#2000-9000} fans.",
                 "{town} Rovers are champions after beating {town2} Athletic, ending a wait for a trophy that "
                 "stretched back to {year}."],
        "body": [
            "Striker {person} scored twice in the second half, taking her tally for the season to {#18-31}.",
            "The club's average attendance rose {#10-40} percent this season, the best since {year}.",
            "Fans spilled onto the pitch at the final whistle and stewards let the celebration run its course.",
            "The victory earns a place in the regional cup, which begins in {later}.",
            "Season tickets for next year will go on sale at a frozen price, the chairman announced.",
            "The ground's old wooden stand will be replaced over the summer at a cost of ${#1-4}.{#1-9} million.",
            "Rivals {town2} Athletic finished {#3-12} points behind after a run of injuries.",
            "Goalkeeper {person3} kept {#12-20} clean sheets, a club record.",
            "The team was bottom of the table in {October|November} after losing three of its first four games.",
            "A parade through the town centre is planned for {day}, finishing on {street}.",
            "Academy graduate {person3} became the youngest player to captain the side this season.",
            "{person2} {switched to|moved to} a back three at half-time, a change that turned the game.",
            "The {opening|first} goal came from a {corner|free kick|penalty} in the {#8-40}th minute.",
            "Promotion means {longer away trips|a bigger budget|new floodlights} and {#4-9} extra home games.",
            "Ticket sales for the match were capped at {#3000-8000} because of the stand's condition.",
            "{Pubs|Bakeries|Corner shops} along {street} {draped|hung} the club's green and white scarves in their "
            "windows.",
        ],
        "quotes": ["\"Nobody outside this dressing room believed in us,\" said coach {person2}.",
                   "\"My grandad brought me here. Today I brought my daughter,\" said supporter {person3}.",
                   "\"I'll remember this one when I'm old,\" {person} said, still in her boots.",
                   "\"We were written off at Christmas. Look at us now,\" said {person3}.",
                   "\"Enjoy it tonight. Training is on {day},\" {person2} told the players."],
    },
    "thefts": {
        "section": "Crime",
        "loot": ["catalytic converters", "power tools", "bicycles", "copper cable", "farm quad bikes"],
        "nums": {"charged": (2, 6)},
        "headlines": ["{town} police charge {charged} over thefts of {loot}",
                      "Arrests after spate of thefts of {loot} in {town} and {town2}",
                      "Stolen {loot} recovered from {town} lock-up off {street}"],
        "lead": ["Police in {town} have charged {charged} people after a {#3-9}-month spate of thefts of {loot} "
                 "across the district.",
                 "Detectives in {town} say they have broken up a gang that stole {loot} worth "
                 "${#80-900},000 from homes and businesses."],
        "body": [
            "Detective Inspector {person} said the group worked at night and targeted car parks near {town2} "
            "station.",
            "Officers recovered stolen {loot} from a rented lock-up garage off {street}.",
            "The defendants appeared before magistrates on {day} and were remanded in custody.",
            "Reported thefts of {loot} rose {#30-200} percent last year before falling sharply after the arrests.",
            "The force plans to add {#4-20} community officers to its night shifts by {later}.",
            "Residents are advised to mark their property and park in well-lit areas.",
            "Court records show one of the accused had previous convictions dating back to {year}.",
            "A hotline set up last {spring|autumn} received {#150-900} calls, several of which led to arrests.",
            "The stolen goods were being sold online and at {car boot sales|a market in {town2}|scrapyards}.",
            "Officers used {doorbell camera footage|number-plate cameras|a tracking device} to follow the van.",
            "The case is expected to go to the crown court in {later}.",
            "{Two|Three} of the accused are {brothers|cousins|former employees of a salvage firm}, court papers "
            "say.",
            "A {farmer|church warden|school caretaker} in {town2} {photographed|noted} the van's number plate.",
            "Insurers say the thefts added about {#5-20} percent to premiums in the area.",
            "{Dogs|A drone|A helicopter} helped officers search {woodland|allotments|a quarry} near the lock-up.",
            "Some victims had their {loot} returned within days, {labelled|tagged} with case numbers.",
        ],
        "quotes": ["\"Neighbourhood patrols and doorbell cameras both played a part,\" {person} said.",
                   "\"They took my tools, which means they took my living,\" said builder {person2}.",
                   "\"We don't leave anything in the shed any more,\" said {person3}, who lives on {street}.",
                   "\"I heard a grinder at three in the morning and thought it was a dream,\" said {person2}.",
                   "\"Keep reporting. Every call is a piece of the puzzle,\" {person} said."],
    },
    "festival": {
        "section": "Culture",
        "nums": {"acts": (20, 80), "visitors": (4000, 20000)},
        "headlines": ["{town} folk festival returns with {acts} acts",
                      "Music, lanterns and rain as {town} festival welcomes band from {town2}",
                      "{visitors} expected as {town} festival draws crowds to the riverside"],
        "lead": ["The {town} folk festival opened on {day} with {acts} acts across {#3-6} stages by the river.",
                 "Thousands of people are expected in {town} this weekend as the folk festival, now in its "
                 "{second|third|fourth} decade, returns to the riverside."],
        "body": [
            "Organiser {person} expects about {visitors} visitors over the weekend, up from last year.",
            "Tickets are priced at a flat rate, and {#10-30} percent of them are reserved for residents.",
            "A children's workshop will let young visitors build lanterns for the closing parade.",
            "The festival is funded by ticket sales, a lottery grant and sponsorship from {town2} businesses.",
            "Local choirs will close the programme with a sing-along on the bandstand.",
            "Volunteers spent {#2-9} weeks building a stage from reclaimed timber.",
            "Traffic on {street} will be closed from {#6-9} p.m. each evening.",
            "Headliners include a {fiddle|harp|brass} band from {town2} that last played here in {year}.",
            "Rain on the first night moved {#3-9} acts into the church hall.",
            "Food stalls must use reusable cups this year, a rule that drew {cheers|grumbles|mixed reviews}.",
            "The festival began in {year} as an afternoon concert in a pub garden.",
            "A {ceilidh|barn dance|clog-dancing contest} on {day} night {sold out|filled the marquee} within hours.",
            "Campsites in {town2} and {town} report {full bookings|waiting lists} for the weekend.",
            "{Buskers|Street poets|Puppeteers} will work the queues at the main gate.",
            "Last year's festival raised ${#20-90},000 for the {lifeboat station|hospice|youth club}.",
            "The {river ferry|park-and-ride|night bus} will run until {midnight|one in the morning}.",
        ],
        "quotes": ["\"Every town needs a weekend when strangers sing the same chorus,\" said volunteer {person2}.",
                   "\"We came for one day in {year} and have not missed one since,\" said {person3}.",
                   "\"The rain can do what it likes,\" {person} said. \"We have tents.\"",
                   "\"I learned the fiddle here as a girl, and now I teach it here,\" said {person3}.",
                   "\"Bring boots, a jumper and an open mind,\" {person} advised."],
    },
    "orchards": {
        "section": "Rural",
        "fruit": ["apple", "pear", "cherry", "plum"],
        "nums": {"loss": (20, 60)},
        "headlines": ["Late frost cuts {town} {fruit} harvest by {loss} percent",
                      "{town} {fruit} growers count losses after frost",
                      "Frost leaves orchards from {town} to {town2} with a thin {fruit} crop"],
        "lead": ["Orchards around {town} lost much of their blossom to a frost in late {April|May}, and growers "
                 "say the {fruit} harvest will be {loss} percent below an average year.",
                 "{fruit} growers in {town} are picking one of the thinnest crops in memory after two nights of "
                 "frost at blossom time."],
        "body": [
            "Grower {person} said temperatures fell to minus {#2-5} degrees on two nights running.",
            "The growers' co-operative in {town2} will buy fruit from neighbouring counties to fill orders.",
            "Seasonal pickers have been offered {#2-6} weeks of work instead of the usual {#8-12}.",
            "A cider maker in {town} plans to press windfalls that would otherwise go to waste.",
            "Some growers ran fans and lit fires among the trees to keep the frost off, with mixed results.",
            "Agricultural economists expect {fruit} prices in shops to rise by {#5-25} percent.",
            "Crop insurance pays out only for losses above {#30-50} percent, leaving many growers short.",
            "The orchard on {street} has been run by the same family since {year}.",
            "Researchers at the {town2} agricultural college are testing later-flowering varieties.",
            "Bees brought in to pollinate the trees found little to work on this {spring|year}.",
            "The county has asked the state to declare a disaster, which would open low-interest loans.",
            "{Jam makers|Juice pressers|Bakeries} in the valley are {importing|rationing} fruit for the first time.",
            "Trees on {higher ground|south-facing slopes} escaped the worst of the {cold|frost}.",
            "A {pick-your-own|farm shop|roadside stall} on the {town2} road will open for {two|three} weekends "
            "only.",
            "{Hail nets|Frost fans|Sprinkler systems} cost about ${#8-40},000 per {acre|hectare} to install.",
            "The {harvest festival|blossom fair} in {later} will go ahead, organisers said.",
        ],
        "quotes": ["\"You can't fight the weather. You can only hope it's kinder next year,\" said {person}.",
                   "\"We'll get through it, but the bank manager will hear from us,\" said grower {person2}.",
                   "\"The trees are fine. It's this year's fruit that's gone,\" said {person3}.",
                   "\"My grandfather saw a frost like it in {year},\" {person} said.",
                   "\"Every grower I know was up at three, staring at a thermometer,\" said {person2}."],
    },
    "bridge": {
        "section": "Transport",
        "river": ["Alder", "Wyvern", "Teal", "Brackwater", "Ouse"],
        "nums": {"detour": (10, 25)},
        "headlines": ["{town}'s {river} bridge closed after cracks found",
                      "Detours of {detour} miles as {town} shuts {river} crossing",
                      "{town} bridge closure cuts the link to {town2}"],
        "lead": ["The {river} bridge in {town} was closed to traffic on {day} after inspectors found cracks in "
                 "{two|three|four} of its supporting beams.",
                 "Drivers in {town} face detours of up to {detour} miles after engineers shut the {river} bridge, "
                 "the only crossing between {town} and {town2}."],
        "body": [
            "The bridge carries about {#6000-20000} vehicles a day, according to county traffic counts.",
            "Pedestrians and cyclists can still cross on a footway on the {north|south|east} side.",
            "County engineer {person} said the cracks were found during a routine inspection.",
            "The bridge was built in {year} and last strengthened in the {1970s|1980s|1990s}.",
            "Buses are being diverted through {town2}, and the timetable has been rewritten.",
            "A temporary steel bridge could be in place within {#6-16} weeks if funding is approved.",
            "Full repairs are estimated at ${#3-20}.{#1-9} million.",
            "Businesses on {street} say takings have dropped since the closure.",
            "Emergency services have moved an ambulance to the far side of the river as a precaution.",
            "Divers will inspect the foundations when river levels fall in {later}.",
            "School buses now leave {#15-40} minutes earlier to make the longer journey.",
            "{Lorries|Heavy goods vehicles} had been banned from the bridge since {year} but {often|still} used it.",
            "Sensors {fitted|bolted} to the beams will {measure|record} any movement {every minute|around the clock}.",
            "A {ferry|rowing boat|water taxi} service {has been proposed|may run} for foot passengers.",
            "Traffic queues on the {bypass|ring road} stretched {#2-6} miles at the morning peak.",
            "The county has {#20-90} other bridges of a similar design, all due for inspection.",
        ],
        "quotes": ["\"We are not going to take any chances with a structure like this,\" {person} said.",
                   "\"My commute went from ten minutes to forty,\" said {person2}, a {nurse|mechanic|teacher}.",
                   "\"The bridge is older than my grandmother and nobody paid it any attention,\" said {person3}.",
                   "\"Half my customers live on the other bank,\" said {person2}, who runs a bakery.",
                   "\"Tell us a date. Any date,\" {person3} said at a packed meeting."],
    },
    "reserve": {
        "section": "Environment",
        "bird": ["bittern", "osprey", "crane", "marsh harrier", "white stork"],
        "nums": {"years": (10, 30)},
        "headlines": ["Rare {bird} breeds at {town} nature reserve for first time since {year}",
                      "{bird} chicks hatch in {town} marshes, {years} years after the fields were flooded",
                      "{town} reserve celebrates return of the {bird}"],
        "lead": ["A pair of {bird}s has raised chicks at the {town} nature reserve, the first confirmed breeding "
                 "there since {year}.",
                 "Volunteers at the {town} marshes are celebrating after the {bird} returned to breed on land "
                 "that was farmland until {years} years ago."],
        "body": [
            "Warden {person} said {#2-4} chicks were seen on {day} through a telescope from the main hide.",
            "The reserve was created when the {town} water board flooded {#40-300} acres of drained fields.",
            "Birdwatchers have been asked to keep to the paths and not to share the nest's location.",
            "Reed beds planted in {year} now cover about {#20-90} acres.",
            "A camera on a pole streams pictures of the nest to a screen in the visitor centre.",
            "Visitor numbers have doubled to about {#8000-40000} a year since a boardwalk opened.",
            "The reserve is run by volunteers and a trust that raises ${#80-400},000 a year.",
            "Otters and water voles have also been recorded in the past {#2-5} years.",
            "Ecologist {person2} said the return showed what could be done with patience.",
            "A survey in {later} will count the wading birds that use the reserve in winter.",
            "Fishing on the {north|main|east} lake is suspended until the chicks leave the nest.",
            "{Volunteers|Students|Retired engineers} {dug|cleared} {#2-9} kilometres of ditches by hand.",
            "The adults were {ringed|tagged|fitted with trackers} so scientists can follow their {migration|"
            "movements}.",
            "A {heron|fox|pair of crows} was seen near the nest, and wardens {kept watch|camped out} for {#3-9} "
            "nights.",
            "The {town2} farmers' union helped {fund|build} a {sluice|viewing platform|car park} for the reserve.",
            "School groups from {town} visit {weekly|every month} to {count birds|sample pond life}.",
        ],
        "quotes": ["\"We planted reeds and waited. Then one day, there it was,\" said {person}.",
                   "\"My father drained these fields. I'm glad I lived to see them wet again,\" said {person3}.",
                   "\"It's the best news this reserve has had,\" said {person2}.",
                   "\"I cried. I'm not ashamed to say it,\" said volunteer {person3}.",
                   "\"Patience, water and a bit of luck,\" {person} said, summing up {#15-30} years of work."],
    },
}
# Background any local story can carry; two of these go into every generated article.
BACKGROUND = [
    "{town}, a {market town|former mill town|river port|commuter town|cathedral town} of about {#6-60},000 people, "
    "lies {#8-40} miles {north|south|east|west} of {town2}.",
    "The {town} council is due to {discuss|debate|take questions on} the {matter|subject} at its meeting on {day}.",
    "Local elections are due in {later}, and the {issue|episode} has already featured in {leaflets|hustings|"
    "candidates' speeches}.",
    "A {public meeting|drop-in session|question-and-answer evening} will be held at the {town} {library|community "
    "centre|town hall} next week.",
    "The last time {town} made regional headlines was in {year}, when {a flood|a fire at the old mill|a royal visit|"
    "a record snowfall} {closed|brought} the town centre to a standstill.",
    "County figures show that the population of {town} has {grown|shrunk} by {#2-14} percent over the past decade.",
    "{town2}, {#5-30} miles away, {faced|went through|dealt with} a similar {problem|situation} in {year}.",
    "The mayor, {person4}, {said|wrote on social media} that the town would {pull together|be kept informed|"
    "get through this}.",
    "{Commuters|Shoppers|Parents at the school gate} said they had talked of little else {all week|since {day}}.",
    "{town}'s {weekly market|old corn exchange|railway station|bandstand} dates from the {1840s|1870s|1890s|1920s}, "
    "and the town still {thinks of itself|likes to see itself} as a {village|close community}.",
    "Unemployment in the district stands at {#3-9}.{#1-9} percent, {above|below|close to} the national rate.",
    "Questions can be sent to the council's {information desk|website|switchboard}, which will publish answers "
    "{weekly|as they come in}.",
    "A {local historian|retired headteacher|parish clerk}, {person4}, said nothing like it had happened in "
    "{town} in {living memory|at least {#30-70} years}.",
    "The {regional|county} newspaper archive records a {#2-9}-day {argument|saga|dispute} over a similar "
    "question in {year}.",
]
_SLOT = re.compile(r"\{(#\d+-\d+|[^{}|]*(?:\|[^{}]*)+|\w+)\}")


def published(i: int) -> datetime:
    """Generated article i's publication time: a day after article i-1's, at a time of day that varies."""
    return _EPOCH + timedelta(days=i, minutes=360 + (i * 37) % 660)


def _fill(template: str, slots: dict[str, str], rng: random.Random) -> str:
    def one(m: re.Match) -> str:
        s = m[1]
        if s.startswith("#"):
            lo, hi = map(int, s[1:].split("-"))
            n = rng.randint(lo, hi)
            return f"{n:,}" if n >= 10_000 else str(n)
        if "|" in s:
            return rng.choice(s.split("|"))
        return slots[s]

    while (out := _SLOT.sub(one, template)) != template:  # a choice may hold a slot: "{a market in {town2}|...}"
        template = out
    return out


def generated_story(i: int) -> dict:
    """Article i: headline, paragraphs, author, date, section; the same on every run and platform."""
    rng = random.Random(f"generated-article-{i}")
    topic_name = sorted(TOPICS)[(i + rng.randrange(len(TOPICS))) % len(TOPICS)]
    topic = TOPICS[topic_name]
    towns = rng.sample(TOWNS, 2)
    when = published(i)
    slots = {"town": towns[0], "town2": towns[1], "street": rng.choice(STREETS), "year": str(rng.randrange(1952, 2006)),
             "day": WEEKDAYS[(when.weekday() - 1) % 7],  # "on {day}": the day before publication
             "month": MONTHS[when.month - 1], "before": MONTHS[(when.month - rng.randint(2, 6)) % 12],
             "later": MONTHS[(when.month + rng.randint(1, 4)) % 12]}
    for n, key in enumerate(("person", "person2", "person3", "person4")):
        slots[key] = f"{FIRST[(rng.randrange(len(FIRST)) + n) % len(FIRST)]} {rng.choice(LAST)}"
    for key, values in topic.items():
        if key == "nums":
            slots.update({k: f"{rng.randint(lo, hi):,}" for k, (lo, hi) in values.items()})
        elif key not in ("section", "headlines", "lead", "body", "quotes"):
            slots[key] = rng.choice(values)

    def fill(template: str) -> str:
        s = _fill(template, slots, rng)
        return s[0].upper() + s[1:]

    body = rng.sample(topic["body"], k=rng.randrange(7, 11))
    quotes = rng.sample(topic["quotes"], k=rng.randrange(1, 3))
    paragraphs = [fill(rng.choice(topic["lead"]))]
    for _ in range(rng.randrange(2, 5)):  # 4-6 paragraphs in all
        take = [body.pop() for _ in range(min(len(body), rng.randrange(1, 4)))]
        if quotes and rng.random() < 0.5:
            take.insert(rng.randrange(len(take) + 1), quotes.pop())
        if take:
            paragraphs.append(" ".join(fill(s) for s in take))
    leftover = body + quotes
    if leftover:
        paragraphs[-1] += " " + " ".join(fill(s) for s in leftover)
    paragraphs.insert(rng.randrange(2, len(paragraphs) + 1), " ".join(fill(s) for s in rng.sample(BACKGROUND, 2)))
    return {"i": i, "topic": topic_name, "section": topic["section"], "title": fill(rng.choice(topic["headlines"])),
            "author": f"Reporter {i % 7}", "published": when, "paragraphs": paragraphs, "town": towns[0]}


def generated_article(base: str, i: int) -> str:
    s = generated_story(i)
    e = html.escape
    when = s["published"].isoformat().replace("+00:00", "Z")
    day = f'{s["published"]:%B} {s["published"].day}, {s["published"].year}'
    url = f"{base}/gen/article-{i}.html"
    ld = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": s["title"], "datePublished": when,
          "dateModified": when, "author": {"@type": "Person", "name": s["author"]}, "articleSection": s["section"],
          "publisher": {"@type": "Organization", "name": GEN_OUTLET}, "mainEntityOfPage": url}
    paras = "\n".join(f"      <p>{e(p)}</p>" for p in s["paragraphs"])
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{e(s["title"])} - {GEN_OUTLET}</title>
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta property="og:site_name" content="{GEN_OUTLET}">
  <meta property="og:type" content="article">
  <meta property="og:title" content="{e(s["title"])}">
  <meta property="og:url" content="{url}">
  <meta property="article:published_time" content="{when}">
  <meta property="article:section" content="{s["section"]}">
  <script type="application/ld+json">{json.dumps(ld)}</script>
</head>
<body>
  <header class="masthead"><a href="/">{GEN_OUTLET}</a>
    <nav><a href="/section/local">Local</a> <a href="/section/{s["section"].lower()}">{s["section"]}</a>
    <a href="/section/opinion">Opinion</a></nav></header>
  <main>
    <article>
      <h1>{e(s["title"])}</h1>
      <p class="byline">By {s["author"]} &middot; <time datetime="{when}">{day}</time></p>
{paras}
    </article>
    <aside class="related"><h2>More from {e(s["town"])}</h2>
      <ul><li><a href="/gen/article-{i + 1}.html">Next story</a></li>
      <li><a href="/gen/article-{max(i - 1, 0)}.html">Previous story</a></li></ul></aside>
  </main>
  <footer>&copy; {s["published"].year} {GEN_OUTLET}. All rights reserved.</footer>
</body>
</html>
"""


def generated_feed(base: str, count: int, start: int) -> str:
    items = []
    for i in range(start + count - 1, start - 1, -1):
        s = generated_story(i)
        items.append(
            f"""    <item>
      <title>{escape(s["title"])}</title>
      <link>{base}/gen/article-{i}.html</link>
      <guid isPermaLink="false">generated-daily-{i}</guid>
      <pubDate>{format_datetime(s["published"], usegmt=True)}</pubDate>
      <category>{s["section"]}</category>
      <description>{escape(s["paragraphs"][0])}</description>
    </item>""")
    newest = format_datetime(published(start + count - 1), usegmt=True)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>{GEN_OUTLET}</title>
    <link>{base}/</link>
    <description>Generated local news, {count} stories</description>
    <language>en</language>
    <lastBuildDate>{newest}</lastBuildDate>
{chr(10).join(items)}
  </channel>
</rss>
"""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Serve the test fixture web site on 127.0.0.1 until Ctrl-C.")
    ap.add_argument("--port", type=int, default=8765, help="0: any free port")
    ap.add_argument("--root", type=Path, default=WEB, help="folder of fixture files (default: %(default)s)")
    args = ap.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with FixtureSite(root=args.root, port=args.port, verbose=True) as site:
        print(f"serving {site.root} at {site.base}/  (Ctrl-C stops)", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
