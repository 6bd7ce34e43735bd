"""Fetching one web page or feed safely: http(s) only, redirects followed one hop at a time (each hop checked), a
size cap read as the body arrives, one deadline for the whole response, and no addresses on this machine or its
network unless `RAG_FETCH_PRIVATE=1`. Every failure is a `FetchError` with a one-line message."""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

from rag.errors import FetchError, with_detail
from rag.settings import Settings

log = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml", "text/xml",
              "application/feed+json", "text/plain", *HTML_TYPES)  # feeds are often served as text/xml or text/html
_HTTP_WORDS = {401: "the page needs a login", 403: "the site refused access (it may need a login or block robots)",
               404: "the page was not found", 410: "the page has been removed", 429: "the site says too many requests;"
               " try again later"}


@dataclass
class Fetched:
    requested: str
    url: str  # after redirects
    status: int
    content_type: str
    body: bytes
    etag: str = ""
    last_modified: str = ""

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def normalize_url(raw: str) -> str:
    """"example.com/a#top" -> "https://example.com/a": a scheme is added when none is given; anything but http(s)
    is refused, whatever it is (file:, javascript:, data:, ftp:)."""
    url = (raw or "").strip()
    if not url:
        raise FetchError("the web address is empty")
    if any(c.isspace() for c in url) or any(ord(c) < 32 for c in url):
        raise FetchError(f"{not_an_address(url)}: it has spaces in it (one address per line)")
    parts = urlsplit(url)
    if not parts.scheme and not url.startswith("//") and "." in url.split("/", 1)[0]:
        parts = urlsplit("https://" + url)
    if not parts.scheme or (not parts.netloc and parts.scheme.lower() not in _SCHEMES):
        raise FetchError(f"{not_an_address(url)}: one looks like https://example.com/news/story")
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(f"only http:// and https:// addresses can be fetched, not {parts.scheme}:")
    if not parts.hostname:
        raise FetchError(f"{not_an_address(url)}: it names no site")
    netloc = parts.netloc.lower() if "@" not in parts.netloc else parts.netloc
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def _short(url: str, n: int = 80) -> str:
    return url if len(url) <= n else url[: n - 1] + "…"


_SCHEMES = {"file", "javascript", "data", "ftp", "mailto", "about", "blob", "ws", "wss", "sftp", "ssh", "tel"}


def not_an_address(text: str) -> str:
    """"“not a url” is not a web address": a report that names what was typed needs not name it again."""
    return f"“{_short(text)}” is not a web address"


# Said in words (the setting goes in the detail the page folds away): why a page may not reach this machine.
PRIVATE_WORDS = ("this address points to this computer or a private network; addresses like that are not fetched, "
                 "so a web page cannot reach your local services")
PRIVATE_REDIRECT_WORDS = ("the page redirects to this computer or a private network; addresses like that are not "
                          "fetched, so a web page cannot reach your local services")


def _blocked(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast
            or ip.is_unspecified or not ip.is_global)


