"""Syndicated copies: one wire story from several outlets is grouped (MinHash + LSH, `rag.ingest.syndication`),
retrieval shows it once (from the earliest outlet, naming the others), and removing copies keeps the groups right."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rag.index.retrieve import Retriever
from rag.ingest.incremental import content_hash, ingest
from rag.ingest.syndication import (
    PREFIX,
    Group,
    also_published_by,
    find_groups,
    minhash,
    parse_signature,
    signature,
)
from rag.pipeline import Pipeline
from rag.schema import Document
from rag.settings import Settings

P1 = ("Storm surges flooded more than 1,200 homes and businesses in the Eastbank district of Port Alder this "
      "winter, and city engineers now say a concrete flood wall along the lower harbor is the only lasting fix. "
      "The wall would cost nearly $340 million and take about six years to build.")
P2 = ("Mayor Dana Whitfield told the council on Tuesday that the city cannot wait for another storm season. "
      "She asked members to approve a first payment of $25 million for design work and land purchases before the "
      "summer recess.")
P3 = ("Business owners on Front Street said insurance premiums had doubled since the floods. Several said they "
      "would close for good if the harbor flooded again next winter.")
P4 = "The council is expected to vote on the design money next month."
STORY = "\n\n".join([P1, P2, P3, P4])

FISHING = ("Fishing crews in the North Sea will face lower cod quotas next year after scientists warned that stocks "
           "had fallen for a third straight season. Skippers called the cuts a blow to small ports.")
SCHOOLS = ("The Cedar Valley school board delayed a vote on a four-day week after parents packed a hearing on "
           "Monday night. Teachers' pay and child care dominated the questions.")
QUESTION = "flood wall Port Alder storm surges Eastbank homes"


def write(folder: Path, name: str, body: str, outlet: str, published: str = "", title: str = "",
          author: str = "", url: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["---", f"title: {title or name}", f"outlet: '{outlet}'", f"published: '{published}'",
             f"author: '{author}'"]
    if url:
        lines.append(f"url: '{url}'")
    p = folder / name
    p.write_text("\n".join(lines + ["---", body]) + "\n", encoding="utf-8")
    return p


def story_corpus(data: Path) -> Path:
    """One story in three copies (file names not in date order) and two unrelated stories."""
    write(data, "a_gazette.md", "Editor's note: this story was updated to correct the mayor's name.\n\n" + STORY,
          "Harbor Gazette", "2024-03-03", title="Port Alder weighs flood wall")
    write(data, "b_herald.md", STORY, "Alder Herald", "2024-03-01", title="City plans $340 million flood wall",
          author="Jane Roe", url="https://herald.example/flood-wall")
    write(data, "c_tribune.md", "\n\n".join([P1, P2, P3]), "Coast Tribune", "2024-03-02",
          title="Flood wall would take six years")
    write(data, "fishing.md", FISHING, "Sea News", "2024-03-01")
    write(data, "schools.md", SCHOOLS, "Valley Times", "2024-02-28")
    return data


def build(data: Path, store, embedder, chunk_words: int = 200) -> Retriever:
    ingest([data], store, embedder, chunk_words=chunk_words, overlap=0, base=data)
    loaded = store.load()
    return Retriever(loaded, embedder, candidates=20, engine=store.search_engine(loaded))


COPIES = {"a_gazette.md", "b_herald.md", "c_tribune.md"}


def test_signature_round_trip():
    sig = signature(STORY)
    assert isinstance(sig, str) and sig.startswith(PREFIX) and len(sig) < 800
    back = parse_signature(sig)
    np.testing.assert_array_equal(back.hashvalues, minhash(STORY).hashvalues)
    assert back.jaccard(minhash(STORY)) == 1.0
    assert signature(STORY) == sig  # deterministic: fixed seed, no per-process hashing
    assert signature("") == "" and signature(" -- ") == ""
    assert parse_signature("") is None and parse_signature("mh0:abc") is None and parse_signature(PREFIX + "!!") is None
    # near-duplicates score high, other stories low
    assert parse_signature(signature("\n\n".join([P1, P2, P3]))).jaccard(back) > 0.75
    assert parse_signature(signature(FISHING)).jaccard(back) < 0.1


def test_groups_with_the_earliest_as_representative():
    docs = {d.doc: d for d in [
        Document("x.md", STORY, outlet="A", published="2024-03-05"),
        Document("y.md", "\n\n".join([P1, P2, P3]), outlet="B", published=""),  # undated: last
        Document("w.md", STORY.replace("Tuesday", "Monday"), outlet="C", published="2024-03-01"),
        Document("v.md", STORY, outlet="A", published="2024-03-05"),  # same date as x: by id
        Document("f.md", FISHING, outlet="Sea News", published="2024-03-01"),
        Document("e.md", "", outlet="Empty"),
        Document("e2.md", "", outlet="Empty too"),
    ]}
    groups = find_groups(docs)
    g = groups["x.md"]
    assert g == Group(("w.md", "v.md", "x.md", "y.md")) and g.representative == "w.md"
    assert set(groups) == {"w.md", "v.md", "x.md", "y.md"}  # no group of one; empty texts never group
    assert also_published_by("w.md", docs, groups) == ["A", "B"]
    assert also_published_by("x.md", docs, groups) == ["C", "B"]  # distinct, not its own outlet
    assert also_published_by("f.md", docs, groups) == []


def test_a_document_without_a_stored_signature_still_groups(tmp_path, hash_embedder):
    from rag.index.store import IndexStore

    store = IndexStore(tmp_path / "index")
    r = build(story_corpus(tmp_path / "data"), store, hash_embedder)
    assert all(d.meta["minhash"].startswith(PREFIX) for d in r.data.documents.values())
    stored = find_groups(r.data.documents)
    # an index built before signatures were stored: computed on the fly, same groups
    bare = {k: replace(d, meta={m: v for m, v in d.meta.items() if m != "minhash"})
            for k, d in r.data.documents.items()}
    assert find_groups(bare) == stored
    assert stored["a_gazette.md"].members == ("b_herald.md", "c_tribune.md", "a_gazette.md")
    mixed = {**r.data.documents, "c_tribune.md": bare["c_tribune.md"]}
    assert find_groups(mixed) == stored
    old = Retriever(replace(r.data, documents=bare), hash_embedder, candidates=20)
    hits = old.search(QUESTION, k=5)
    assert [h.chunk.doc for h in hits if h.chunk.doc in COPIES] == ["b_herald.md"]


def test_retrieval_shows_one_passage_per_story(tmp_path, make_test_store, hash_embedder):
    r = build(story_corpus(tmp_path / "data"), make_test_store(), hash_embedder)
    assert r._groups is None  # not computed when the index opens
    hits = r.search(QUESTION, k=5)
    from_story = [h for h in hits if h.chunk.doc in COPIES]
    assert len(from_story) == 1
    top = from_story[0]
    assert top.chunk.doc == "b_herald.md" and top.outlet == "Alder Herald" and hits[0] is top
    assert top.also_published_by == ["Coast Tribune", "Harbor Gazette"]  # publication order
    assert top.author == "Jane Roe" and top.url == "https://herald.example/flood-wall"
    assert top.to_dict()["also_published_by"] == ["Coast Tribune", "Harbor Gazette"]
    assert {h.chunk.doc for h in hits} == {"b_herald.md", "fishing.md", "schools.md"}
    assert all(h.also_published_by == [] for h in hits if h is not top)
    assert [h.rank for h in hits] == [1, 2, 3]
    assert r.groups is r.groups  # computed once per index version


def test_a_paragraph_only_one_outlet_ran_keeps_its_own_passage(tmp_path, hash_embedder):
    from rag.index.store import IndexStore

    data = story_corpus(tmp_path / "data")
    extra = ("Gazette reporters counted forty boarded shops on Quay Lane, where the lighthouse museum also closed "
             "its doors for the season.")
    write(data, "a_gazette.md", STORY + "\n\n" + extra, "Harbor Gazette", "2024-03-03")
    r = build(data, IndexStore(tmp_path / "index"), hash_embedder, chunk_words=40)
    assert r.groups["a_gazette.md"].representative == "b_herald.md"
    # each paragraph of the shared story comes from the earliest copy, once
    hits = r.search("insurance premiums doubled Front Street business owners", k=5)
    story = [h for h in hits if h.chunk.doc in COPIES and "Quay Lane" not in h.chunk.text]
    assert "premiums" in hits[0].chunk.text and hits[0].chunk.doc == "b_herald.md"
    assert story and all(h.chunk.doc == "b_herald.md" for h in story)
    assert len({h.chunk.id for h in story}) == len(story)
    assert len(r.data.by_doc["a_gazette.md"]) > 1 and len(r.data.by_doc["b_herald.md"]) > 1  # several chunks
    # the Gazette's own paragraph is not in the representative: kept as the Gazette's
    hits = r.search("boarded shops Quay Lane lighthouse museum", k=3)
    assert hits[0].chunk.doc == "a_gazette.md" and "Quay Lane" in hits[0].chunk.text
    assert hits[0].also_published_by == ["Alder Herald", "Coast Tribune"]


def test_removing_copies_keeps_the_group_right(tmp_path, hash_embedder, store_kind):
    data = story_corpus(tmp_path / "data")
    p = Pipeline(Settings(data_dir=data, index_dir=tmp_path / "index", store=store_kind), embedder=hash_embedder)
    try:
        p.ingest()
        assert [h.chunk.doc for h in p.search(QUESTION, 5) if h.chunk.doc in COPIES] == ["b_herald.md"]

        p.remove(["b_herald.md"])  # the representative
        assert p.retriever.groups["a_gazette.md"] == Group(("c_tribune.md", "a_gazette.md"))
        story = [h for h in p.search(QUESTION, 5) if h.chunk.doc in COPIES]
        assert [h.chunk.doc for h in story] == ["c_tribune.md"]
        assert story[0].also_published_by == ["Harbor Gazette"]

        p.remove(["c_tribune.md"])  # one copy left: no group
        assert p.retriever.groups == {}
        story = [h for h in p.search(QUESTION, 5) if h.chunk.doc in COPIES]
        assert [h.chunk.doc for h in story] == ["a_gazette.md"] and story[0].also_published_by == []
    finally:
        p.store.close()


def duplicates(report) -> list[tuple[str, str]]:
    """(file name, reason) of the files skipped as duplicates (found by the scan or against the index)."""
    return sorted((Path(path).name, reason) for path, reason in report.skipped if reason.startswith("duplicate"))


def test_an_exact_copy_from_another_outlet_is_indexed(tmp_path, make_test_store, hash_embedder):
    data = tmp_path / "data"
    store = make_test_store()
    write(data, "herald.md", STORY, "Alder Herald", "2024-03-01")
    write(data, "fishing.md", FISHING, "Sea News", "2024-03-01")

    def run(folder=data):
        return ingest([folder], store, hash_embedder, chunk_words=200, overlap=0, base=data)

    run()
    write(data, "tribune.md", STORY, "Coast Tribune", "2024-03-02")  # the same text: a syndicated copy
    write(data, "xherald_again.md", STORY, "alder herald ", "2024-03-04")  # the same outlet: a duplicate
    write(data, "xnobody.md", STORY, "", "2024-03-05")  # no outlet: a duplicate
    report = run()
    assert report.added == ["tribune.md"]
    assert duplicates(report) == [("xherald_again.md", "duplicate of herald.md"),
                                  ("xnobody.md", "duplicate of herald.md")]
    docs = store.load().documents
    assert set(docs) == {"herald.md", "fishing.md", "tribune.md"}
    assert find_groups(docs)["tribune.md"] == Group(("herald.md", "tribune.md"))
    assert store.read_manifest()["documents"]["tribune.md"]["outlet"] == "Coast Tribune"

    # uploads ingested on their own are judged against the index
    uploads = data / "uploads"
    write(uploads, "post.md", FISHING, "Daily Post", "2024-03-02")
    write(uploads, "sea.md", FISHING, "SEA NEWS", "2024-03-03")
    report = run(uploads)
    assert report.added == ["uploads/post.md"]
    assert report.duplicates == [("uploads/sea.md", "fishing.md")]
    assert find_groups(store.load().documents)["fishing.md"].members == ("fishing.md", "uploads/post.md")


def test_exact_copies_stay_when_their_files_are_not_read_again(tmp_path, hash_embedder, monkeypatch):
    """A re-ingest that trusts the files' stats (not reading them) keeps both copies: the manifest knows the
    outlets."""
    import rag.ingest.scan
    from rag.index.store import IndexStore

    monkeypatch.setattr(rag.ingest.scan, "RACY_NS", 0)  # files written a moment ago count as settled
    data = tmp_path / "data"
    store = IndexStore(tmp_path / "index")
    write(data, "herald.md", STORY, "Alder Herald", "2024-03-01")
    write(data, "tribune.md", STORY, "Coast Tribune", "2024-03-02")
    write(data, "zherald.md", STORY, "Alder Herald", "2024-03-03")
    first = ingest([data], store, hash_embedder, chunk_words=200, overlap=0, base=data)
    assert sorted(first.added) == ["herald.md", "tribune.md"]
    again = ingest([data], store, hash_embedder, chunk_words=200, overlap=0, base=data)
    assert sorted(again.unchanged) == ["herald.md", "tribune.md"] and not (again.added or again.removed)
    assert duplicates(again) == [("zherald.md", "duplicate of herald.md")]


def test_an_exact_copy_is_judged_against_a_manifest_without_outlets(tmp_path, hash_embedder):
    """An index written before the manifest recorded outlets: the outlets are read from the documents."""
    from rag.index.store import IndexStore

    data = tmp_path / "data"
    store = IndexStore(tmp_path / "index")
    write(data, "herald.md", STORY, "Alder Herald", "2024-03-01")
    ingest([data], store, hash_embedder, chunk_words=200, overlap=0, base=data)
    manifest = store.read_manifest()
    for entry in manifest["documents"].values():
        entry.pop("outlet")
    store.save_manifest(manifest)
    uploads = data / "uploads"
    write(uploads, "tribune.md", STORY, "Coast Tribune", "2024-03-02")
    write(uploads, "herald_again.md", STORY, "Alder Herald", "2024-03-04")
    report = ingest([uploads], store, hash_embedder, chunk_words=200, overlap=0, base=data)
    assert report.added == ["uploads/tribune.md"]
    assert report.duplicates == [("uploads/herald_again.md", "herald.md")]
    # a full ingest reads herald.md again (its stat was not trusted) and records its outlet
    ingest([data], store, hash_embedder, chunk_words=200, overlap=0, base=data)
    assert store.read_manifest()["documents"]["herald.md"]["outlet"] == "Alder Herald"


def test_the_signature_is_not_part_of_the_content_hash():
    d = Document("x.md", STORY, outlet="A", published="2024-03-01", meta={"path": "x.md"})
    assert content_hash(replace(d, meta={**d.meta, "minhash": signature(d.text)})) == content_hash(d)


@pytest.mark.parametrize("trim", [1, 2])
def test_the_threshold_separates_copies_from_other_stories(trim):
    paragraphs = [P1, P2, P3, P4]
    trimmed = "\n\n".join(paragraphs[:-trim])
    docs = {d.doc: d for d in [Document("a.md", STORY, outlet="A"), Document("b.md", trimmed, outlet="B"),
                               Document("f.md", FISHING + " " + P4, outlet="F")]}
    groups = find_groups(docs)
    assert set(groups) == {"a.md", "b.md"}
