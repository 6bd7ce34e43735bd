"""The index in Milvus (`RAG_STORE=milvus`): Milvus Lite in a local file, or a Milvus server or cluster by URI.

Three collections per library (prefix `RAG_MILVUS_COLLECTION`):
    <prefix>_chunks  one row per chunk: its dense vector, its BM25 terms (a Milvus BM25 function turns them
                     into a sparse vector) and its provenance (document, offsets, sentence spans)
    <prefix>_docs    each document's text (in parts: a VARCHAR holds at most 65,535 bytes) and metadata
    <prefix>_meta    the manifest (the same JSON the FAISS store keeps), versioned: pieces of a new version are
                     written first, then a pointer row that names them; a reader takes the newest whole one

Search is one `hybrid_search` (dense + BM25, fused by Milvus's RRFRanker); BM25 reads the same terms as the FAISS
store's BM25 (our tokenizer: stemmed, stopwords out), so both stores rank with the same words.

Crash safety, stated plainly: Milvus has no transaction over several writes. An ingest first records the
documents it is about to change as "pending" in the manifest (and drops them from it), then deletes their old
rows, inserts the new ones and writes the final manifest. Killed anywhere in between, the manifest lists the
unchanged documents plus the pending ones: readers load only the documents the manifest lists (pending ones are
missing until the next ingest), and the next ingest deletes whatever rows the pending documents left and adds them
again. A `--rebuild` drops the collections and refills them: until it ends there is no index.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import ConfigError, IndexCorruptError, IndexMismatchError, IndexMissingError, StoreUnavailableError
from rag.index.faiss_index import FLAT_LIMIT, ivf_params
from rag.index.milvus_search import MilvusSearch, bm25_terms
from rag.index.store import REBUILD_HINT, Change, IndexData, check_compatible, doc_from_dict, doc_to_dict, writer_lock
from rag.schema import Chunk, Document
from rag.settings import MILVUS_SERVER_SCHEMES

log = logging.getLogger(__name__)

MILVUS_FORMAT = 1
PART_CHARS = 16_000  # document text per row: 4 bytes a character at most, under the 65,535-byte VARCHAR limit
PIECE_CHARS = 60_000  # manifest JSON per row (ASCII)
BATCH = 2_000  # rows per insert
FILTER_IDS = 500  # keys per delete expression
NO_VECTOR = [0.0, 0.0]  # docs and meta rows: Milvus wants a vector field in every collection


def key(text: str) -> str:
    """A fixed-length, filter-safe key for a document or chunk id (ids are paths: quotes, any length)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _in(field: str, values: list[str]) -> str:
    return f"{field} in [{', '.join(json.dumps(v) for v in values)}]"