def resolve(host: str, port: int, settings: Settings, redirected: bool = False) -> list[str]:
    """The addresses `host` may be reached at: all of them, or none (an error) when one is on this machine or a
    private network and `RAG_FETCH_PRIVATE` is off (`redirected`: the host is a redirect's, not the one given)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise FetchError(with_detail(f"the host name '{host}' could not be found: check the address, or the "
                                     "connection to the internet", str(e))) from e
    addresses = list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))
    if not settings.fetch_private:
        for address in addresses:
            ip = ipaddress.ip_address(address)
            if _blocked(ip):
                where = f"{host} is {ip}" if host.strip("[]") != str(ip) else str(ip)
                raise FetchError(with_detail(PRIVATE_REDIRECT_WORDS if redirected else PRIVATE_WORDS,
                                             f"{where}, on this machine or its local network; "
                                             "RAG_FETCH_PRIVATE=1 allows such addresses"))
    return addresses


def check_host(url: str, settings: Settings, redirected: bool = False) -> None:
    """Refuse a host that is (or resolves to) an address on this machine or a private network."""
    parts = urlsplit(url)
    resolve(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80), settings, redirected)


def _transport(settings: Settings):
    """An httpx transport that connects only to an address it has just checked: the check and the connection use
    one name lookup, so a host whose DNS answer changes between the two (DNS rebinding) cannot slip through."""
    import httpcore
    import httpx

    class CheckedBackend(httpcore.SyncBackend):
        def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                        socket_options=None):
            addresses = resolve(host, port, settings)
            last: Exception | None = None
            for address in addresses:  # as the system's own connect does: the next address when one fails
                try:
                    return super().connect_tcp(address, port, timeout, local_address, socket_options)
                except httpcore.ConnectError as e:
                    last = e
            raise last or httpcore.ConnectError(f"no address for {host}")

    transport = httpx.HTTPTransport(trust_env=False)
    pool = getattr(transport, "_pool", None)
    if not isinstance(pool, httpcore.ConnectionPool) or not hasattr(pool, "_ssl_context"):  # pragma: no cover
        log.warning("this httpx cannot pin checked addresses; names are checked before each request only")
        return transport
    transport._pool = httpcore.ConnectionPool(ssl_context=pool._ssl_context, network_backend=CheckedBackend())
    return transport


def fetch(url: str, settings: Settings, *, accept: tuple[str, ...] = HTML_TYPES, what: str = "web page",
          etag: str = "", last_modified: str = "") -> Fetched:
    """GET `url` within the settings' limits; a 304 (when `etag`/`last_modified` match) comes back with no body."""
    import httpx

    start = normalize_url(url)
    deadline = time.monotonic() + settings.fetch_timeout_s
    cap = settings.fetch_max_mb * 1024 * 1024
    headers = {"User-Agent": settings.user_agent, "Accept": ", ".join(accept) + ";q=1.0, */*;q=0.1"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    seen = [start]
    current = start
    timeout = httpx.Timeout(settings.fetch_timeout_s)
    with httpx.Client(follow_redirects=False, timeout=timeout, trust_env=False,
                      transport=_transport(settings)) as client:
        while True:
            check_host(current, settings, redirected=current != start)
            try:
                with client.stream("GET", current, headers=headers) as r:
                    if r.is_redirect and r.headers.get("location"):
                        nxt = _next_hop(current, r.headers["location"], seen, settings)
                        seen.append(nxt)
                        current = nxt
                        continue
                    return _read(start, current, r, accept, what, cap, deadline, settings)
            except httpx.TimeoutException as e:
                raise FetchError(f"{_host(current)} did not answer within {settings.fetch_timeout_s:g} s "
                                 "(RAG_FETCH_TIMEOUT_S); try again later") from e
            except httpx.TooManyRedirects as e:  # pragma: no cover - redirects are followed here, not by httpx
                raise FetchError("too many redirects") from e
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as e:
                raise FetchError(with_detail(f"could not connect to {_host(current)}: the site is down or the "
                                             "address is wrong", " ".join(str(e).split()) or type(e).__name__)) from e
            except httpx.HTTPError as e:
                raise FetchError(with_detail(f"fetching {_host(current)} failed", str(e) or type(e).__name__)) from e


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def _next_hop(current: str, location: str, seen: list[str], settings: Settings) -> str:
    target = urljoin(current, location.strip())
    try:
        nxt = normalize_url(target)
    except FetchError as e:
        raise FetchError(f"the page redirects to an address that is not fetched: {e}") from e
    if nxt in seen:
        raise FetchError(f"the address redirects in a loop ({_short(seen[0])} → … → {_short(nxt)})")
    if len(seen) > settings.fetch_max_redirects:
        raise FetchError(f"more than {settings.fetch_max_redirects} redirects (RAG_FETCH_MAX_REDIRECTS); "
                         "the address may be wrong")
    return nxt


def _read(requested: str, url: str, r, accept: tuple[str, ...], what: str, cap: int, deadline: float,
          settings: Settings) -> Fetched:
    ctype = r.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    meta = dict(etag=r.headers.get("etag", ""), last_modified=r.headers.get("last-modified", ""))
    if r.status_code == 304:
        return Fetched(requested, url, 304, ctype, b"", **meta)
    if r.status_code >= 400:
        words = _HTTP_WORDS.get(r.status_code) or (
            "the site had an error; try again later" if r.status_code >= 500 else "the site refused the request")
        raise FetchError(f"{words} (HTTP {r.status_code})")
    if ctype and ctype not in accept:
        hint = "; add PDFs and text files by uploading them" if what == "web page" else ""
        raise FetchError(f"the address gives {ctype}, not a {what}{hint}")
    size = r.headers.get("content-length", "")
    mb = settings.fetch_max_mb
    if size.isdigit() and int(size) > cap:
        raise FetchError(f"the {what} is too large ({int(size) / 1e6:.0f} MB; the limit is {mb} MB, RAG_FETCH_MAX_MB)")
    body = bytearray()
    for piece in r.iter_bytes():
        body += piece
        if len(body) > cap:
            raise FetchError(f"the {what} is too large (over {mb} MB, RAG_FETCH_MAX_MB)")
        if time.monotonic() > deadline:
            raise FetchError(f"{_host(url)} sent the {what} too slowly (not complete within "
                             f"{settings.fetch_timeout_s:g} s, RAG_FETCH_TIMEOUT_S)")
    return Fetched(requested, url, r.status_code, ctype, bytes(body), **meta)
