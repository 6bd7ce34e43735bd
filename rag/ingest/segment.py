"""Sentence segmentation and chunking that keep character offsets into the document text.

Sentences come from pysbd (rule-based, handles "U.S.", "Oct. 7", quotes ending in ."), run one
paragraph at a time so a sentence never spans paragraphs. Chunks are runs of whole sentences.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from rag.schema import Chunk, Sentence

SEGMENTER_NAME = "pysbd-paragraph-v1"
_PARA_RE = re.compile(r"[^\n]+(?:\n(?!\s*\n)[^\n]+)*")  # runs of non-blank lines
_WORD_RE = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Paragraphs are separated by blank lines, or are single lines when the text has none."""
    if "\n\n" in text or re.search(r"\n\s*\n", text):
        spans = [(m.start(), m.end()) for m in _PARA_RE.finditer(text)]
    else:
        spans = [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", text)]
    return [_strip_span(text, a, b) for a, b in spans if text[a:b].strip()]


def _strip_span(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def split_sentences(text: str) -> list[Sentence]:
    """Sentence spans over `text`; each `text[s.start:s.end]` is a stripped sentence."""
    out: list[Sentence] = []
    seg = _segmenter()
    for pa, pb in paragraph_spans(text):
        para = text[pa:pb]
        pos = 0
        spans: list[tuple[int, int]] = []
        for piece in seg.segment(para):
            piece = piece.strip()
            if not piece:
                continue
            i = para.find(piece, pos)
            if i < 0:  # the segmenter altered the text; fall back to the rest of the paragraph
                spans.append(_strip_span(para, pos, len(para)))
                pos = len(para)
                break
            spans.append((i, i + len(piece)))
            pos = i + len(piece)
        if pos < len(para) and para[pos:].strip():
            spans.append(_strip_span(para, pos, len(para)))
        for a, b in _merge_fragments(para, spans):
            out.append(Sentence(pa + a, pa + b))
    return out


def _merge_fragments(para: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Undo splits that left a fragment: a piece starting in lower case or too short to be a sentence."""
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        piece = para[a:b]
        first = piece.lstrip("“\"‘'([")[:1]
        if merged and (first.islower() or len(_WORD_RE.findall(piece)) < 2 and not piece.startswith(("“", '"'))):
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def word_count(text: str) -> int:
    return len(_WORD_RE.findall(text))


def chunk_id(doc: str, start: int, text: str) -> str:
    return hashlib.sha256(f"{doc}\x00{start}\x00{text}".encode()).hexdigest()[:16]


def chunk_document(doc: str, text: str, chunk_words: int = 150, overlap: int = 1) -> list[Chunk]:
    """Greedy runs of whole sentences up to ~`chunk_words` words, neighbours sharing `overlap` sentences."""
    sentences = split_sentences(text)
    chunks: list[Chunk] = []
    i = 0
    while i < len(sentences):
        j = i
        words = 0
        while j < len(sentences) and (j == i or words + _words(text, sentences[j]) <= chunk_words):
            words += _words(text, sentences[j])
            j += 1
        group = sentences[i:j]
        start, end = group[0].start, group[-1].end
        body = text[start:end]
        chunks.append(Chunk(chunk_id(doc, start, body), doc, body, start, end, tuple(group)))
        if j >= len(sentences):
            break
        i = max(j - overlap, i + 1)
    return chunks


def _words(text: str, s: Sentence) -> int:
    return word_count(text[s.start : s.end])
