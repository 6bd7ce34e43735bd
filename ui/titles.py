"""What an article is called on the page: its headline, or for an article without one its first words, then its web
address; never the internal file name the library keeps it under ("000_27674378f27b9ee8.md"), nor a title that is
only that name made readable (the loader's last resort for a file with no headline)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

UNTITLED = "Untitled article"
_HEXISH = re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b", re.I)  # 27674378f27b9ee8: a hash, not a word


def site(url: str) -> str:
    """"www.example-news.com" -> "example-news.com"; "" when there is no web address."""
    host = (urlsplit(url).hostname or "") if url else ""
    return host[4:] if host.startswith("www.") else host


def first_words(text: str, n: int = 12) -> str:
    """The article's opening words (after a "# Title" line), "…" where cut; "" for no text."""
    body = re.sub(r"^\s*#.*\n", "", text or "").strip()
    words = body.split()
    return " ".join(words[:n]) + ("…" if len(words) > n else "") if words else ""


def named_after_its_file(doc: str, title: str) -> bool:
    """A title that is only the file's name made readable ("000 27674378f27b9ee8"): an internal name nobody should
    read as a title."""
    stem = re.sub(r"[\s_.-]+", " ", doc.rsplit("/", 1)[-1].rsplit(".", 1)[0]).strip().casefold()
    title = re.sub(r"[\s_.-]+", " ", title or "").strip().casefold()
    return bool(title) and title == stem and bool(_HEXISH.search(title))


def real_title(doc: str, title: str) -> str:
    """The headline, or "" when there is none (no title, or only the file's name)."""
    return "" if not title or named_after_its_file(doc, title) else title


def address(url: str) -> str:
    """A web address to read as a name: "news.example/a/b"."""
    if not url:
        return ""
    return (site(url) + urlsplit(url).path.rstrip("/")) or url


def readable_title(doc: str, title: str, url: str = "", opening: str = "") -> str:
    """The headline; without one, the article's opening words (`first_words`), then its web address, then
    "Untitled article"."""
    return real_title(doc, title) or opening or address(url) or UNTITLED
