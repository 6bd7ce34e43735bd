"""Finding what changed: walk the paths as `load_paths` does, but take a file whose size, mtime and ctime match the
manifest (and whose loader code is the same) as unchanged without opening it; read everything else."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from rag.ingest.loaders import Skipped, find_files, raw_text_hash, try_load
from rag.ingest.syndication import syndicated
from rag.schema import Document

log = logging.getLogger(__name__)


# A file whose mtime or ctime is this close to the moment it was scanned may still change within the same
# timestamp tick without its stat changing ("racily clean", as git calls it): its stat is not trusted, so
# the next ingest reads it. Coarse file systems (FAT: 2 s mtimes) are covered too.
RACY_NS = 2_000_000_000


_LOADER_SIGNATURE: str | None = None


def loader_signature() -> str:
    """Identifies the code that turns files into documents: when it changes, no file's stat is trusted."""
    global _LOADER_SIGNATURE
    if _LOADER_SIGNATURE is None:
        import rag.ingest.clean
        import rag.ingest.html_text
        import rag.ingest.loaders

        h = hashlib.sha256()
        for mod in (rag.ingest.loaders, rag.ingest.html_text, rag.ingest.clean):
            try:
                h.update(Path(mod.__file__).read_bytes())
            except (OSError, TypeError):
                h.update(b"?")
        _LOADER_SIGNATURE = h.hexdigest()[:24]
    return _LOADER_SIGNATURE


def _doc_id_for(src: str, fallback: str, base_resolved: Path | None) -> str:
    """Ids are paths relative to the data folder when a file lives there, so uploads keep one id."""
    if base_resolved is not None and src:
        try:
            return Path(src).resolve().relative_to(base_resolved).as_posix()
        except ValueError:
            pass
    return fallback


def _stat_signature(st: os.stat_result, scan_ns: int) -> dict[str, int] | None:
    """size, mtime and ctime; None for a file changed too recently for its stat to be trusted."""
    if max(st.st_mtime_ns, st.st_ctime_ns) > scan_ns - RACY_NS:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns}


@dataclass
class Found:
    """One file of the scanned paths that yields a document."""

    doc_id: str
    path: str  # absolute path, as load_paths records it in meta["path"]
    stat: dict[str, int] | None
    raw_sha256: str
    doc: Document | None  # None: unchanged according to its stat, not read


def scan_paths(paths: Sequence[Path], old_docs: dict[str, dict], base: Path | None, max_bytes: int,
               trust_stats: bool, scan_ns: int) -> tuple[list[Found], list[Skipped]]:
    """What `load_paths` returns (same walk, order, ids, duplicate and skip rules), except that files whose
    stat matches the manifest are not read, and that the same text from another outlet is not a duplicate (a
    syndicated copy)."""
    skipped: list[Skipped] = []
    candidates = find_files(paths, skipped)
    ids = _IdMaker(base)
    by_path = {info.get("path", ""): doc_id for doc_id, info in old_docs.items()} if trust_stats else {}
    found: list[Found] = []
    by_hash: dict[str, list[tuple[str, str]]] = {}  # raw text hash -> (id, outlet) of each file kept with it
    by_id: dict[str, str] = {}
    for p, rid in candidates:
        if rid in by_id:
            skipped.append(Skipped(str(p), f"document id '{rid}' already used by {by_id[rid]}"))
            continue
        abspath = os.path.abspath(p)  # normalised: the same string as str(Path(os.path.abspath(p)))
        doc_id, st = ids.make(abspath, rid)
        sig = _stat_signature(st, scan_ns) if st is not None else None
        old_id = by_path.get(abspath)
        info = old_docs.get(old_id) if old_id is not None else None
        if (info is not None and old_id == doc_id and sig is not None and info.get("stat") == sig
                and sig["size"] <= max_bytes and info.get("raw_sha256")):
            digest = info["raw_sha256"]
            outlet = info.get("outlet")  # None: a manifest from before outlets were recorded
            copy = _copy_of(by_hash.get(digest, ()), outlet if isinstance(outlet, str) else "")
            if copy:
                skipped.append(Skipped(str(p), f"duplicate of {copy}"))
                continue
            by_hash.setdefault(digest, []).append((rid, outlet if isinstance(outlet, str) else ""))
            by_id[rid] = str(p)
            found.append(Found(doc_id, abspath, sig, digest, None))
            continue
        doc = try_load(p, rid, max_bytes, skipped)
        if doc is None:
            continue
        digest = raw_text_hash(doc.text)
        copy = _copy_of(by_hash.get(digest, ()), doc.outlet)
        if copy:
            skipped.append(Skipped(str(p), f"duplicate of {copy}"))
            continue
        by_hash.setdefault(digest, []).append((rid, doc.outlet))
        by_id[rid] = str(p)
        found.append(Found(doc_id, abspath, sig, digest, replace(doc, meta={**doc.meta, "path": abspath})))
    for s in skipped:
        log.info("skipped %s: %s", s.path, s.reason)
    return found, skipped


def _copy_of(kept: Sequence[tuple[str, str]], outlet: str) -> str | None:
    """The kept file whose text makes this one a duplicate, or None: the same text from another outlet is a
    syndicated copy (`rag.ingest.syndication.syndicated`), kept and grouped with the others."""
    return next((rid for rid, theirs in kept if not syndicated(outlet, theirs)), None)


class _IdMaker:
    """`_doc_id_for` and a stat for many files, with one system call per file: realpath resolves each
    directory once, and only symlinked files are resolved on their own."""

    def __init__(self, base: Path | None) -> None:
        self.base = str(base.resolve()) if base is not None else None
        self.prefix = None if self.base is None else (self.base if self.base.endswith(os.sep) else self.base + os.sep)
        self.dirs: dict[str, str] = {}

    def make(self, abspath: str, fallback: str) -> tuple[str, os.stat_result | None]:
        try:
            st = os.lstat(abspath)
        except OSError:
            return _doc_id_for(abspath, fallback, Path(self.base) if self.base else None), None
        if stat.S_ISLNK(st.st_mode):
            real = os.path.realpath(abspath)
            st = _safe_stat(abspath)
        else:
            head, tail = os.path.split(abspath)
            real_dir = self.dirs.get(head)
            if real_dir is None:
                real_dir = self.dirs[head] = os.path.realpath(head)
            real = os.path.join(real_dir, tail)
        if self.prefix is not None and real.startswith(self.prefix):
            return real[len(self.prefix):].replace(os.sep, "/"), st
        return fallback, st


def _safe_stat(path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (OSError, ValueError):
        return None
