"""Removing documents: one atomic index switch, and their files kept out of the next ingest."""

import json

import pytest
from click.testing import CliRunner
from rag_testdata import ARTICLES, write_article

from rag import pipeline as pipeline_mod
from rag.cli import cli
from rag.errors import DocumentNotFoundError
from rag.index.embed import HashEmbedder
from rag.pipeline import Pipeline
from rag.settings import Settings

OIL_QUERY = "oil prices fell sharply budget cut investments frozen recession sanctions"


@pytest.fixture
def pipe(corpus, tmp_path, hash_embedder, store_kind) -> Pipeline:
    p = Pipeline(Settings(data_dir=corpus, index_dir=tmp_path / "index", store=store_kind), embedder=hash_embedder)
    p.ingest()
    yield p
    p.store.close()


def _docs(p: Pipeline) -> set[str]:
    return {d.doc for d in p.documents()}


def _version(p: Pipeline) -> str:
    return json.dumps(p.store.read_manifest(), sort_keys=True)


def test_remove_drops_the_document_and_moves_its_file_to_the_trash(pipe, corpus):
    assert _docs(pipe) == set(ARTICLES)
    assert any(x.chunk.doc == "oil.md" for x in pipe.search(OIL_QUERY, 10))
    report = pipe.remove(["oil.md"])
    assert report.removed == ["oil.md"] and report.documents == 2
    assert report.chunks == sum(d.chunks for d in pipe.documents()) > 0
    assert report.seconds > 0 and any("moved" in n for n in report.notes)
    assert _docs(pipe) == {"syria.md", "iran.md"}
    assert all(x.chunk.doc != "oil.md" for x in pipe.search(OIL_QUERY, 10))
    assert not (corpus / "oil.md").exists() and (corpus / ".removed" / "oil.md").is_file()
    again = pipe.ingest()  # the trash is hidden: the walk skips it, so the document stays gone
    assert not again.added and not again.updated and "oil.md" not in again.unchanged
    assert _docs(pipe) == {"syria.md", "iran.md"}
    assert all(x.chunk.doc != "oil.md" for x in pipe.search(OIL_QUERY, 10))


def test_unknown_id_changes_nothing(pipe, corpus):
    before = _version(pipe)
    with pytest.raises(DocumentNotFoundError, match="'nope.md'"):
        pipe.remove(["oil.md", "nope.md"])
    assert _version(pipe) == before
    assert _docs(pipe) == set(ARTICLES) and (corpus / "oil.md").is_file()
    assert not (corpus / ".removed").exists()


def test_removed_upload_keeps_a_unique_name_in_the_trash(pipe, corpus):
    trash = corpus / ".removed"
    trash.mkdir()
    (trash / "note.md").write_text("an earlier removal")
    write_article(corpus / "uploads", "note.md", "The central bank raised interest rates to defend the rouble.")
    assert pipe.ingest().added == ["uploads/note.md"]
    pipe.remove(["uploads/note.md"])
    assert (trash / "note.md").read_text() == "an earlier removal"
    assert "central bank" in (trash / "note-2.md").read_text()
    assert not (corpus / "uploads" / "note.md").exists() and "uploads/note.md" not in _docs(pipe)


def test_a_file_outside_the_data_folder_stays_where_it_is(pipe, tmp_path):
    elsewhere = write_article(tmp_path / "elsewhere", "memo.md", "The ministry published a memo about grain exports.")
    pipe.ingest([elsewhere])
    assert "memo.md" in _docs(pipe)
    report = pipe.remove(["memo.md"])
    assert elsewhere.is_file() and "memo.md" not in _docs(pipe)
    assert any("outside the data folder" in n for n in report.notes)


def test_removing_every_document_leaves_an_empty_index_that_searches(pipe):
    pipe.remove(sorted(ARTICLES))
    assert pipe.documents() == [] and pipe.search(OIL_QUERY) == []


def test_cli_remove(corpus, tmp_path, monkeypatch, store_kind):
    monkeypatch.setenv("RAG_STORE", store_kind)
    monkeypatch.setenv("RAG_DATA_DIR", str(corpus))
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setattr(pipeline_mod, "make_embedder", lambda settings: HashEmbedder(dim=64))

    def run(*args):
        return CliRunner().invoke(cli, list(args), obj={}, catch_exceptions=False)

    assert run("ingest").exit_code == 0
    missing = run("remove", "nope.md")
    assert missing.exit_code == 1 and "No document 'nope.md'" in missing.output
    assert "Traceback" not in missing.output
    r = run("remove", "oil.md")
    assert r.exit_code == 0, r.output
    assert "2 documents" in r.output and "1 removed" in r.output and ".removed" in r.output
    assert (corpus / ".removed" / "oil.md").is_file()
    assert run("remove").exit_code == 2  # at least one id is required
