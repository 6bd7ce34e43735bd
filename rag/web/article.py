"""A fetched page as an article: its main text and metadata (trafilatura), its identity (the canonical address), and
the two files kept for it in the library: the cleaned text as a Markdown file with front matter, which ingest reads
like any other article, and the raw page beside it (hidden, so ingest skips it)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import yaml

from rag.errors import FetchError
from rag.ingest.dateline import is_role, read_text_meta
from rag.ingest.html_text import html_fallback, trafilatura_module
from rag.ingest.trash import raw_path
from rag.settings import Settings

log = logging.getLogger(__name__)

MIN_PROSE_WORDS = 40  # fewer words in real paragraphs than this: a login wall, a list of links, an error page
PROSE_PARAGRAPH_WORDS = 12  # a paragraph this long is prose, not a menu entry or a headline in a list
_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|ocid|cmpid|ref|ref_src|smid|sh)$", re.I)


@dataclass
class WebArticle:
    url: str  # the identity: the page's canonical address when it is on the same site, else the address fetched
    fetched_url: str
    title: str
    text: str
    outlet: str = ""
    author: str = ""
    published: str = ""  # ISO date, "" when the page gives none
    description: str = ""
    raw: bytes = b""
    read_from: dict[str, str] = field(default_factory=dict)  # field -> where it came from, when not the page's tags


def clean_url(url: str) -> str:
    """The address without tracking parameters (utm_*, fbclid, ...), fragment or a trailing "?"."""
    p = urlsplit(url)
    query = urlencode([(k, v) for k, v in parse_qsl(p.query, keep_blank_values=True) if not _TRACKING.match(k)])
    host = (p.hostname or "").lower() + (f":{p.port}" if p.port else "")
    return urlunsplit((p.scheme.lower(), host, p.path or "/", query, ""))


def _site(host: str) -> str:
    return re.sub(r"^(www|m|amp)\.", "", (host or "").lower())


def identity(fetched_url: str, canonical: str) -> str:
    """The canonical address when it is on the site that served the page; a syndicated copy that names the
    original outlet's page as canonical keeps its own address, so two outlets never overwrite each other."""
    own = clean_url(fetched_url)
    if canonical and canonical.startswith(("http://", "https://")):
        canon = clean_url(canonical)
        if _site(urlsplit(canon).hostname or "") == _site(urlsplit(own).hostname or ""):
            return canon
    return own


def _prose_words(text: str) -> int:
    return sum(len(p.split()) for p in re.split(r"\n\s*\n|\n", text) if len(p.split()) >= PROSE_PARAGRAPH_WORDS)


def read_article(html: bytes, url: str) -> WebArticle:
    """Main text and metadata of a fetched page; `FetchError` when it holds no article (a login wall, a list)."""
    trafilatura = trafilatura_module()
    if trafilatura is None:  # pragma: no cover - a dependency
        raise FetchError("reading web pages needs trafilatura: pip install trafilatura")
    doc, text = None, ""
    for precise in (True, False):  # precision first (no cookie banners or link lists); a layout-table page needs recall
        doc = _extract(trafilatura, html, url, precise) or doc
        text = "\n\n".join(ln.strip() for ln in (getattr(doc, "text", "") or "").splitlines() if ln.strip())
        if _prose_words(text) >= MIN_PROSE_WORDS:
            break
    else:
        raise FetchError("no article text on the page (a login wall, a list of links, or a page built by "
                         "JavaScript?); try the article's own address")
    title = (doc.title or "").strip()
    outlet = (doc.sitename or "").strip()
    author = _author(doc.author or "")
    published = (doc.date or "")[:10]
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", published):
        published = ""
    host = _site(urlsplit(url).hostname or "")
    tag_title = _title_tag(html)
    netloc = _site(urlsplit(url).netloc)
    if outlet.lower() in (host, netloc, title.lower(), tag_title.lower()):  # the address, or the headline for it
        outlet = ""
    outlet = outlet or _outlet_from_title(tag_title, title)
    full_title, title = title, _strip_outlet(title, outlet)
    text = _without_headline(text, (title, full_title))
    read_from: dict[str, str] = {}
    page_text = ""
    if not outlet:  # the page's own copyright line names its publisher ("© 2024 The Prairie Sentinel")
        page_text = html_fallback(html)[0]
        outlet = _copyright_holder(page_text)
    if not (outlet and author and published):  # a byline or dateline near the top ("By Jane Doe", "WASHINGTON (AP)")
        page_text = page_text or html_fallback(html)[0]
        found = read_text_meta(_byline_region(page_text, text), title)
        for name in found.found:
            if not {"outlet": outlet, "author": author, "published": published}[name]:
                read_from[name] = "the text"
        outlet = outlet or found.outlet
        author = author or found.author
        published = published or found.published
    if not outlet:
        outlet, read_from["outlet"] = host, "the web address"
    return WebArticle(url=identity(url, doc.url or ""), fetched_url=url, title=title, text=text, outlet=outlet,
                      author=author, published=published, description=(doc.description or "").strip(),
                      raw=bytes(html), read_from=read_from)


