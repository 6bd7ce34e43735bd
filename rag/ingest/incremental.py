"""Incremental ingest: load files, re-embed only new or changed documents, save a new index version.

A re-ingest does not read files that have not changed: the manifest records each file's size, mtime and
ctime, and a file whose stat matches (and whose loader code is the same) is taken as unchanged without
being opened. Everything else is read and compared by content hash, as before, so a touched but unchanged
file costs a read, never an embedding. When nothing changed, only the manifest is read (not the chunks,
vectors or FAISS index): a no-change re-ingest of 10k documents takes a fraction of a second.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import DocumentNotFoundError, IndexCorruptError, IndexMismatchError
from rag.index.embed import Embedder
from rag.index.store import Change, Store, check_compatible
from rag.ingest.loaders import DEFAULT_MAX_BYTES, raw_text_hash
from rag.ingest.scan import loader_signature, scan_paths
from rag.ingest.segment import SEGMENTER_NAME, chunk_document
from rag.ingest.syndication import signature, syndicated
from rag.ingest.trash import trash_sources, under
from rag.schema import Chunk, Document, IngestReport

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]


def chunker_settings(chunk_words: int, overlap: int) -> dict:
    return {"segmenter": SEGMENTER_NAME, "chunk_words": chunk_words, "overlap": overlap}


def content_hash(d: Document) -> str:
    meta = json.dumps(d.metadata(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256((meta + "\x00" + d.text).encode("utf-8")).hexdigest()


def text_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


class _Rebuild(Exception):
    """The manifest looked fine but the index data could not be loaded: start again from scratch."""


def ingest(
    paths: Sequence[Path],
    store: Store,
    embedder: Embedder,
    *,
    chunk_words: int = 150,
    overlap: int = 1,
    base: Path | None = None,
    rebuild: bool = False,
    progress: Progress | None = None,
    lock_wait_s: float = 0.0,
    max_file_bytes: int | None = None,
) -> IngestReport:
    """Make the index mirror `paths`: documents that vanished from these paths are removed."""
    t0 = time.perf_counter()
    kw = dict(chunk_words=chunk_words, overlap=overlap, base=base, progress=progress,
              max_bytes=DEFAULT_MAX_BYTES if max_file_bytes is None else max_file_bytes)
    with store.lock(wait_s=lock_wait_s):
        try:
            report = _ingest_locked(paths, store, embedder, rebuild=rebuild, **kw)
        except _Rebuild as e:
            log.warning("%s Rebuilding from scratch.", e)
            report = _ingest_locked(paths, store, embedder, rebuild=True, **kw)
            report.notes.append(f"{e} Rebuilt from scratch.")
    report.seconds = time.perf_counter() - t0
    if report.added or report.updated or report.removed:
        log.info("ingest: %s", report.summary())
    return report


def _previous_manifest(store: Store, embed_name: str, chunker: dict,
                       report: IngestReport) -> dict[str, Any] | None:
    """The live version's manifest when the index can be updated in place; None means build from scratch."""
    if not store.exists():
        return None
    try:
        manifest = store.read_manifest()
        if manifest.get("format") != store.FORMAT:
            raise IndexMismatchError(
                f"The index at {store.root} has format {manifest.get('format')!r}, this version reads "
                f"{store.FORMAT}. Rebuild it with 'rag ingest --rebuild'."
            )
        check_compatible(manifest, {"embed_model": embed_name, "chunker": chunker}, store.root)
        store.verify(manifest)
        return manifest
    except (IndexMismatchError, IndexCorruptError) as e:
        log.warning("%s Rebuilding from scratch.", e)
        report.notes.append(f"{e} Rebuilt from scratch.")
        return None


