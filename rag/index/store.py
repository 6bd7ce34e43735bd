"""The on-disk index: FAISS vectors, chunks, documents and a manifest, saved atomically as one version.

Layout of the index folder:
    CURRENT            name of the live version folder (replaced atomically)
    v-<stamp>/         manifest.json, documents.jsonl, chunks.jsonl, vectors.npy, faiss.index
    .lock              held by a running ingest

A save writes a new version folder, fsyncs it, then swaps CURRENT with os.replace. A crash at any point
leaves CURRENT naming a complete version: readers see the old state or the new one, never a mix.
Nothing is pickled: JSON, .npy with allow_pickle=False and FAISS's own format.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.errors import IndexCorruptError, IndexLockedError, IndexMismatchError, IndexMissingError
from rag.index.faiss_index import apply_search_params, build_faiss, describe_faiss
from rag.schema import Chunk, Document

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
VERSION_FILES = ("documents.jsonl", "chunks.jsonl", "vectors.npy", "faiss.index")
REBUILD_HINT = "Rebuild it with 'rag ingest --rebuild'."


@dataclass
class IndexData:
    """Everything in one index version, held in memory."""

    manifest: dict[str, Any]
    documents: dict[str, Document]
    chunks: list[Chunk]
    vectors: np.ndarray  # (len(chunks), dim) float32
    faiss_index: Any = None
    path: Path | None = None
    by_doc: dict[str, list[int]] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)  # each chunk's key in a database store (Milvus), by row

    def __post_init__(self) -> None:
        if not self.by_doc:
            for i, c in enumerate(self.chunks):
                self.by_doc.setdefault(c.doc, []).append(i)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _jsonl(rows) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def doc_to_dict(d: Document) -> dict[str, Any]:
    return {**d.metadata(), "meta": d.meta, "text": d.text}


def doc_from_dict(r: dict[str, Any]) -> Document:
    return Document(
        doc=r["doc"], text=r["text"], title=r.get("title", ""), outlet=r.get("outlet", ""),
        author=r.get("author", ""), published=r.get("published", ""),
        published_approx=bool(r.get("published_approx", False)), meta=r.get("meta") or {},
    )


class IndexStore:
    FORMAT = FORMAT_VERSION

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # ---------- reading ----------
    def exists(self) -> bool:
        return (self.root / "CURRENT").is_file()

    def current_dir(self) -> Path:
        cur = self.root / "CURRENT"
        if not cur.is_file():
            raise IndexMissingError(f"No index at {self.root}. Build it with 'rag ingest'.")
        name = cur.read_text(encoding="utf-8").strip()
        if not name or "/" in name or name.startswith("."):
            raise IndexCorruptError(f"The index pointer {cur} is damaged. {REBUILD_HINT}")
        d = self.root / name
        if not d.is_dir():
            raise IndexCorruptError(f"The index pointer {cur} names a missing folder {d}. {REBUILD_HINT}")
        return d

    def read_manifest(self) -> dict[str, Any]:
        return self._read_json(self.current_dir() / "manifest.json")

    def load(self, expect: dict[str, Any] | None = None) -> IndexData:
        """Load the live version; `expect` (embed_model, dim, chunker) must match the manifest."""
        d = self.current_dir()
        manifest = self._read_json(d / "manifest.json")
        if manifest.get("format") != FORMAT_VERSION:
            raise IndexMismatchError(
                f"The index at {self.root} has format {manifest.get('format')!r}, this version reads "
                f"{FORMAT_VERSION}. {REBUILD_HINT}"
            )
        if expect:
            check_compatible(manifest, expect, self.root)
        check_file_sizes(d, manifest)
        documents = {r["doc"]: doc_from_dict(r) for r in self._read_jsonl(d / "documents.jsonl")}
        chunks = [Chunk.from_dict(r) for r in self._read_jsonl(d / "chunks.jsonl")]
        vec_path = d / "vectors.npy"
        try:
            # memory-mapped: search uses the FAISS index; these rows are only read when an ingest keeps them
            vectors = np.load(vec_path, mmap_mode="r", allow_pickle=False)
        except Exception as e:  # noqa: BLE001 - any damage reads the same to the user
            raise IndexCorruptError(f"The index file {vec_path} is damaged ({e}). {REBUILD_HINT}") from e
        if vectors.shape[0] != len(chunks) or (len(chunks) and vectors.shape[1] != manifest.get("dim")):
            raise IndexCorruptError(
                f"The index file {vec_path} holds {vectors.shape} vectors for {len(chunks)} chunks. {REBUILD_HINT}"
            )
        faiss_path = d / "faiss.index"
        try:
            import faiss

            index = faiss.read_index(str(faiss_path))
        except Exception as e:  # noqa: BLE001
            raise IndexCorruptError(f"The index file {faiss_path} is damaged ({e}). {REBUILD_HINT}") from e
        apply_search_params(index, manifest.get("faiss"))
        if index.ntotal != len(chunks):
            raise IndexCorruptError(f"The index file {faiss_path} holds {index.ntotal} vectors for "
                                    f"{len(chunks)} chunks. {REBUILD_HINT}")
        return IndexData(manifest, documents, chunks, vectors, index, d)

    def _read_json(self, path: Path) -> dict[str, Any]:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise IndexCorruptError(f"The index file {path} is missing. {REBUILD_HINT}") from e
        except (ValueError, UnicodeDecodeError) as e:
            raise IndexCorruptError(f"The index file {path} is damaged ({e}). {REBUILD_HINT}") from e

    def _read_jsonl(self, path: Path) -> list[dict[str, Any]]:
        try:
            with open(path, encoding="utf-8") as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError as e:
            raise IndexCorruptError(f"The index file {path} is missing. {REBUILD_HINT}") from e
        except (ValueError, UnicodeDecodeError, KeyError) as e:
            raise IndexCorruptError(f"The index file {path} is damaged ({e}). {REBUILD_HINT}") from e

    # ---------- writing ----------
    def save(self, data: IndexData) -> Path:
        """Write a new version and switch CURRENT to it atomically; returns the new version folder."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temps()
        tmp = self.root / f".tmp-{uuid.uuid4().hex[:12]}"
        tmp.mkdir()
        try:
            import faiss

            _write(tmp / "documents.jsonl", _jsonl(doc_to_dict(d) for d in data.documents.values()))
            _write(tmp / "chunks.jsonl", _jsonl(c.to_dict() for c in data.chunks))
            with open(tmp / "vectors.npy", "wb") as f:
                np.save(f, np.ascontiguousarray(data.vectors, dtype=np.float32), allow_pickle=False)
                f.flush()
                os.fsync(f.fileno())
            index = data.faiss_index if data.faiss_index is not None else build_faiss(data.vectors)
            faiss.write_index(index, str(tmp / "faiss.index"))
            with open(tmp / "faiss.index", "rb") as f:
                os.fsync(f.fileno())
            # the manifest goes last: a version folder with a manifest is complete
            data.manifest["faiss"] = describe_faiss(index)
            data.manifest["index_type"] = data.manifest["faiss"]["type"]
            data.manifest["files"] = {name: (tmp / name).stat().st_size for name in VERSION_FILES}
            final = self._publish(tmp, data.manifest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._switch(final.name)
        self._remove_old_versions(keep=final.name)
        data.path = final
        data.faiss_index = index
        return final

    def save_manifest(self, manifest: dict[str, Any]) -> Path:
        """A new version with the same data and a new manifest (e.g. refreshed file stats after an ingest
        that found nothing to change). The data files are hard-linked from the live version, not rewritten;
        the switch is atomic exactly like `save`. The caller holds the lock."""
        src = self.current_dir()
        self._remove_stale_temps()
        tmp = self.root / f".tmp-{uuid.uuid4().hex[:12]}"
        tmp.mkdir()
        try:
            for name in VERSION_FILES:
                try:
                    os.link(src / name, tmp / name)
                except OSError:  # a file system without hard links
                    shutil.copy2(src / name, tmp / name)
                    with open(tmp / name, "rb") as f:
                        os.fsync(f.fileno())
            manifest = dict(manifest)
            old_files = self._read_json(src / "manifest.json").get("files")
            if old_files:
                manifest["files"] = old_files
            final = self._publish(tmp, manifest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._switch(final.name)
        self._remove_old_versions(keep=final.name)
        return final

    def _publish(self, tmp: Path, manifest: dict[str, Any]) -> Path:
        """Write the manifest into a filled temporary folder and move it into place as a version folder (not yet
        the live one: that is `_switch`). Nothing before the manifest counts: a folder with one is complete."""
        _write(tmp / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False).encode())
        _fsync_dir(tmp)
        final = self.root / f"v-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        os.rename(tmp, final)
        _fsync_dir(self.root)
        return final

    def _switch(self, name: str) -> None:
        tmp = self.root / f".CURRENT-{uuid.uuid4().hex[:8]}"
        _write(tmp, name.encode())
        os.replace(tmp, self.root / "CURRENT")
        _fsync_dir(self.root)

    def _remove_stale_temps(self) -> None:
        for p in self.root.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)
        for p in self.root.glob(".CURRENT-*"):
            with contextlib.suppress(OSError):
                p.unlink()

    def _remove_old_versions(self, keep: str) -> None:
        for p in self.root.glob("v-*"):
            if p.name != keep:
                shutil.rmtree(p, ignore_errors=True)

    # ---------- what ingest calls ----------
    def lock(self, wait_s: float = 0.0):
        return writer_lock(self.root, wait_s)

    def verify(self, manifest: dict[str, Any]) -> None:
        """Cheap check that the live version's files are whole, before an ingest trusts its manifest."""
        check_file_sizes(self.current_dir(), manifest)

    def open_base(self, expect: dict[str, Any]) -> IndexData:
        """What `commit` builds on: the live version, whose kept documents' vectors are carried over."""
        return self.load(expect=expect)

    def commit(self, change: Change, base: IndexData | None) -> None:
        """The kept documents of `base` plus the change's new ones, saved as one new version (one switch)."""
        documents, chunks, parts = _kept(base, change.keep) if base is not None else ({}, [], [])
        documents.update(change.documents)
        chunks.extend(change.chunks)
        if change.chunks:
            parts.append(change.vectors)
        dim = int(change.manifest["dim"])
        vectors = np.vstack(parts).astype(np.float32) if parts else np.zeros((0, dim), np.float32)
        self.save(IndexData(change.manifest, documents, chunks, vectors, build_faiss(vectors)))

    def vectors_of(self, doc: str) -> np.ndarray:
        """The stored vectors of one document's chunks, in chunk order."""
        data = self.load()
        return np.asarray(data.vectors[data.by_doc.get(doc, [])])

    def search_engine(self, data: IndexData) -> None:
        """None: the Retriever searches the FAISS index and its own BM25 in memory."""
        return None

    def close(self) -> None:
        """Nothing is held open between calls."""

    def describe(self) -> str:
        return f"FAISS index at {self.root}"