def _extract(trafilatura, html: bytes, url: str, precise: bool):
    try:
        return trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False,
                                           include_tables=False, favor_precision=precise,
                                           date_extraction_params={"original_date": True, "extensive_search": False})
    except RecursionError as e:
        raise FetchError("the page is too deeply nested to read") from e
    except Exception as e:  # noqa: BLE001 - a parser bug must not crash an add
        log.warning("trafilatura failed on %s: %s", url, e)
        return None


def _words(s: str) -> str:
    return " ".join(re.findall(r"\w+", s.lower()))


def _without_headline(text: str, titles: tuple[str, ...]) -> str:
    """The body without the headline the page repeats at its top (it is the document's title already)."""
    first, _, rest = text.partition("\n\n")
    return rest if rest and _words(first) and _words(first) in {_words(t) for t in titles} else text


def _strip_outlet(title: str, outlet: str) -> str:
    """"Council passes budget | The Millbrook Gazette" -> "Council passes budget"."""
    if outlet:
        m = re.match(rf"^(.+?)\s*[|\-–—:]\s*{re.escape(outlet)}\s*$", title, re.I)
        if m:
            return m.group(1).strip()
    return title


def _title_tag(html: bytes) -> str:
    m = re.search(rb"<title[^>]*>(.*?)</title>", html[:200_000], re.S | re.I)
    return " ".join(unescape(m.group(1).decode("utf-8", "replace")).split()) if m else ""


def _outlet_from_title(tag_title: str, headline: str) -> str:
    """"Headline | Outlet" or "Headline - Outlet": the part after the headline, when it is short enough for a name."""
    for sep in (" | ", " - ", " – ", " — ", " :: "):
        head, _, tail = tag_title.rpartition(sep)
        if head and tail and len(tail.split()) <= 6 and (not headline or _words(head) == _words(headline)):
            return tail.strip()
    return ""


_COPYRIGHT = re.compile(r"(?:©|\(c\)|copyright)\s*(?:\d{4}(?:\s*[-–]\s*\d{4})?\s*)?"
                        r"(?P<name>[A-Z][\w&'’.\- ]{2,60}?)"
                        r"(?:\s+\d{4})?\s*(?:[.,·|]|all rights|$)", re.I | re.M)


def _copyright_holder(page_text: str) -> str:
    """The last copyright notice on the page is the site's own (an article's may name a wire service first)."""
    names = [m.group("name").strip() for m in _COPYRIGHT.finditer(page_text)]
    names = [n for n in names if len(n.split()) <= 6 and not n.lower().startswith(("all ", "by "))]
    return names[-1] if names else ""


def _byline_region(page_text: str, body: str) -> str:
    """The lines just before the article's first paragraph (headline, byline, dateline), and that paragraph."""
    first = next((p for p in body.split("\n\n") if len(p.split()) >= PROSE_PARAGRAPH_WORDS), "")
    at = page_text.find(first[:60]) if first else -1
    if at < 0:
        return body
    lines = [ln for ln in page_text[:at].split("\n") if ln.strip()][-8:]
    return "\n\n".join([*lines, first])


def _author(raw: str) -> str:
    """trafilatura joins several authors with "; "; people read "A and B". Job titles are not people."""
    names = [n.strip() for n in raw.split(";") if n.strip() and not is_role(n)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] if names else ""


# ---------------------------------------------------------------- the library's files
def _slug(text: str, limit: int = 60) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:limit].rstrip("-") or "page"


def article_path(url: str, settings: Settings) -> Path:
    """data/web/<site>/<last path words>-<hash of the address>.md: one file per address, whatever its title."""
    p = urlsplit(url)
    last = [seg for seg in p.path.split("/") if seg]
    stem = _slug(re.sub(r"\.\w{2,5}$", "", last[-1]) if last else "home")
    digest = hashlib.sha1(url.encode("utf-8")).hexdigest()[:8]
    site = _slug(_site(p.hostname or "") + (f"-{p.port}" if p.port else ""), 80)
    return settings.web_path / site / f"{stem}-{digest}.md"


def front_matter(a: WebArticle, feed: str = "") -> dict:
    fields = {"title": a.title, "outlet": a.outlet, "author": a.author, "published": a.published, "url": a.url}
    if a.fetched_url != a.url:
        fields["fetched_from"] = a.fetched_url
    if feed:
        fields["feed"] = feed
    if a.read_from:
        fields["read_from"] = dict(a.read_from)
    fields["fetched"] = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    return {k: v for k, v in fields.items() if v not in ("", None)}


def save_article(a: WebArticle, settings: Settings, feed: str = "") -> Path:
    """Write (or overwrite: the same address is the same document) the article's two files atomically."""
    path = article_path(a.url, settings)
    front = yaml.safe_dump(front_matter(a, feed), allow_unicode=True, sort_keys=False)
    body = "---\n" + front + "---\n" + a.text + "\n"
    _atomic_write(raw_path(path), a.raw)
    _atomic_write(path, body.encode("utf-8"))
    return path


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