def _ingest_locked(paths: Sequence[Path], store: Store, embedder: Embedder, *, rebuild: bool,
                   chunk_words: int, overlap: int, base: Path | None, progress: Progress | None,
                   max_bytes: int) -> IngestReport:
    report = IngestReport()
    chunker = chunker_settings(chunk_words, overlap)
    roots = [Path(p).resolve() for p in paths]
    scan_ns = time.time_ns()
    manifest = None if rebuild else _previous_manifest(store, embedder.name, chunker, report)
    old_info: dict[str, dict] = {} if manifest is None else manifest.get("documents", {})
    trust_stats = manifest is not None and manifest.get("loader") == loader_signature()
    found, skipped = scan_paths(paths, old_info, base, max_bytes, trust_stats, scan_ns)
    report.skipped.extend((s.path, s.reason) for s in skipped)

    unchanged: list[str] = []  # ids whose stored document and chunks are kept as they are
    to_embed: list[Document] = []
    file_info: dict[str, dict] = {}  # doc id -> stat and raw hash of its file, as scanned now
    seen_text: dict[str, list[str]] = {}  # text hash -> the ids with that text (indexed, or admitted in this run)
    for doc_id, info in old_info.items():
        seen_text.setdefault(info.get("text_sha256", ""), []).append(doc_id)
    outlets = _Outlets(store, old_info)
    loaded_ids: set[str] = set()
    for f in found:
        loaded_ids.add(f.doc_id)
        file_info[f.doc_id] = {"stat": f.stat, "raw_sha256": f.raw_sha256}
        if f.doc is not None:  # read: its outlet goes in the manifest too (entries before outlets lack it)
            file_info[f.doc_id]["outlet"] = f.doc.outlet
        prev = old_info.get(f.doc_id)
        if f.doc is None:  # unchanged by its stat
            unchanged.append(f.doc_id)
            report.unchanged.append(f.doc_id)
            continue
        d = replace(f.doc, doc=f.doc_id)
        if prev and prev.get("sha256") == content_hash(d):
            unchanged.append(f.doc_id)
            report.unchanged.append(f.doc_id)
            continue
        th = text_hash(d.text)
        copies = [o for o in seen_text.get(th, []) if o != f.doc_id]
        other = _duplicate_of(d.outlet, copies, outlets)
        if other:
            report.duplicates.append((f.doc_id, other))
            report.skipped.append((d.meta.get("path", f.doc_id), f"duplicate of {other}"))
            continue
        if f.doc_id not in seen_text.get(th, []):
            seen_text.setdefault(th, []).append(f.doc_id)
        outlets.known[f.doc_id] = d.outlet
        (report.updated if prev else report.added).append(f.doc_id)
        to_embed.append(d)

    # documents of the old index: drop those that vanished from the scanned paths, keep the rest
    outside: list[str] = []  # kept because they live elsewhere (e.g. uploads when only data/ was scanned)
    unchanged_set = set(unchanged)
    for doc_id, info in old_info.items():
        if doc_id in unchanged_set or doc_id in loaded_ids:
            continue
        src = info.get("path", "")
        if src and under(src, roots):
            report.removed.append(doc_id)
        else:
            outside.append(doc_id)

    if manifest is not None and not (report.added or report.updated or report.removed):
        report.documents = len(old_info)
        report.chunks = sum(int(info.get("chunks", 0)) for info in old_info.values())
        _refresh_file_info(store, manifest, file_info)
        return report

    base = None
    if manifest is not None:
        try:
            base = store.open_base(expect={"embed_model": embedder.name, "chunker": chunker})
        except (IndexMismatchError, IndexCorruptError) as e:
            raise _Rebuild(str(e)) from e

    keep = [d for d in list(unchanged) + outside if d in old_info]
    # the MinHash of each new or changed text, kept with the document: opening the index groups syndicated
    # copies (rag.ingest.syndication) without rehashing every text. Not part of `content_hash` (meta is not).
    to_embed = [replace(d, meta={**d.meta, "minhash": signature(d.text)}) for d in to_embed]
    new_chunks: list[Chunk] = []
    for d in to_embed:
        new_chunks.extend(chunk_document(d.doc, d.text, chunk_words, overlap))
    new_vectors = _embed_chunks(embedder, new_chunks, progress)
    report.embedded = len(new_chunks)

    dim = new_vectors.shape[1] if len(new_chunks) else int((manifest or {}).get("dim") or embedder.dim)
    entries = {d: {**old_info[d], "stat": (file_info.get(d) or old_info[d]).get("stat"),
                   **({"outlet": file_info[d]["outlet"]} if "outlet" in file_info.get(d, {}) else {})}
               for d in keep}
    counts = _chunk_counts(new_chunks)
    entries.update({d.doc: _entry(d, counts.get(d.doc, 0), (file_info.get(d.doc) or {}).get("stat"))
                    for d in to_embed})
    new_manifest = _manifest(store, entries, embed_name=embedder.name, dim=dim, chunker=chunker,
                             loader=loader_signature())
    store.commit(Change(new_manifest, keep, {d.doc: d for d in to_embed}, new_chunks,
                        new_vectors if len(new_chunks) else np.zeros((0, dim), np.float32)), base)
    report.documents = len(entries)
    report.chunks = sum(int(e.get("chunks", 0)) for e in entries.values())
    return report


class _Outlets:
    """Each document's outlet, for telling a syndicated copy from a duplicate: those read in this run, then the
    manifest's (an entry written before the manifest recorded outlets: read from the index, once, and only when
    such a document has the same text as a new one)."""

    def __init__(self, store: Store, old_info: dict[str, dict]) -> None:
        self.store = store
        self.old_info = old_info
        self.known: dict[str, str] = {}
        self._indexed: dict[str, str] | None = None

    def get(self, doc_id: str) -> str:
        if doc_id in self.known:
            return self.known[doc_id]
        recorded = self.old_info.get(doc_id, {}).get("outlet")
        if isinstance(recorded, str):
            return recorded
        if self._indexed is None:
            try:
                self._indexed = {d.doc: d.outlet for d in self.store.load().documents.values()}
            except Exception as e:  # noqa: BLE001 - unreadable: taken as no outlet, i.e. a duplicate as before
                log.debug("outlets of the indexed documents not read: %s", e)
                self._indexed = {}
        return self._indexed.get(doc_id, "")


