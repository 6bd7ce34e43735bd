"""Incremental ingest: load files, re-embed only new or changed documents, save a new index version."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from rag.embed import Embedder
from rag.errors import IndexCorruptError, IndexMismatchError
from rag.loaders import load_paths
from rag.schema import Chunk, Document, IngestReport
from rag.segment import SEGMENTER_NAME, chunk_document
from rag.store import FORMAT_VERSION, IndexData, IndexStore, build_faiss

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]


def chunker_settings(chunk_words: int, overlap: int) -> dict:
    return {"segmenter": SEGMENTER_NAME, "chunk_words": chunk_words, "overlap": overlap}


def content_hash(d: Document) -> str:
    meta = json.dumps(d.metadata(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256((meta + "\x00" + d.text).encode("utf-8")).hexdigest()


def text_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


def _doc_id(d: Document, base: Path | None) -> str:
    """Ids are paths relative to the data folder when a file lives there, so uploads keep one id."""
    src = d.meta.get("path")
    if base is not None and src:
        try:
            return Path(src).resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            pass
    return d.doc


def _under(path: str, roots: list[Path]) -> bool:
    p = Path(path)
    return any(p == r or r in p.parents for r in roots)


def ingest(
    paths: Sequence[Path],
    store: IndexStore,
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
    report = IngestReport()
    chunker = chunker_settings(chunk_words, overlap)
    roots = [Path(p).resolve() for p in paths]
    with store.lock(wait_s=lock_wait_s):
        limit = {} if max_file_bytes is None else {"max_bytes": max_file_bytes}
        docs, skipped = load_paths([Path(p) for p in paths], **limit)
        report.skipped.extend((s.path, s.reason) for s in skipped)
        old = None if rebuild else _load_previous(store, embedder.name, chunker, report)

        old_hashes = {} if old is None else old.manifest.get("documents", {})
        kept_docs: dict[str, Document] = {}
        kept_rows: dict[str, list[int]] = {}
        to_embed: list[Document] = []
        seen_text: dict[str, str] = {}
        if old is not None:
            for doc_id, info in old_hashes.items():
                seen_text.setdefault(info.get("text_sha256", ""), doc_id)
        loaded_ids: set[str] = set()
        for d in docs:
            doc_id = _doc_id(d, base)
            d = replace(d, doc=doc_id)
            loaded_ids.add(doc_id)
            h = content_hash(d)
            th = text_hash(d.text)
            prev = old_hashes.get(doc_id)
            if prev and prev.get("sha256") == h:
                kept_docs[doc_id] = old.documents[doc_id]
                kept_rows[doc_id] = old.by_doc.get(doc_id, [])
                report.unchanged.append(doc_id)
                continue
            other = seen_text.get(th)
            if other and other != doc_id:
                report.duplicates.append((doc_id, other))
                report.skipped.append((d.meta.get("path", doc_id), f"duplicate of {other}"))
                continue
            seen_text[th] = doc_id
            (report.updated if prev else report.added).append(doc_id)
            to_embed.append(d)

        # documents of the old index: drop those that vanished from the scanned paths, keep the rest
        if old is not None:
            for doc_id, d in old.documents.items():
                if doc_id in kept_docs or doc_id in loaded_ids:
                    continue
                src = d.meta.get("path", "")
                if src and _under(src, roots):
                    report.removed.append(doc_id)
                else:
                    kept_docs[doc_id] = d
                    kept_rows[doc_id] = old.by_doc.get(doc_id, [])

        if old is not None and not (report.added or report.updated or report.removed):
            report.documents = len(old.documents)
            report.chunks = len(old.chunks)
            report.seconds = time.perf_counter() - t0
            return report

        new_chunks: list[Chunk] = []
        for d in to_embed:
            new_chunks.extend(chunk_document(d.doc, d.text, chunk_words, overlap))
        new_vectors = _embed_chunks(embedder, new_chunks, progress)
        report.embedded = len(new_chunks)

        dim = new_vectors.shape[1] if len(new_chunks) else (old.vectors.shape[1] if old is not None and
                                                            len(old.chunks) else embedder.dim)
        chunks: list[Chunk] = []
        parts: list[np.ndarray] = []
        for doc_id, rows in kept_rows.items():
            chunks.extend(old.chunks[i] for i in rows)
            if rows:
                parts.append(old.vectors[rows])
        chunks.extend(new_chunks)
        if new_chunks:
            parts.append(new_vectors)
        vectors = np.vstack(parts).astype(np.float32) if parts else np.zeros((0, dim), np.float32)

        documents = dict(kept_docs)
        documents.update({d.doc: d for d in to_embed})
        counts: dict[str, int] = {}
        for c in chunks:
            counts[c.doc] = counts.get(c.doc, 0) + 1
        manifest = {
            "format": FORMAT_VERSION,
            "embed_model": embedder.name,
            "dim": int(dim),
            "chunker": chunker,
            "index_type": "flat" if len(chunks) <= 200_000 else "hnsw",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "documents": {
                doc_id: {
                    "sha256": content_hash(d),
                    "text_sha256": text_hash(d.text),
                    "chunks": counts.get(doc_id, 0),
                    "path": d.meta.get("path", ""),
                }
                for doc_id, d in documents.items()
            },
        }
        data = IndexData(manifest, documents, chunks, vectors, build_faiss(vectors))
        store.save(data)
        report.documents = len(documents)
        report.chunks = len(chunks)
        report.seconds = time.perf_counter() - t0
        log.info("ingest: %s", report.summary())
        return report


def _load_previous(store: IndexStore, embed_name: str, chunker: dict, report: IngestReport) -> IndexData | None:
    if not store.exists():
        return None
    try:
        return store.load(expect={"embed_model": embed_name, "chunker": chunker})
    except (IndexMismatchError, IndexCorruptError) as e:
        log.warning("%s Rebuilding from scratch.", e)
        report.notes.append(f"{e} Rebuilt from scratch.")
        return None


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
