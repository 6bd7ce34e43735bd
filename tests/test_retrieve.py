"""Hybrid retrieval, run against each store (FAISS + in-memory BM25 fused here; Milvus fusing in the engine)."""

from rag.index.retrieve import Retriever
from rag.ingest.incremental import ingest


def build(corpus, make_test_store, embedder):
    store = make_test_store()
    ingest([corpus], store, embedder, chunk_words=20, overlap=0, base=corpus)
    data = store.load()
    return Retriever(data, embedder, candidates=10, engine=store.search_engine(data))


def test_hybrid_search_ranks_and_scores(corpus, make_test_store, hash_embedder, store_kind):
    r = build(corpus, make_test_store, hash_embedder)
    hits = r.search("Ash Carter briefing technical talks", k=3)
    assert hits[0].chunk.doc == "syria.md" and "Carter" in hits[0].chunk.text
    assert [h.rank for h in hits] == [1, 2, 3]
    # a chunk that both rankings put first scores 2/(k+1) under reciprocal rank fusion, in either engine
    assert abs(hits[0].score - 2 / (r.rrf_k + 1)) < 1e-6
    if store_kind == "faiss":  # Milvus returns only the fused score
        assert hits[0].keyword is not None and hits[0].keyword > 0 and hits[0].dense is not None
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))
    assert hits[0].title and hits[0].published
    assert hits[0].chunk.sentences and hits[0].chunk.start < hits[0].chunk.end


def test_both_stores_rank_alike(corpus, tmp_path, hash_embedder):
    """The same corpus and questions give the same top passages from FAISS and from Milvus: both see the same
    vectors and the same BM25 terms, and fuse by RRF with the same k."""
    from rag.index.store import make_store
    from rag.settings import Settings

    retrievers = {}
    for kind in ("faiss", "milvus"):
        store = make_store(Settings(index_dir=tmp_path / kind, store=kind))
        ingest([corpus], store, hash_embedder, chunk_words=20, overlap=0, base=corpus)
        data = store.load()
        retrievers[kind] = Retriever(data, hash_embedder, candidates=10, engine=store.search_engine(data))
    for q in ("Ash Carter briefing technical talks", "oil prices budget", "sanctions on Iran",
              "investments frozen", "naval base in Syria"):
        top = {kind: [(h.chunk.doc, h.chunk.start) for h in r.search(q, k=3)] for kind, r in retrievers.items()}
        assert top["faiss"][0] == top["milvus"][0], q
        assert set(top["faiss"]) == set(top["milvus"]), q


def test_keyword_only_match_is_found(corpus, make_test_store, hash_embedder):
    r = build(corpus, make_test_store, hash_embedder)
    hits = r.search("investments frozen", k=2)
    assert "frozen" in hits[0].chunk.text


def test_near_duplicates_are_collapsed(tmp_path, make_test_store, hash_embedder):
    from rag_testdata import write_article

    data = tmp_path / "data"
    text = "The ministry praised the general for fighting the Islamic State in Syria for years."
    write_article(data, "a.md", text)
    write_article(data, "b.md", text.replace("years.", "years!"))
    write_article(data, "c.md", "An unrelated story about fishing quotas in the North Sea.")
    r = build(data, make_test_store, hash_embedder)
    hits = r.search("ministry praised the general", k=3)
    docs = [h.chunk.doc for h in hits]
    assert len({"a.md", "b.md"} & set(docs)) == 1
    assert "c.md" in docs


def test_evidence_sentence_vectors_are_kept_beside_the_index(tmp_path, hash_embedder, store_kind):
    """Computed once per index version and read back on the next start; another embedder recomputes them."""
    from rag_testdata import ARTICLES, write_article

    from rag.answer.context import IndexContext
    from rag.index.embed import HashEmbedder
    from rag.pipeline import Pipeline
    from rag.settings import Settings

    data = tmp_path / "data"
    for name, body in ARTICLES.items():
        write_article(data, name, body)
    p = Pipeline(Settings(data_dir=data, index_dir=tmp_path / "index", store=store_kind), embedder=hash_embedder)
    first = IndexContext(p.retriever, hash_embedder, 8)
    n = first.prefill()
    assert n > 0 and (p.retriever.data.path / "sentence-vectors.npy").is_file()
    calls = hash_embedder.calls
    again = IndexContext(p.retriever, hash_embedder, 8)
    assert again.prefill() == 0 and hash_embedder.calls == calls  # read back, nothing embedded
    items = again._sentences
    assert (again.selector.vectors.get(items) == first.selector.vectors.get(items)).all()
    other = HashEmbedder(dim=64, name="another-embedder")
    assert IndexContext(p.retriever, other, 8).prefill() == n  # not this embedder's vectors: recomputed
    assert IndexContext(p.retriever, hash_embedder, 8).prefill(keep=False) == n
    p.store.close()
