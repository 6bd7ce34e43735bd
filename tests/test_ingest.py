import os

import numpy as np
import pytest
from rag_testdata import ARTICLES, write_article

from rag.errors import IndexCorruptError, IndexLockedError, IndexMismatchError
from rag.index.embed import HashEmbedder
from rag.index.store import IndexStore
from rag.ingest.incremental import ingest


def run(data, store, embedder, **kw):
    return ingest([data], store, embedder, chunk_words=30, overlap=1, base=data, **kw)


def test_first_ingest_indexes_everything(corpus, make_test_store, hash_embedder):
    store = make_test_store()
    report = run(corpus, store, hash_embedder)
    assert sorted(report.added) == sorted(ARTICLES)
    idx = store.load()
    assert set(idx.documents) == set(ARTICLES)
    for doc in ARTICLES:
        vectors = store.vectors_of(doc)
        assert vectors.shape == (len(idx.by_doc[doc]), 64) and len(vectors)
        np.testing.assert_allclose(vectors, hash_embedder.embed([idx.chunks[i].text for i in idx.by_doc[doc]]),
                                   rtol=1e-6)
    for c in idx.chunks:
        assert idx.documents[c.doc].text[c.start : c.end] == c.text
        assert c.sentences and all(c.start <= s.start < s.end <= c.end for s in c.sentences)
    assert report.chunks == len(idx.chunks)
    m = idx.manifest
    assert m["embed_model"] == "hash-embedder" and m["dim"] == 64
    assert set(m["documents"]) == set(ARTICLES) and all(len(v["sha256"]) == 64 for v in m["documents"].values())


def test_incremental_add_change_delete(corpus, make_test_store, hash_embedder):
    store = make_test_store()
    run(corpus, store, hash_embedder)
    oil_vectors = store.vectors_of("oil.md")

    hash_embedder.texts_embedded = 0
    again = run(corpus, store, hash_embedder)
    assert again.unchanged and not (again.added or again.updated or again.removed)
    assert hash_embedder.texts_embedded == 0  # nothing re-embedded

    write_article(corpus, "new.md", "A brand new article about ceasefire talks in Geneva. It is short.")
    write_article(corpus, "syria.md", "Completely rewritten text about naval bases. The port is in Tartus.")
    (corpus / "iran.md").unlink()
    report = run(corpus, store, hash_embedder)
    assert report.added == ["new.md"] and report.updated == ["syria.md"] and report.removed == ["iran.md"]
    assert sorted(report.unchanged) == ["oil.md"]
    after = store.load()
    assert set(after.documents) == {"new.md", "syria.md", "oil.md"}
    assert "Tartus" in after.documents["syria.md"].text
    assert not any("Baghdad" in c.text for c in after.chunks)
    np.testing.assert_array_equal(store.vectors_of("oil.md"), oil_vectors)
    assert len(store.vectors_of("iran.md")) == 0
    # only the two new/changed documents were embedded
    assert hash_embedder.texts_embedded == len(after.by_doc["new.md"]) + len(after.by_doc["syria.md"])


def test_ingesting_a_subfolder_keeps_other_documents(corpus, make_test_store, hash_embedder):
    store = make_test_store()
    run(corpus, store, hash_embedder)
    uploads = corpus / "uploads"
    write_article(uploads, "up.md", "An uploaded note about grain exports through the Black Sea.")
    report = ingest([uploads], store, hash_embedder, chunk_words=30, overlap=1, base=corpus)
    assert report.added == ["uploads/up.md"] and not report.removed
    assert set(store.load().documents) == set(ARTICLES) | {"uploads/up.md"}
    # a full re-ingest of the data folder sees the same id: nothing changes
    again = run(corpus, store, hash_embedder)
    assert not (again.added or again.updated or again.removed)


def test_manifest_mismatch_is_reported_and_rebuilt(corpus, make_test_store):
    store = make_test_store()
    run(corpus, store, HashEmbedder(dim=64, name="model-a"))
    with pytest.raises(IndexMismatchError, match="model-a"):
        store.load(expect={"embed_model": "model-b"})
    report = run(corpus, store, HashEmbedder(dim=32, name="model-b"))
    assert any("model-a" in n and "Rebuilt" in n for n in report.notes)
    idx = store.load(expect={"embed_model": "model-b"})
    assert idx.manifest["dim"] == 32 and store.vectors_of("oil.md").shape[1] == 32
    assert sorted(report.added) == sorted(ARTICLES) and set(idx.documents) == set(ARTICLES)


