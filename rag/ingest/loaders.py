"""Turn files (.txt, .md, .html, .pdf) into `Document`s, and walk folders of them.

Anything unreadable raises `LoadError` with a one-line reason; `load_paths` turns those into
`Skipped` entries so one bad file never stops an ingest.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import io
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from rag.errors import LoadError, with_detail
from rag.ingest.clean import clean_article, rejoin_wrapped_lines
from rag.ingest.dateline import read_text_meta
from rag.ingest.html_text import html_fallback, trafilatura_module
from rag.schema import Document

log = logging.getLogger(__name__)

DAMAGED_PDF = "the file is damaged or not a complete PDF"

SUPPORTED_SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf"}
DEFAULT_MAX_BYTES = 20 * 1024 * 1024  # RAG_MAX_FILE_MB; a news article is far smaller


@dataclass
class Skipped:
    path: str
    reason: str


def _unsupported(suffix: str) -> str:
    return f"unsupported file type '{suffix or '(none)'}' (supported: {', '.join(sorted(SUPPORTED_SUFFIXES))})"


def _readable_stem(path: Path) -> str:
    """'putin_plan-b' -> 'Putin plan b': a title of last resort."""
    s = re.sub(r"[\s_-]+", " ", path.stem).strip()
    return s[:1].upper() + s[1:]


# ---------------------------------------------------------------- text decoding


def _looks_binary(data: bytes) -> bool:
    head = data[:65536]
    if b"\x00" in head:
        return True
    ctrl = sum(1 for b in head if b < 32 and b not in b"\t\n\r\f\v\x1b")
    return ctrl > 0.05 * len(head)


def _looks_like_prose(text: str) -> bool:
    """Mostly words of letters separated by spaces: a guard against decoding garbage 'successfully'."""
    if not text.strip():
        return False
    printable = sum(1 for c in text if c.isprintable() or c in "\n\r\t")
    spaces = sum(1 for c in text if c.isspace())
    tokens = text.split()
    wordy = sum(1 for t in tokens if sum(c.isalpha() for c in t) >= 0.6 * len(t))
    return printable >= 0.98 * len(text) and spaces >= 0.05 * len(text) and wordy >= 0.7 * len(tokens)


def _decode_text(data: bytes, path: Path) -> str:
    """UTF-8 (BOM ok) or UTF-16 with BOM; otherwise a legacy encoding only when the result is clearly prose."""
    for bom, enc in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(enc)
            except UnicodeDecodeError as e:
                detail = f"not valid {enc} despite its byte-order mark ({e.reason} at byte {e.start})"
                raise LoadError(with_detail("the text is not in the encoding it claims; save it as UTF-8", detail)) from e
    if _looks_binary(data):
        raise LoadError("binary file, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        utf8_error = e
    # cp1252 first: charset_normalizer mislabels short Western-European prose (e.g. as cp1257).
    # Guard: text in another 8-bit code page (cp1251 Cyrillic) decodes to almost only accented letters.
    try:
        text = data.decode("cp1252")
        letters = [c for c in text if c.isalpha()]
        accented = sum(1 for c in letters if ord(c) > 127)
        if _looks_like_prose(text) and accented <= 0.3 * max(1, len(letters)):
            log.warning("%s is not UTF-8; assuming cp1252 (Windows Latin-1)", path)
            return text
    except UnicodeDecodeError:
        pass
    try:
        import charset_normalizer

        best = charset_normalizer.from_bytes(data).best()
    except Exception:  # noqa: BLE001 - detection is best effort
        best = None
    if best is not None and best.encoding and best.chaos <= 0.1:
        text = str(best)
        if _looks_like_prose(text):
            log.warning("%s is not UTF-8; assuming %s (detected)", path, best.encoding)
            return text
    raise LoadError(with_detail("the text's character encoding could not be recognised; save it as UTF-8",
                                f"not UTF-8 text and no confident legacy encoding ({utf8_error.reason} at byte "
                                f"{utf8_error.start})"))


# ---------------------------------------------------------------- per-format loaders


def _fill_from_text(fields: dict[str, Any], text: str, title: str, given: set[str] | frozenset[str] = frozenset()
                    ) -> dict[str, Any]:
    """Outlet, published and author the file left empty, from the article's own dateline or byline.

    `given`: fields the front matter names, even as "" (an editor's "no author" stands). What was filled is listed
    in meta["read_from_text"], so it can be shown as read from the text, not given.
    """
    empty = [f for f in ("outlet", "published", "author") if not fields.get(f) and f not in given]
    if not empty:
        return fields
    found = read_text_meta(text, title)
    filled = [f for f in empty if f in found.found]
    for f in filled:
        fields[f] = getattr(found, f)
    if filled:
        fields.setdefault("meta", {})["read_from_text"] = filled
    return fields


def _load_txt(data: bytes, path: Path) -> dict[str, Any]:
    raw = _decode_text(data, path)
    res = clean_article(raw)
    meta: dict[str, Any] = {}
    if res.dek:
        meta["dek"] = res.dek
    if res.syndicated_from:
        meta["syndicated_from"] = res.syndicated_from
    if res.contributors:
        meta["contributors"] = res.contributors
    if res.removed:
        meta["removed"] = [reason for reason, _ in res.removed]
    # the raw text, not the cleaned body: cleaning re-flows the dateline and byline lines into a dek
    return _fill_from_text({"text": res.text, "title": res.title, "meta": meta}, raw, res.title)


_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)(?:\r?\n)?^(?:---|\.\.\.)[ \t]*$\r?\n?", re.S | re.M)


def _load_md(data: bytes, path: Path) -> dict[str, Any]:
    """Front matter -> metadata; the body is kept exactly (it is what citation offsets index into)."""
    text = _decode_text(data, path)
    fields: dict[str, Any] = {}
    if re.match(r"\A---[ \t]*\r?\n", text):
        m = _FRONT.match(text)
        if not m:
            raise LoadError(with_detail("the header block at the top (between '---' lines) is not closed",
                                        "malformed front matter: no closing '---' line"))
        try:
            loaded = yaml.safe_load(m.group(1)) if m.group(1).strip() else {}
        except yaml.YAMLError as e:
            raise LoadError(with_detail("the header block at the top (between '---' lines) is not valid",
                                        "malformed front matter: " + " ".join(str(e).split()))) from e
        if not isinstance(loaded, dict):
            raise LoadError(with_detail("the header block at the top (between '---' lines) is not 'key: value' lines",
                                        f"malformed front matter: got a {type(loaded).__name__}"))
        fields = {str(k): v for k, v in loaded.items()}
        text = text[m.end():]
    body = text.strip()
    given = {k for k in ("outlet", "published", "author") if k in fields}
    title = _as_str(fields.pop("title", ""))
    if not title:
        h = re.search(r"^#\s+(.+?)\s*#*\s*$", body, re.M)
        title = h.group(1) if h else ""
    out: dict[str, Any] = {"text": body, "title": title}
    out["outlet"] = _as_str(fields.pop("outlet", ""))
    out["author"] = _as_str(fields.pop("author", ""))
    out["published"] = _as_date(fields.pop("published", ""))
    out["published_approx"] = bool(fields.pop("published_approx", False))
    out["meta"] = {k: (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v) for k, v in fields.items()}
    return _fill_from_text(out, body, title, given)


def _as_str(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v)
    return str(v).strip()


def _as_date(v: Any) -> str:
    if isinstance(v, dt.datetime):
        return v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    s = _as_str(v)
    m = re.match(r"\d{4}-\d{2}-\d{2}", s)
    return m.group(0) if m else s


def _load_html(data: bytes, path: Path) -> dict[str, Any]:
    """trafilatura for the main text and metadata; a streaming html.parser pass when it finds nothing or is missing."""
    if _looks_binary(data):
        raise LoadError("binary file, not text")
    text, title, author, published = "", "", "", ""
    trafilatura = trafilatura_module()
    if trafilatura is not None:
        try:
            extracted = trafilatura.extract(data, favor_precision=True, include_comments=False)
            if extracted:
                text = "\n\n".join(ln.strip() for ln in extracted.splitlines() if ln.strip())
            md = trafilatura.extract_metadata(data)
            if md is not None:
                title, author, published = md.title or "", md.author or "", md.date or ""
        except RecursionError:
            log.warning("%s: HTML too deeply nested for trafilatura; using plain text extraction", path)
            text = ""
        except Exception as e:  # noqa: BLE001 - a parser bug must not stop ingest; fall back
            log.warning("%s: trafilatura failed (%s); using plain text extraction", path, e)
            text = ""
    if not text:
        text, soup_title = html_fallback(data)
        title = title or soup_title
    return {"text": text, "title": title, "author": author, "published": _as_date(published)}


def _load_pdf(data: bytes, path: Path) -> dict[str, Any]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")  # many PDFs are "encrypted" with an empty user password
            except Exception as e:  # noqa: BLE001 - e.g. AES without the cryptography package
                raise LoadError(with_detail("the PDF is encrypted and could not be opened; save an unlocked copy",
                                                f"encrypted PDF: cannot decrypt ({e})")) from e
            if not ok:
                raise LoadError("the PDF needs a password (encrypted PDF); save an unlocked copy and add that")
        pages = [(p.extract_text() or "") for p in reader.pages]
        info = reader.metadata
        title = _as_str(info.title) if info and info.title else ""
        author = _as_str(info.author) if info and info.author else ""
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError, OSError) as e:
        raise LoadError(with_detail(DAMAGED_PDF, f"corrupt PDF: {' '.join(str(e).split()) or type(e).__name__}")) from e
    except Exception as e:  # noqa: BLE001 - pypdf raises many types on broken files
        raise LoadError(with_detail(DAMAGED_PDF, f"corrupt PDF: {type(e).__name__}: {' '.join(str(e).split())}")) from e
    text = "\n\n".join(p for p in pages if p.strip())
    if not text.strip():
        raise LoadError("the PDF has no text to read (a scanned image? it needs text recognition first)")
    return {"text": rejoin_wrapped_lines(text), "title": title, "author": author}


_LOADERS = {".txt": _load_txt, ".md": _load_md, ".markdown": _load_md,
            ".html": _load_html, ".htm": _load_html, ".pdf": _load_pdf}


def load_file(path: Path, doc_id: str | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """Load one file as a Document; `LoadError` carries the one-line reason when it can't."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _LOADERS:
        raise LoadError(_unsupported(suffix))
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise LoadError(f"too large ({size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB, "
                            "set RAG_MAX_FILE_MB to raise it)")
        data = path.read_bytes()
    except OSError as e:
        raise LoadError(with_detail("the file could not be read", f"cannot read file: {e.strerror or e}")) from e
    if not data.strip():
        raise LoadError("empty file")
    fields = _LOADERS[suffix](data, path)
    text = fields.pop("text", "")
    if not text.strip():
        raise LoadError("empty file")
    fields["title"] = fields.get("title") or _readable_stem(path)
    return Document(doc=doc_id or path.name, text=text, **fields)


# ---------------------------------------------------------------- folders


def _walk(root: Path, skipped: list[Skipped]) -> list[tuple[Path, str]]:
    """Files under root (sorted, deterministic) with their posix ids relative to root."""
    found: list[tuple[Path, str]] = []
    visited: set[str] = set()

    def visit(d: Path, rel: str, ancestors: tuple[str, ...]) -> None:
        real = os.path.realpath(d)
        if real in ancestors:
            skipped.append(Skipped(str(d), "symlink loop"))
            return
        if real in visited:
            skipped.append(Skipped(str(d), "directory already walked (symlink to it)"))
            return
        visited.add(real)
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as e:
            skipped.append(Skipped(str(d), f"cannot read directory: {e.strerror or e}"))
            return
        for e in entries:
            if e.name.startswith("."):
                continue
            p = Path(e.path)
            rid = f"{rel}/{e.name}" if rel else e.name
            try:
                is_dir = e.is_dir()  # follows symlinks
            except OSError:
                is_dir = False
            if is_dir:
                if not rel and e.name == "index":
                    continue  # the search index lives here, not documents
                visit(p, rid, ancestors + (real,))
            elif e.is_file():
                if p.suffix.lower() in SUPPORTED_SUFFIXES:
                    found.append((p, rid))
                else:
                    skipped.append(Skipped(str(p), _unsupported(p.suffix.lower())))
            elif e.is_symlink():
                skipped.append(Skipped(str(p), "broken symlink"))
            else:
                skipped.append(Skipped(str(p), "not a regular file"))

    visit(root, "", ())
    return found


def raw_text_hash(text: str) -> str:
    """What two files must share to be duplicates within one load: the text exactly as loaded."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def find_files(paths: Sequence[Path], skipped: list[Skipped]) -> list[tuple[Path, str]]:
    """(file, document id) for every file under `paths`, in load order; what is not a file goes to `skipped`."""
    candidates: list[tuple[Path, str]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            candidates.extend(_walk(p, skipped))
        elif p.is_file():
            candidates.append((p, p.name))
        elif p.is_symlink():
            skipped.append(Skipped(str(p), "broken symlink"))
        else:
            skipped.append(Skipped(str(p), "not found"))
    return candidates


def try_load(p: Path, doc_id: str, max_bytes: int, skipped: list[Skipped]) -> Document | None:
    """`load_file`, with a failure recorded in `skipped` instead of raised."""
    try:
        return load_file(p, doc_id, max_bytes=max_bytes)
    except LoadError as e:
        skipped.append(Skipped(str(p), str(e)))
    except Exception as e:  # noqa: BLE001 - one broken file must not stop the rest
        log.exception("unexpected error loading %s", p)
        skipped.append(Skipped(str(p), f"unexpected error: {type(e).__name__}: {e}"))
    return None


def load_paths(
    paths: Sequence[Path], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[list[Document], list[Skipped]]:
    """Load files and folders; bad, duplicate and unsupported files come back as `Skipped`, never raise."""
    skipped: list[Skipped] = []
    candidates = find_files(paths, skipped)
    docs: list[Document] = []
    by_hash: dict[str, str] = {}
    by_id: dict[str, str] = {}
    for p, doc_id in candidates:
        if doc_id in by_id:
            skipped.append(Skipped(str(p), f"document id '{doc_id}' already used by {by_id[doc_id]}"))
            continue
        doc = try_load(p, doc_id, max_bytes, skipped)
        if doc is None:
            continue
        digest = raw_text_hash(doc.text)
        if digest in by_hash:
            skipped.append(Skipped(str(p), f"duplicate of {by_hash[digest]}"))
            continue
        by_hash[digest] = doc_id
        by_id[doc_id] = str(p)
        # the absolute path lets ingest give one id per file and notice files that were deleted
        docs.append(replace(doc, meta={**doc.meta, "path": str(Path(os.path.abspath(p)))}))
    for s in skipped:
        log.info("skipped %s: %s", s.path, s.reason)
    return docs, skipped