def _duplicate_of(outlet: str, copies: list[str], outlets: _Outlets) -> str | None:
    """The indexed document whose text makes this one a duplicate, or None: the same text from another outlet
    is a syndicated copy (`rag.ingest.syndication.syndicated`), indexed and grouped with the others."""
    return next((other for other in copies if not syndicated(outlet, outlets.get(other))), None)


def _chunk_counts(chunks: list[Chunk]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in chunks:
        counts[c.doc] = counts.get(c.doc, 0) + 1
    return counts


def _entry(d: Document, chunks: int, stat: dict | None) -> dict[str, Any]:
    """What the manifest records of one document: enough to tell, without reading it, whether it changed."""
    return {"sha256": content_hash(d), "text_sha256": text_hash(d.text), "chunks": chunks,
            "path": d.meta.get("path", ""), "stat": stat, "raw_sha256": raw_text_hash(d.text), "outlet": d.outlet}


def _manifest(store: Store, entries: dict[str, dict], *, embed_name: str, dim: int, chunker: dict,
              loader: str | None) -> dict:
    """The manifest of a new version: the settings it was built with (checked on load) and each document's
    entry, which lets the next ingest skip unchanged files (a stat is trusted only while `loader` is the same)."""
    return {"format": store.FORMAT, "embed_model": embed_name, "dim": int(dim), "chunker": chunker,
            "loader": loader, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "documents": entries}


def remove_documents(store: Store, embedder: Embedder, doc_ids: Sequence[str], *, lock_wait_s: float = 0.0,
                     trash_dir: Path, trash_roots: Sequence[Path]) -> IngestReport:
    """Drop `doc_ids` from the index in one new version, so a search sees all of them or none of them.

    Nothing changes when an id is unknown (DocumentNotFoundError). Each removed document's file that lives
    under one of `trash_roots` (the folders `ingest` walks) moves to `trash_dir`, a hidden folder the walk
    skips, so that the next ingest does not add it back; files elsewhere stay where they are."""
    t0 = time.perf_counter()
    wanted = list(dict.fromkeys(doc_ids))
    report = IngestReport()
    with store.lock(wait_s=lock_wait_s):
        manifest = store.read_manifest()
        check_compatible(manifest, {"embed_model": embedder.name}, store.root)
        info: dict[str, dict] = manifest.get("documents", {})
        _check_known(wanted, info)
        gone = set(wanted)
        entries = {d: e for d, e in info.items() if d not in gone}
        if wanted:
            base = store.open_base(expect={"embed_model": embedder.name})
            new = _manifest(store, entries, embed_name=manifest["embed_model"],
                            dim=int(manifest.get("dim") or embedder.dim), chunker=manifest.get("chunker", {}),
                            loader=manifest.get("loader"))
            store.commit(Change(new, list(entries), {}, [], np.zeros((0, new["dim"]), np.float32)), base)
        # after the switch: a failed move leaves a file that the next ingest adds back, never a half index
        report.notes.extend(trash_sources({d: info.get(d, {}).get("path", "") for d in wanted}, trash_dir,
                                           trash_roots))
    report.removed = wanted
    report.documents = len(entries)
    report.chunks = sum(int(e.get("chunks", 0)) for e in entries.values())
    report.seconds = time.perf_counter() - t0
    if wanted:
        log.info("remove: %s", report.summary())
    return report


def _check_known(doc_ids: Sequence[str], documents: dict[str, dict]) -> None:
    missing = [d for d in doc_ids if d not in documents]
    if missing:
        names = ", ".join(repr(d) for d in missing)
        raise DocumentNotFoundError(
            f"No document {names} in the index; nothing was removed. A document's id is its file's path "
            "relative to the data folder (e.g. 'uploads/article.md'), as 'rag search' shows it."
        )


def _refresh_file_info(store: Store, manifest: dict[str, Any], file_info: dict[str, dict]) -> None:
    """Nothing to re-embed, but files were touched (or stats were missing or racy): record the new stats
    in a new version of the manifest so that the next ingest need not read these files again."""
    documents = manifest.get("documents", {})
    changed = {}
    for doc_id, scanned in file_info.items():
        info = documents.get(doc_id)
        if info is None:
            continue
        if (info.get("stat") != scanned["stat"] or info.get("raw_sha256") != scanned["raw_sha256"]
                or ("outlet" in scanned and info.get("outlet") != scanned["outlet"])):
            changed[doc_id] = {**info, **scanned}
    if not changed and manifest.get("loader") == loader_signature():
        return
    if not changed and not any(s["stat"] for s in file_info.values()):
        return  # nothing would become trusted: not worth a new version
    new = {**manifest, "loader": loader_signature(), "documents": {**documents, **changed}}
    store.save_manifest(new)
    log.info("ingest: refreshed the stats of %d files", len(changed))


def _embed_chunks(embedder: Embedder, chunks: list[Chunk], progress: Progress | None) -> np.ndarray:
    if not chunks:
        return np.zeros((0, 0), np.float32)
    done = 0
    total = len(chunks)

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, total, "embedding")

    if progress:
        progress(0, total, "embedding")
    return embedder.embed([c.text for c in chunks], progress=tick)
