"""Text out of HTML: trafilatura (main text and metadata) when it imports, and a streaming html.parser fallback that
keeps the visible text of <article>, else <main>, else the page, one paragraph per block element."""

from __future__ import annotations

import functools
import logging
import re
from html.parser import HTMLParser
from typing import Any

log = logging.getLogger(__name__)


@functools.cache
def trafilatura_module() -> Any:
    """The trafilatura module, or None (warned once) when it can't be imported."""
    try:
        import trafilatura
    except ImportError as e:  # e.g. jusText needs the separate lxml_html_clean package
        log.warning("trafilatura unavailable (%s); using plain HTML text extraction", " ".join(str(e).split()))
        return None
    return trafilatura


_BLOCK_TAGS = frozenset({
    "p", "div", "section", "article", "main", "header", "footer", "aside", "nav", "h1", "h2", "h3", "h4", "h5", "h6",
    "li", "ul", "ol", "blockquote", "pre", "table", "tr", "td", "th", "figure", "figcaption", "dd", "dt", "dl", "hr",
})


_HIDDEN_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "object"})


class _TextParser(HTMLParser):
    """Streaming visible-text collector: no tree, so nesting depth costs neither recursion nor memory."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hidden = 0
        self.in_title = False
        self.title: list[str] = []
        self.depth = {"article": 0, "main": 0}
        self.parts: dict[str, list[str]] = {"article": [], "main": [], "body": []}

    def _emit(self, s: str) -> None:
        for region in ("article", "main"):
            if self.depth[region]:
                self.parts[region].append(s)
        self.parts["body"].append(s)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden += 1
        elif tag == "title":
            self.in_title = True
        elif tag in self.depth:
            self.depth[tag] += 1
        if tag in _BLOCK_TAGS:
            self._emit("\n\n")
        elif tag == "br":
            self._emit("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden = max(0, self.hidden - 1)
        elif tag == "title":
            self.in_title = False
        elif tag in self.depth:
            self.depth[tag] = max(0, self.depth[tag] - 1)
        if tag in _BLOCK_TAGS:
            self._emit("\n\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif not self.hidden:
            self._emit(data)


def html_fallback(data: bytes) -> tuple[str, str]:
    """Visible text of <article>, else <main>, else the page; one paragraph per block element."""
    from bs4.dammit import UnicodeDammit

    p = _TextParser()
    p.feed(UnicodeDammit(data, is_html=True).unicode_markup or "")
    p.close()
    for region in ("article", "main", "body"):
        paras = (" ".join(x.split()) for x in re.split(r"\n\s*\n", "".join(p.parts[region])))
        text = "\n\n".join(x for x in paras if x)
        if text:
            return text, " ".join("".join(p.title).split())
    return "", " ".join("".join(p.title).split())