def test_crash_before_rename_leaves_previous_index(corpus, tmp_path, hash_embedder, monkeypatch):
    store = IndexStore(tmp_path / "index")
    run(corpus, store, hash_embedder)
    before = store.load()
    write_article(corpus, "new.md", "Fresh text that will never make it into the index.")

    def crash(*a, **k):
        raise KeyboardInterrupt("killed between writing and renaming")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(KeyboardInterrupt):
        run(corpus, store, hash_embedder)
    monkeypatch.undo()
    after = store.load()
    assert set(after.documents) == set(before.documents)
    assert len(after.chunks) == len(before.chunks)
    assert not list((tmp_path / "index").glob(".tmp-*"))  # the half-written version was removed
    # and the next ingest completes normally
    assert run(corpus, store, hash_embedder).added == ["new.md"]


def test_crash_after_rename_before_switch_keeps_old_state(corpus, tmp_path, hash_embedder, monkeypatch):
    store = IndexStore(tmp_path / "index")
    run(corpus, store, hash_embedder)
    write_article(corpus, "new.md", "Another article that arrives during a crash.")
    monkeypatch.setattr(IndexStore, "_switch", lambda self, name: (_ for _ in ()).throw(SystemExit(1)))
    with pytest.raises(SystemExit):
        run(corpus, store, hash_embedder)
    monkeypatch.undo()
    assert "new.md" not in store.load().documents


@pytest.mark.parametrize("victim", ["vectors.npy", "faiss.index", "chunks.jsonl", "manifest.json"])
def test_damaged_file_names_the_file_and_the_fix(corpus, tmp_path, hash_embedder, victim):
    store = IndexStore(tmp_path / "index")
    run(corpus, store, hash_embedder)
    path = store.current_dir() / victim
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(IndexCorruptError) as e:
        store.load()
    assert victim in str(e.value) and "rag ingest --rebuild" in str(e.value)
    report = run(corpus, store, hash_embedder, rebuild=True)
    assert sorted(report.added) == sorted(ARTICLES)
    store.load()


def test_second_writer_is_refused_clearly(make_test_store):
    store = make_test_store()
    with store.lock():
        with pytest.raises(IndexLockedError, match="Another ingest"):
            with store.lock(wait_s=0.3):
                pass


def test_bad_files_are_skipped_and_the_rest_ingested(corpus, make_test_store, hash_embedder):
    (corpus / "binary.txt").write_bytes(bytes(range(256)) * 20)
    (corpus / "empty.md").write_bytes(b"")
    (corpus / "table.xlsx").write_bytes(b"PK\x03\x04")
    store = make_test_store()
    report = run(corpus, store, hash_embedder)
    reasons = dict((os.path.basename(p), r) for p, r in report.skipped)
    assert set(reasons) == {"binary.txt", "empty.md", "table.xlsx"}
    assert all(r.strip() and "\n" not in r for r in reasons.values())
    assert sorted(report.added) == sorted(ARTICLES)


def test_duplicate_article_is_indexed_once(corpus, make_test_store, hash_embedder):
    (corpus / "copy.md").write_text((corpus / "oil.md").read_text())
    store = make_test_store()
    report = run(corpus, store, hash_embedder)
    assert report.duplicates or any("duplicate" in r for _, r in report.skipped)
    docs = store.load().documents
    assert ("copy.md" in docs) != ("oil.md" in docs)


def test_long_documents_and_odd_ids_round_trip(tmp_path, make_test_store, hash_embedder):
    """A document longer than a database text field, and ids with quotes and spaces, come back whole."""
    data = tmp_path / "data"
    long_body = " ".join(f"Sentence {i} about the grain corridor and its ships." for i in range(700))
    write_article(data, "long.md", long_body)
    write_article(data, 'it\'s "quoted" one.md', "The port reopened after the talks. Ships left on Monday.")
    store = make_test_store()
    run(data, store, hash_embedder)
    idx = store.load()
    assert len(idx.documents["long.md"].text) > 32_000 and long_body[-40:] in idx.documents["long.md"].text
    assert 'it\'s "quoted" one.md' in idx.documents
    for c in idx.chunks:
        assert idx.documents[c.doc].text[c.start : c.end] == c.text
    (data / 'it\'s "quoted" one.md').unlink()
    assert run(data, store, hash_embedder).removed == ['it\'s "quoted" one.md']
    assert set(store.load().documents) == {"long.md"}


