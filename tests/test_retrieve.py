from rag.index.retrieve import Retriever
from rag.index.store import IndexStore
from rag.ingest.incremental import ingest


def build(corpus, tmp_path, embedder):
    store = IndexStore(tmp_path / "index")
    ingest([corpus], store, embedder, chunk_words=20, overlap=0, base=corpus)
    return Retriever(store.load(), embedder, candidates=10)


def test_hybrid_search_ranks_and_scores(corpus, tmp_path, hash_embedder):
    r = build(corpus, tmp_path, hash_embedder)
    hits = r.search("Ash Carter briefing technical talks", k=3)
    assert hits[0].chunk.doc == "syria.md" and "Carter" in hits[0].chunk.text
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].keyword is not None and hits[0].keyword > 0 and hits[0].dense is not None
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))
    assert hits[0].title and hits[0].published


def test_keyword_only_match_is_found(corpus, tmp_path, hash_embedder):
    r = build(corpus, tmp_path, hash_embedder)
    hits = r.search("investments frozen", k=2)
    assert "frozen" in hits[0].chunk.text


def test_near_duplicates_are_collapsed(tmp_path, hash_embedder):
    from rag_testdata import write_article

    data = tmp_path / "data"
    text = "The ministry praised the general for fighting the Islamic State in Syria for years."
    write_article(data, "a.md", text)
    write_article(data, "b.md", text.replace("years.", "years!"))
    write_article(data, "c.md", "An unrelated story about fishing quotas in the North Sea.")
    r = build(data, tmp_path, hash_embedder)
    hits = r.search("ministry praised the general", k=3)
    docs = [h.chunk.doc for h in hits]
    assert len({"a.md", "b.md"} & set(docs)) == 1
    assert "c.md" in docs


def test_evidence_sentence_vectors_are_kept_beside_the_index(tmp_path, hash_embedder):
    """Computed once per index version and read back on the next start; another embedder recomputes them."""
    from rag_testdata import ARTICLES, write_article

    from rag.answer.context import IndexContext
    from rag.index.embed import HashEmbedder
    from rag.pipeline import Pipeline
    from rag.settings import Settings

    data = tmp_path / "data"
    for name, body in ARTICLES.items():
        write_article(data, name, body)
    p = Pipeline(Settings(data_dir=data, index_dir=tmp_path / "index"), embedder=hash_embedder)
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