class MilvusStore:
    FORMAT = MILVUS_FORMAT

    def __init__(self, uri: str, *, token: str = "", collection: str = "rag_news", local_dir: Path) -> None:
        self.uri = uri
        self.token = token
        self.lite = not uri.startswith(MILVUS_SERVER_SCHEMES)
        self.root = uri  # what messages name
        self.local_dir = Path(local_dir)  # the writer lock and the evidence-sentence cache live here
        self.chunks_name, self.docs_name, self.meta_name = (f"{collection}_{s}" for s in ("chunks", "docs", "meta"))
        self._client = None
        self._loaded: set[str] = set()

    def describe(self) -> str:
        return f"Milvus {'Lite database' if self.lite else 'server'} {self.uri} (collections {self.chunks_name}, ...)"

    # ---------- connection ----------
    @property
    def client(self):
        if self._client is None:
            try:
                from pymilvus import MilvusClient

                if self.lite:
                    import milvus_lite  # noqa: F401 - pymilvus opens .db files through it
            except ImportError as e:
                raise ConfigError("RAG_STORE=milvus needs pymilvus and milvus-lite: run 'make chat' again (it "
                                  "installs them when RAG_STORE=milvus) or 'pip install \"rag-news[milvus]\"'.") from e
            if self.lite:
                Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
                self._check_lite_free()
            logging.getLogger("pymilvus").setLevel(logging.ERROR)  # its iterator warns on every Lite query
            try:
                self._client = MilvusClient(uri=self.uri, token=self.token, timeout=30)
            except Exception as e:  # noqa: BLE001 - any failure to connect reads the same to the user
                raise StoreUnavailableError(self._unavailable(e)) from e
        return self._client

    def _check_lite_free(self) -> None:
        """Milvus Lite lets one process open a database; say who to stop instead of pymilvus's bare failure."""
        lock = Path(self.uri) / "LOCK"
        if not lock.is_file():
            return
        from milvus_lite.server_manager import server_manager_instance

        if os.path.abspath(self.uri) in getattr(server_manager_instance, "_servers", {}):
            return  # this process has it open already
        with open(lock, "a+") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EACCES):
                    raise StoreUnavailableError(
                        f"The Milvus Lite database {self.uri} is open in another process (a running 'rag serve' or "
                        "ingest): Milvus Lite allows one process at a time. Stop it, or add documents from the "
                        "chat's Library tab, or serve the database to several processes with 'milvus-lite server "
                        f"--data-dir {self.uri}' and set RAG_MILVUS_URI=http://127.0.0.1:19530."
                    ) from None
                raise

    def _unavailable(self, e: Exception) -> str:
        if self.lite:
            return f"Cannot open the Milvus Lite database {self.uri} ({e}). {REBUILD_HINT}"
        return (f"Cannot reach the Milvus server at {self.uri} ({e}). Check that it is running and that "
                "RAG_MILVUS_URI and RAG_MILVUS_TOKEN are right.")

    def close(self) -> None:
        """Let go of the database (for Milvus Lite: its file lock, so another process can open it)."""
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None
        self._loaded.clear()
        if self.lite:
            with contextlib.suppress(ImportError):
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_server(self.uri)

    def lock(self, wait_s: float = 0.0):
        """One writer per machine (a file lock beside the Lite database or the index folder). Writers on
        several machines against one cluster must take turns themselves: see the README."""
        return writer_lock(self.local_dir, wait_s)

    # ---------- the manifest ----------
    def exists(self) -> bool:
        try:
            return self.client.has_collection(self.meta_name) and bool(self._pointers())
        except StoreUnavailableError:
            raise
        except Exception as e:  # noqa: BLE001
            raise StoreUnavailableError(self._unavailable(e)) from e

    def _load(self, name: str) -> None:
        """Queries and deletes by expression need the collection loaded: once per connection."""
        if name not in self._loaded:
            self.client.load_collection(name)
            self._loaded.add(name)

    def _query(self, name: str, **kw) -> list[dict]:
        self._load(name)
        return [dict(r) for r in self.client.query(name, **kw)]  # pymilvus decodes rows lazily: decode all now

    def _pointers(self) -> list[dict]:
        rows = self._query(self.meta_name, filter='id like "p:%"', output_fields=["id", "body"], limit=1000)
        return sorted(rows, key=lambda r: r["id"], reverse=True)

    def read_manifest(self) -> dict[str, Any]:
        if not self.client.has_collection(self.meta_name):
            raise IndexMissingError(f"No index in {self.describe()}. Build it with 'rag ingest'.")
        for pointer in self._pointers():  # newest first; a version whose pieces are not all there is skipped
            p = json.loads(pointer["body"])
            rows = self._query(self.meta_name, filter=f'id like "m:{p["version"]}:%"',
                                     output_fields=["id", "body"], limit=max(1, p["parts"]))
            body = "".join(r["body"] for r in sorted(rows, key=lambda r: r["id"]))
            if len(rows) == p["parts"] and hashlib.sha256(body.encode()).hexdigest() == p["sha256"]:
                return json.loads(body)
            log.warning("manifest version %s is incomplete; trying an older one", p["version"])
        raise IndexCorruptError(f"The manifest in {self.describe()} is missing or damaged. {REBUILD_HINT}")

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        body = json.dumps(manifest, ensure_ascii=True, separators=(",", ":"))
        version = f"{time.strftime('%Y%m%d%H%M%S')}{uuid.uuid4().hex[:8]}"
        pieces = [body[i : i + PIECE_CHARS] for i in range(0, len(body), PIECE_CHARS)] or [""]
        for a in range(0, len(pieces), 50):
            self.client.insert(self.meta_name, [{"id": f"m:{version}:{a + i:06d}", "body": b, "_v": NO_VECTOR}
                                                for i, b in enumerate(pieces[a : a + 50])])
        pointer = f"p:{time.time_ns():020d}"
        self._load(self.meta_name)
        self.client.insert(self.meta_name, [{"id": pointer, "_v": NO_VECTOR, "body": json.dumps(
            {"version": version, "parts": len(pieces), "sha256": hashlib.sha256(body.encode()).hexdigest()})}])
        # older versions (and pieces a killed writer left without a pointer) go once the new pointer is in
        self.client.delete(self.meta_name, filter=f'(id like "p:%" and id != "{pointer}") or '
                                                  f'(id like "m:%" and not (id like "m:{version}:%"))')

    def save_manifest(self, manifest: dict[str, Any]) -> None:
        """The same data with a new manifest (refreshed file stats); the caller holds the lock."""
        self._write_manifest(manifest)

    def verify(self, manifest: dict[str, Any]) -> None:
        """The collections are there and hold vectors of the manifest's dimension."""
        self._check_collections(manifest)

    def _check_collections(self, manifest: dict[str, Any]) -> None:
        for name in (self.chunks_name, self.docs_name):
            if not self.client.has_collection(name):
                raise IndexCorruptError(f"The collection {name} is missing from {self.describe()}. {REBUILD_HINT}")
        props = self.client.describe_collection(self.chunks_name).get("properties") or {}
        recorded = {"embed_model": props.get("rag.embed_model"), "dim": int(props.get("rag.dim") or 0)}
        check_compatible(recorded, {"embed_model": manifest.get("embed_model"), "dim": manifest.get("dim")},
                         self.root)

    # ---------- reading ----------
    def load(self, expect: dict[str, Any] | None = None) -> IndexData:
        """The documents and chunks the manifest lists (vectors stay in Milvus: searches run there)."""
        manifest = self.read_manifest()
        if manifest.get("format") != MILVUS_FORMAT:
            raise IndexMismatchError(f"The index in {self.describe()} has format {manifest.get('format')!r}, "
                                     f"this version reads {MILVUS_FORMAT}. {REBUILD_HINT}")
        if expect:
            check_compatible(manifest, expect, self.root)
        self._check_collections(manifest)
        for name in (self.docs_name, self.chunks_name):
            self._load(name)
        listed = {key(d): d for d in manifest.get("documents", {})}
        parts: dict[str, list[tuple[int, str, dict]]] = {}
        for r in self._scan(self.docs_name, ["doc_key", "part", "text", "info"]):
            if r["doc_key"] in listed:
                parts.setdefault(r["doc_key"], []).append((int(r["part"]), r["text"], r["info"]))
        documents: dict[str, Document] = {}
        for k, ps in parts.items():
            ps.sort(key=lambda p: p[0])
            documents[listed[k]] = doc_from_dict({**(ps[0][2] or {}), "doc": listed[k],
                                                  "text": "".join(p[1] for p in ps)})
        chunks: list[Chunk] = []
        keys: list[str] = []
        for r in self._scan(self.chunks_name, ["id", "span"]):
            s = r["span"]
            d = documents.get(s["doc"])
            if d is None:
                continue  # a pending document's leftovers, or rows a killed ingest wrote
            chunks.append(Chunk.from_dict({**s, "text": d.text[s["start"] : s["end"]]}))
            keys.append(r["id"])
        order = sorted(range(len(chunks)), key=lambda i: (chunks[i].doc, chunks[i].start, chunks[i].id))
        chunks = [chunks[i] for i in order]
        cache = self.local_dir / "milvus-cache"  # evidence-sentence vectors (checked against the sentences)
        with contextlib.suppress(OSError):
            cache.mkdir(parents=True, exist_ok=True)
        dim = int(manifest.get("dim") or 0)
        return IndexData(manifest, documents, chunks, np.zeros((0, dim), np.float32), None, cache,
                         keys=[keys[i] for i in order])

    def _scan(self, name: str, fields: list[str]) -> Iterator[dict]:
        it = self.client.query_iterator(name, batch_size=5000, filter="", output_fields=fields)
        try:
            while True:
                rows = it.next()
                if not rows:
                    return
                yield from (dict(r) for r in rows)
        finally:
            it.close()

    def vectors_of(self, doc: str) -> np.ndarray:
        """The stored vectors of one document's chunks, in chunk order (what an ingest must leave untouched)."""
        rows = self._query(self.chunks_name, filter=_in("doc_key", [key(doc)]),
                                 output_fields=["span", "vector"], limit=16_384)
        rows.sort(key=lambda r: (r["span"]["start"], r["span"]["id"]))
        return np.array([r["vector"] for r in rows], dtype=np.float32)

    def search_engine(self, data: IndexData) -> MilvusSearch:
        return MilvusSearch(self, {k: i for i, k in enumerate(data.keys)})

    # ---------- writing ----------
    def open_base(self, expect: dict[str, Any]) -> dict[str, Any]:
        """What `commit` builds on: the live manifest (documents already stored stay where they are)."""
        manifest = self.read_manifest()
        check_compatible(manifest, expect, self.root)
        self._check_collections(manifest)
        return manifest

    def commit(self, change: Change, base: dict[str, Any] | None) -> None:
        """Apply one ingest: delete the rows of removed, changed and pending documents, insert the new ones,
        then write the manifest. See the module docstring for what a crash in between leaves."""
        if base is None:
            self._create(change.manifest)
            touched: list[str] = []
        else:
            before = base.get("documents", {})
            keep = [d for d in change.keep if d in before]
            touched = sorted((set(before) - set(keep)) | set(change.documents) | set(base.get("pending", [])))
            if touched:
                self._write_manifest({**base, "documents": {d: before[d] for d in keep}, "pending": touched})
                self._delete(touched)
        self._insert_documents(change.documents.values())
        self._insert_chunks(change.chunks, change.vectors)
        with contextlib.suppress(Exception):  # Milvus Lite and servers persist on their own; flush is a hint
            self.client.flush(self.chunks_name)
        self._write_manifest(change.manifest)
        log.info("milvus: %d documents replaced or removed, %d chunks added", len(touched), len(change.chunks))

    def _create(self, manifest: dict[str, Any]) -> None:
        """Drop this library's collections and make them again (first ingest, --rebuild, another model)."""
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        c = self.client
        for name in (self.meta_name, self.chunks_name, self.docs_name):
            if c.has_collection(name):
                c.drop_collection(name)
        self._loaded.clear()
        dim = int(manifest["dim"])
        s = MilvusClient.create_schema(auto_id=False)
        s.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        s.add_field("doc_key", DataType.VARCHAR, max_length=64)
        s.add_field("span", DataType.JSON)
        s.add_field("terms", DataType.VARCHAR, max_length=65_535, enable_analyzer=True,
                    analyzer_params={"tokenizer": "standard"})
        s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        s.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        s.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"],
                                output_field_names=["sparse"]))
        ip = c.prepare_index_params()
        n = sum(int(e.get("chunks", 0)) for e in manifest.get("documents", {}).values())
        ip.add_index(field_name="vector", **self._dense_index(n))
        ip.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                     params={"bm25_k1": 1.5, "bm25_b": 0.75})  # the FAISS store's BM25 (bm25s) uses the same
        ip.add_index(field_name="doc_key", index_type="INVERTED")
        self._make(self.chunks_name, s, ip)
        c.alter_collection_properties(self.chunks_name, properties={
            "rag.embed_model": manifest["embed_model"], "rag.dim": str(dim), "rag.format": str(MILVUS_FORMAT)})
        for name, fields in ((self.docs_name, [("doc_key", DataType.VARCHAR, {"max_length": 64}),
                                               ("part", DataType.INT64, {}),
                                               ("text", DataType.VARCHAR, {"max_length": 65_535}),
                                               ("info", DataType.JSON, {})]),
                             (self.meta_name, [("body", DataType.VARCHAR, {"max_length": 65_535})])):
            s = MilvusClient.create_schema(auto_id=False)
            s.add_field("id", DataType.VARCHAR, is_primary=True, max_length=128)
            for fname, ftype, kw in fields:
                s.add_field(fname, ftype, **kw)
            s.add_field("_v", DataType.FLOAT_VECTOR, dim=2)
            ip = c.prepare_index_params()
            ip.add_index(field_name="_v", index_type="FLAT", metric_type="L2")
            self._make(name, s, ip)

    def _make(self, name: str, schema, index_params) -> None:
        """Create and load a collection. Milvus Lite builds an empty index at once: pymilvus's wait for it (half a
        second a poll) is skipped there."""
        c = self.client
        c.create_collection(name, schema=schema, consistency_level="Strong")
        c.create_index(name, index_params, sync=not self.lite)
        self._load(name)

    def _dense_index(self, n: int) -> dict[str, Any]:
        """As the FAISS store chooses (exact up to FLAT_LIMIT, IVF-Flat above); a server picks its own."""
        if not self.lite:
            return {"index_type": "AUTOINDEX", "metric_type": "IP"}
        if n <= FLAT_LIMIT:
            return {"index_type": "FLAT", "metric_type": "IP"}
        nlist, _ = ivf_params(n)
        return {"index_type": "IVF_FLAT", "metric_type": "IP", "params": {"nlist": nlist}}

    def _delete(self, docs: list[str]) -> None:
        keys = [key(d) for d in docs]
        self._load(self.chunks_name)
        self._load(self.docs_name)
        for a in range(0, len(keys), FILTER_IDS):
            expr = _in("doc_key", keys[a : a + FILTER_IDS])
            self.client.delete(self.chunks_name, filter=expr)
            self.client.delete(self.docs_name, filter=expr)

    def _insert_documents(self, documents: Iterable[Document]) -> None:
        rows = []
        for d in documents:
            k = key(d.doc)
            meta = {f: v for f, v in doc_to_dict(d).items() if f != "text"}  # the text goes in parts
            for i in range(max(1, -(-len(d.text) // PART_CHARS))):
                rows.append({"id": f"{k}:{i}", "doc_key": k, "part": i, "info": meta if i == 0 else {}, "_v": NO_VECTOR,
                             "text": d.text[i * PART_CHARS : (i + 1) * PART_CHARS]})
        for a in range(0, len(rows), BATCH):
            self.client.insert(self.docs_name, rows[a : a + BATCH])

    def _insert_chunks(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        for a in range(0, len(chunks), BATCH):
            self.client.insert(self.chunks_name, [
                {"id": key(c.id), "doc_key": key(c.doc), "terms": bm25_terms(c.text), "vector": vectors[a + i],
                 "span": {f: v for f, v in c.to_dict().items() if f != "text"}}  # the text is the document's
                for i, c in enumerate(chunks[a : a + BATCH])])