@dataclass
class Change:
    """One ingest's result for a store: the new manifest (all documents), the ids carried over as they are, and
    the new or changed documents with their chunks and vectors. Documents in neither are removed."""

    manifest: dict[str, Any]
    keep: list[str]
    documents: dict[str, Document]
    chunks: list[Chunk]
    vectors: np.ndarray


def _kept(old: IndexData, doc_ids: list[str]) -> tuple[dict[str, Document], list[Chunk], list[np.ndarray]]:
    """The documents, chunks and vector blocks of `doc_ids` in `old`, carried into a new version as they are
    (no re-embedding); ids that `old` does not hold are passed over."""
    documents: dict[str, Document] = {}
    chunks: list[Chunk] = []
    parts: list[np.ndarray] = []
    for doc_id in doc_ids:
        if doc_id not in old.documents:
            continue
        documents[doc_id] = old.documents[doc_id]
        rows = old.by_doc.get(doc_id, [])
        chunks.extend(old.chunks[i] for i in rows)
        if rows:
            parts.append(old.vectors[rows])
    return documents, chunks, parts


@contextlib.contextmanager
def writer_lock(root: Path, wait_s: float = 0.0):
    """One writer at a time (an flock on `root`/.lock). Waits up to `wait_s`, then refuses with who holds it."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / ".lock"
    f = open(path, "a+")
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    f.seek(0)
                    holder = f.read().strip() or "another process"
                    raise IndexLockedError(
                        f"Another ingest is writing the index at {root} ({holder}). "
                        "Wait for it to finish, then try again."
                    ) from None
                time.sleep(0.2)
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        yield
    finally:
        with contextlib.suppress(OSError):
            f.seek(0)
            f.truncate()
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        f.close()


def check_file_sizes(version_dir: Path, manifest: dict[str, Any]) -> None:
    """A truncated or missing data file is found from its size alone (manifests before sizes: no check)."""
    for name, size in (manifest.get("files") or {}).items():
        path = version_dir / name
        try:
            actual = path.stat().st_size
        except OSError as e:
            raise IndexCorruptError(f"The index file {path} is missing. {REBUILD_HINT}") from e
        if actual != size:
            raise IndexCorruptError(
                f"The index file {path} is damaged ({actual} bytes, the manifest says {size}). {REBUILD_HINT}"
            )


def check_compatible(manifest: dict[str, Any], expect: dict[str, Any], root: Path) -> None:
    problems = []
    for key in ("embed_model", "dim", "chunker"):
        if key in expect and manifest.get(key) != expect[key]:
            problems.append(f"{key}: index has {manifest.get(key)!r}, settings want {expect[key]!r}")
    if problems:
        raise IndexMismatchError(
            f"The index at {root} was built with other settings ({'; '.join(problems)}). {REBUILD_HINT}"
        )


class Store(Protocol):
    """Where an index lives: `IndexStore` (FAISS files) or `MilvusStore`; ingest, the pipeline and the tests use
    only these."""

    FORMAT: int
    root: Any  # what messages name: a folder or a URI

    def exists(self) -> bool: ...
    def read_manifest(self) -> dict[str, Any]: ...
    def load(self, expect: dict[str, Any] | None = None) -> IndexData: ...
    def lock(self, wait_s: float = 0.0) -> contextlib.AbstractContextManager: ...
    def verify(self, manifest: dict[str, Any]) -> None: ...
    def open_base(self, expect: dict[str, Any]) -> Any: ...
    def commit(self, change: Change, base: Any) -> None: ...
    def save_manifest(self, manifest: dict[str, Any]) -> Any: ...
    def search_engine(self, data: IndexData) -> Any: ...
    def vectors_of(self, doc: str) -> np.ndarray: ...
    def describe(self) -> str: ...
    def close(self) -> None: ...


def make_store(settings) -> Store:
    """The store the settings name (`RAG_STORE`): FAISS files in the index folder, or Milvus."""
    settings.check_store()
    if settings.store == "milvus":
        from rag.index.milvus_store import MilvusStore

        return MilvusStore(settings.milvus_target, token=settings.milvus_token,
                           collection=settings.milvus_collection, local_dir=settings.index_path)
    return IndexStore(settings.index_path)
