"""Generic cleaning of raw article text: rejoin hard-wrapped lines, split off headline/dek,
drop site furniture (trailers, URL dumps, captions, related links, syndication notes).

The body is never rewritten: paragraphs are only re-flowed (line breaks -> spaces) and whole
non-body blocks are dropped, each recorded in `CleanResult.removed` with its reason, so every
body sentence stays findable verbatim in `CleanResult.text`.

    python -m rag.ingest.clean RAW_FILE [--report]   # print the cleaned body (data/*.md are made this way)
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

PARA_SEP = "\n\n"

# A line ends a sentence: . ! ? … optionally followed by closing quotes/brackets.
_SENT_END = re.compile(r"[.!?…][\"”’')\]]*$")
_URL_LINE = re.compile(r"^(?:<?(?:https?://|www\.)\S+>?)$", re.I)
_BULLET = re.compile(r"^(?:[-*•·▪–]\s+|\d{1,2}[.)]\s+)")
_TRAILER = re.compile(
    r"^(?:more\s+(?:must[- ]reads?|stories|news|coverage|reading|to\s+read|from)\b[^.!?]{0,50}"
    r"|(?:read|see)\s+more\s+(?:from|at|on)\b[^.!?]{0,50}"
    r"|most\s+(?:popular|read)\b[^.!?]{0,40}"
    r"|contact\s+us\s+at\s+\S+"
    r"|(?:sign\s+up|subscribe)\b[^.!?]{0,60}newsletters?[.!]?"
    r"|(?:copyright\s+)?(?:©|\(c\))\s*\d{4}.{0,80}"
    r"|copyright\s+\d{4}.{0,80})$",
    re.I,
)
_RELATED = re.compile(r"^(?:related(?:\s+(?:article|story|stories|content|reading))?|read\s+(?:more|also)"
                      r"|see\s+also|also\s+read)\s*:\s*\S", re.I)
_SYNDICATION = re.compile(
    r"^(?:this|the)\s+(?:article|story|piece|column|op-ed|commentary)\s+(?:was\s+)?"
    r"(?:first|originally)\s+(?:published|appeared)\s+(?:by|in|on|at)\s+(?P<src>.+?)\.?$",
    re.I,
)
_CREDIT = re.compile(r"^[–—-]*\s*(?:with\s+)?(?:additional\s+)?reporting\s+by\s+(?P<who>.+?)\.?$", re.I)
_AGENCIES = (
    r"Getty\s+Images|AP(?:\s+Photo)?|AFP|Reuters|EPA(?:-EFE)?|TASS|Sputnik|Shutterstock|Alamy|Pool"
    r"|Wikimedia(?:\s+Commons)?|Unsplash|Bloomberg|Xinhua|Anadolu(?:\s+Agency)?|UPI|Kommersant|Zuma(?:\s+Press)?"
)
# A photo credit closing a caption: "... out of hand. Kremlin.ru", "... / AP", "Photo: Jane Doe".
# Case-sensitive on purpose: "AP" or "Pool" must not match "ap"/"pool" in running text.
_PHOTO_CREDIT = re.compile(
    r"(?:(?:^|\s)(?i:photo(?:graph)?s?|image|credit|pictured)\s*(?::|by)\s*[^.!?]{1,60}"
    r"|(?:^|[\s/(])(?:[\w.'’-]+\s+){0,4}?(?:/|via)?\s*(?:" + _AGENCIES + r")"
    r"|(?:^|\s)[A-Za-z0-9][\w-]*(?:\.[\w-]+)*\.[a-z]{2,6}(?:/\S*)?)\)?\s*$"
)
_WORD = re.compile(r"[^\W\d_][\w'’-]*")


@dataclass
class CleanResult:
    text: str  # body paragraphs separated by exactly one blank line ("\n\n")
    title: str = ""
    dek: str = ""
    removed: list[tuple[str, str]] = field(default_factory=list)  # (reason, removed text)
    syndicated_from: str = ""
    contributors: list[str] = field(default_factory=list)


def _join_lines(lines: list[str]) -> str:
    """Join the lines of one paragraph; a hyphen/dash glued to a word ends a compound ("U.S.-" + "backed")."""
    out = ""
    for line in lines:
        if not out:
            out = line
        elif re.search(r"\S[-–—]$", out):
            out += line
        else:
            out += " " + line
    return out


def _is_line_per_paragraph(lines: list[str]) -> bool:
    """No blank lines, and lines that look like whole paragraphs rather than wrapped ones.

    Wrapped text has lines that stop mid-sentence at nearly full width; one-paragraph-per-line
    text has long lines, mostly ending a sentence, and only short lines (headings, credits) that don't.
    """
    if any(not ln for ln in lines) or len(lines) < 2:
        return len(lines) == 1 and bool(lines[0])
    lengths = sorted(len(ln) for ln in lines)
    if lengths[len(lengths) // 2] > 160:  # wider than any hard-wrap width
        return True
    open_ended = [ln for ln in lines[:-1] if not _SENT_END.search(ln) and not _BULLET.match(ln)]
    ends = sum(1 for ln in lines if _SENT_END.search(ln))
    return ends >= 0.5 * len(lines) and not any(len(ln) >= 0.6 * lengths[-1] for ln in open_ended)


def _blocks(text: str) -> list[list[str]]:
    """Split text into paragraphs (lists of stripped lines), honouring one-paragraph-per-line text."""
    lines = [ln.strip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    if _is_line_per_paragraph(lines):
        return [[ln] for ln in lines]
    blocks: list[list[str]] = [[]]
    for ln in lines:
        if ln:
            blocks[-1].append(ln)
        elif blocks[-1]:
            blocks.append([])
    return [b for b in blocks if b]


def rejoin_wrapped_lines(text: str) -> str:
    """Re-flow hard-wrapped lines into paragraphs separated by one blank line; nothing else changes."""
    return PARA_SEP.join(_join_lines(b) for b in _blocks(text))


def _words(s: str) -> int:
    return len(s.split())


def _is_headline(line: str, block: list[str], has_more: bool) -> bool:
    """A short first line without closing punctuation, set apart (own block, Title Case, or much shorter)."""
    if not has_more or len(line) > 120 or _words(line) > 16 or _URL_LINE.match(line) or _BULLET.match(line):
        return False
    if re.search(r"[.,;:–—-]$", line):
        return False
    if len(block) == 1:
        return True
    big = [w for w in _WORD.findall(line) if len(w) >= 4]
    title_case = bool(big) and sum(w[0].isupper() for w in big) / len(big) >= 0.75
    return title_case or len(line) < 0.6 * len(block[1])


def _is_caption(text: str) -> bool:
    return _words(text) <= 60 and bool(_PHOTO_CREDIT.search(text)) and not _SENT_END.search(text)


def _units(lines: list[str]) -> list[list[str]]:
    """Group lines into sentence-ending runs (for telling a dek from a caption inside one block)."""
    units: list[list[str]] = [[]]
    for ln in lines:
        units[-1].append(ln)
        if _SENT_END.search(ln):
            units.append([])
    return [u for u in units if u]


def _strip_line_junk(blocks: list[list[str]], removed: list[tuple[str, str]]) -> list[list[str]]:
    """Drop bare-URL lines and site trailers (marker line plus the bullet list under it).

    Consecutive removed lines with the same reason are recorded as one block.
    """
    out: list[list[str]] = []
    in_trailer = False
    last = ""  # reason the previous line was removed for, "" if it was kept
    for block in blocks:
        kept: list[str] = []
        for ln in block:
            reason = ""
            if _URL_LINE.match(ln):
                reason = "bare URLs"
            elif _TRAILER.match(ln) and len(ln) <= 120:
                reason, in_trailer = "site trailer", True
            elif in_trailer and _BULLET.match(ln):
                reason = "site trailer"
            else:
                in_trailer = False
                kept.append(ln)
            if reason and reason == last:
                removed[-1] = (reason, removed[-1][1] + "\n" + ln)
            elif reason:
                removed.append((reason, ln))
            last = reason
        if kept:
            out.append(kept)
    return out


def clean_article(raw: str) -> CleanResult:
    """Clean one raw article; see the module docstring for what goes and why."""
    res = CleanResult(text="")
    blocks = _strip_line_junk(_blocks(raw), res.removed)
    paras: list[str] = []

    if blocks:
        first = blocks[0]
        has_more = len(first) > 1 or len(blocks) > 1
        rest_of_first: list[str] = first
        if _is_headline(first[0], first, has_more):
            res.title = first[0]
            res.removed.append(("headline", first[0]))
            rest_of_first = first[1:]
            units = _units(rest_of_first)
            if units and not _is_caption(_join_lines(units[0])) and _words(_join_lines(units[0])) <= 50:
                tail = [ln for u in units[1:] for ln in u]
                if not tail or _is_caption(_join_lines(tail)):
                    res.dek = _join_lines(units[0])
                    res.removed.append(("dek", res.dek))
                    rest_of_first = tail
        if rest_of_first:
            paras.append(_join_lines(rest_of_first))
        paras.extend(_join_lines(b) for b in blocks[1:])
        # a short credit-ending paragraph right after the headline/dek is a photo caption
        if paras and _is_caption(paras[0]) and len(paras) > 1:
            res.removed.append(("photo caption", paras.pop(0)))

    body: list[str] = []
    for p in paras:
        if _RELATED.match(p) and _words(p) <= 40:
            res.removed.append(("related-article link", p))
        elif m := _SYNDICATION.match(p):
            res.syndicated_from = m["src"].strip()
            res.removed.append(("syndication note", p))
        elif (m := _CREDIT.match(p)) and _words(p) <= 20:
            res.contributors.append(m["who"].strip())
            res.removed.append(("reporting credit", p))
        else:
            body.append(p)
    res.text = PARA_SEP.join(body)
    res.removed.sort(key=lambda r: _position(raw, r[1]))
    return res


def _position(raw: str, removed: str) -> int:
    """Where a removed block starts in the raw text (for listing removals in document order)."""
    i = raw.find(removed.split("\n")[0][:40])
    return i if i >= 0 else len(raw)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rag.ingest.clean", description="Print the cleaned body of a raw article.")
    ap.add_argument("raw_file", type=Path)
    ap.add_argument("--report", action="store_true", help="also print title, dek and removed blocks to stderr")
    args = ap.parse_args(argv)
    res = clean_article(args.raw_file.read_text(encoding="utf-8-sig"))
    sys.stdout.write(res.text + "\n")
    if args.report:
        print(f"title: {res.title!r}\ndek: {res.dek!r}\nsyndicated_from: {res.syndicated_from!r}\n"
              f"contributors: {res.contributors!r}", file=sys.stderr)
        for reason, txt in res.removed:
            print(f"[{reason}] {txt!r}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