def _milvus_rows(store) -> int:
    return int(store._query(store.chunks_name, filter="", output_fields=["count(*)"])[0]["count(*)"])


def test_milvus_ingest_interrupted_midway_is_finished_by_the_next(corpus, tmp_path, hash_embedder, monkeypatch):
    """Milvus has no transaction over several writes: a killed ingest leaves the unchanged documents searchable and
    the ones it was changing pending (hidden); the next ingest removes their leftovers and adds them again."""
    from rag.index.milvus_store import MilvusStore

    store = MilvusStore(str(tmp_path / "m.db"), local_dir=tmp_path / "index")
    run(corpus, store, hash_embedder)
    write_article(corpus, "syria.md", "Rewritten: the naval base at Tartus. Ships docked there in October.")
    write_article(corpus, "new.md", "A new article about ceasefire talks in Geneva. It is short.")
    inserted = []
    insert = MilvusStore._insert_chunks

    def half_then_die(self, chunks, vectors):
        insert(self, chunks[:1], vectors[:1])  # some rows land, then the kill
        inserted.append(len(chunks))
        raise KeyboardInterrupt("killed while inserting")

    monkeypatch.setattr(MilvusStore, "_insert_chunks", half_then_die)
    with pytest.raises(KeyboardInterrupt):
        run(corpus, store, hash_embedder)
    monkeypatch.undo()
    assert inserted
    mid = store.load()  # loads: the untouched documents, whole; the pending ones are hidden
    assert set(mid.documents) == {"oil.md", "iran.md"}
    assert sorted(mid.manifest["pending"]) == ["new.md", "syria.md"]
    assert all(c.doc in mid.documents for c in mid.chunks)
    report = run(corpus, store, hash_embedder)
    assert sorted(report.added) == ["new.md", "syria.md"] and sorted(report.unchanged) == ["iran.md", "oil.md"]
    after = store.load()
    assert "pending" not in after.manifest and set(after.documents) == {"oil.md", "iran.md", "syria.md", "new.md"}
    assert "Tartus" in after.documents["syria.md"].text
    assert _milvus_rows(store) == len(after.chunks)  # the half-inserted rows were removed, not doubled
    for c in after.chunks:
        assert after.documents[c.doc].text[c.start : c.end] == c.text
    store.close()


def test_milvus_missing_collection_names_the_fix(corpus, tmp_path, hash_embedder):
    from rag.index.milvus_store import MilvusStore

    store = MilvusStore(str(tmp_path / "m.db"), local_dir=tmp_path / "index")
    run(corpus, store, hash_embedder)
    store.client.drop_collection(store.chunks_name)
    with pytest.raises(IndexCorruptError) as e:
        store.load()
    assert store.chunks_name in str(e.value) and "rag ingest --rebuild" in str(e.value)
    report = run(corpus, store, hash_embedder)  # an ingest sees it too and rebuilds
    assert sorted(report.added) == sorted(ARTICLES) and any("Rebuilt" in n for n in report.notes)
    assert set(store.load().documents) == set(ARTICLES)
    store.close()


def test_milvus_lite_held_by_another_process_is_a_clear_message(tmp_path):
    import subprocess
    import sys

    from rag.errors import StoreUnavailableError
    from rag.index.milvus_store import MilvusStore

    db = tmp_path / "m.db"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom pymilvus import MilvusClient\n"
                               f"MilvusClient({str(db)!r}).list_collections()\nprint('open', flush=True)\n"
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(StoreUnavailableError, match="open in another process.*milvus-lite server"):
            MilvusStore(str(db), local_dir=tmp_path / "index").exists()
    finally:
        holder.kill()
        holder.wait()
    store = MilvusStore(str(db), local_dir=tmp_path / "index")
    assert not store.exists()  # free again once that process is gone
    store.close()
