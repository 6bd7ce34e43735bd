"""Source cards without repeats: citations that quote the same paragraph of the same article share one card, which
lists all their markers and shows the paragraph once with every quote marked in it.

A citation shown in the page carries its paragraph context (`ui.render.with_context`): `before`/`after` (each
trimmed to a few hundred characters, marked "…" where cut), `para` (the paragraph's [start, end) in the
article) and `at` (where the quote starts). From these the pieces of one paragraph shown by several citations are
laid side by side by their offsets. Turns kept from before these fields existed are grouped only when they quote
the same text of the same paragraph.
"""

from __future__ import annotations

from collections.abc import Sequence

Segment = tuple[str, bool]  # (text, marked)
GAP = " … "  # between two shown stretches of a long paragraph that do not touch


def _placed(c: dict) -> bool:
    para, at = c.get("para"), c.get("at")
    return (isinstance(para, (list, tuple)) and len(para) == 2 and all(isinstance(x, int) for x in para)
            and isinstance(at, int))


def _flat(c: dict) -> str:
    return f"{c.get('before', '')}{c.get('quote', '')}{c.get('after', '')}"


def same_paragraph(a: dict, b: dict) -> bool:
    if str(a.get("doc", "")) != str(b.get("doc", "")):
        return False
    if _placed(a) and _placed(b):
        return a["para"][0] < b["para"][1] and b["para"][0] < a["para"][1]
    return bool(_flat(a)) and _flat(a) == _flat(b) and a.get("quote") == b.get("quote")


def group_citations(citations: Sequence[dict]) -> list[list[dict]]:
    """Citations of one paragraph together, in the order of their first marker."""
    groups: list[list[dict]] = []
    for c in citations:
        home = next((g for g in groups if any(same_paragraph(c, x) for x in g)), None)
        if home is None:
            groups.append([c])
        else:
            home.append(c)
    return groups


def aliases(citations: Sequence[dict]) -> dict[int, int]:
    """Marker number -> the number whose card shows it (the group's first); only for markers that share a card."""
    out: dict[int, int] = {}
    for g in group_citations(citations):
        for c in g[1:]:
            out[int(c["n"])] = int(g[0]["n"])
    return out


def _stretch(c: dict) -> tuple[int, str, int, int]:
    """(start in the article, shown text without the cut marks, quote start, quote end) of one citation's piece."""
    before, quote, after = str(c.get("before", "")), str(c.get("quote", "")), str(c.get("after", ""))
    ps, pe = c["para"]
    at = c["at"]
    if len(before) != at - ps and before.startswith("…"):
        before = before[1:]
    end = at + len(quote)
    if len(after) != pe - end and after.endswith("…"):
        after = after[:-1]
    return at - len(before), before + quote + after, at, end


def segments(group: Sequence[dict]) -> list[Segment]:
    """The paragraph as (text, marked) pieces: the shown stretches of every citation in the group joined by their
    offsets (a gap between stretches that do not touch), each quote marked. A group of one is its own card."""
    if len(group) == 1 or not all(_placed(c) for c in group):
        c = group[0]
        return [(str(c.get("before", "")), False), (str(c.get("quote", "")), True), (str(c.get("after", "")), False)]
    stretches = sorted(_stretch(c) for c in group)
    runs: list[tuple[int, str]] = []  # (start, text) of stretches joined where they touch or overlap
    for start, text, _, _ in stretches:
        if runs and start <= runs[-1][0] + len(runs[-1][1]):
            s0, t0 = runs[-1]
            runs[-1] = (s0, t0 + text[s0 + len(t0) - start:])
        else:
            runs.append((start, text))
    marks = sorted((qs, qe) for _, _, qs, qe in stretches)
    out: list[Segment] = []
    for i, (start, text) in enumerate(runs):
        if i:
            out.append((GAP, False))
        pos = start
        for qs, qe in marks:
            if qe <= pos or qs >= start + len(text):
                continue
            qs = max(qs, pos)
            if qs > pos:
                out.append((text[pos - start:qs - start], False))
            out.append((text[qs - start:qe - start], True))
            pos = qe
        if pos < start + len(text):
            out.append((text[pos - start:], False))
    ps, pe = group[0]["para"]
    cut_before = [("…", False)] if runs[0][0] > ps else []
    cut_after = [("…", False)] if runs[-1][0] + len(runs[-1][1]) < pe else []
    return cut_before + out + cut_after
