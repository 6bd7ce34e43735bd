"""The JSON contract of the objects the CLI and UI show: every key is always there."""

from rag.schema import Answer, Chunk, Citation, DocumentInfo, Passage


def _passage(approx: bool = False) -> Passage:
    chunk = Chunk(id="a.md:0", doc="a.md", text="Text.", start=0, end=5)
    return Passage(chunk, "A", "Wire", "2015-10-14", score=0.5, rank=1, published_approx=approx)


def test_published_approx_is_in_every_dated_object():
    assert _passage().to_dict()["published_approx"] is False
    assert _passage(approx=True).to_dict()["published_approx"] is True
    c = Citation(1, "a.md", "A", "2015-10-14", "Text.", 0, 5, outlet="Wire", published_approx=True)
    assert c.to_dict() == {"n": 1, "doc": "a.md", "title": "A", "published": "2015-10-14", "quote": "Text.",
                           "start": 0, "end": 5, "outlet": "Wire", "published_approx": True,
                           "url": "", "author": "", "also_published_by": []}
    info = DocumentInfo("a.md", "A", "Wire", "2015-10", 3, True)
    assert info.to_dict() == {"doc": "a.md", "title": "A", "outlet": "Wire", "published": "2015-10", "chunks": 3,
                              "published_approx": True, "url": "", "author": "", "feed": ""}


def test_web_fields_are_in_citations_and_passages():
    """Articles from the web: the original address, the author and the other outlets of a syndicated story."""
    c = Citation(1, "web/x.md", "A", "2024-05-02", "Text.", 0, 5, outlet="Wire", url="https://x.test/a",
                 author="Jane Doe", also_published_by=["Gazette", "Courier"])
    assert {"url": "https://x.test/a", "author": "Jane Doe", "also_published_by": ["Gazette", "Courier"]}.items() \
        <= c.to_dict().items()
    p = _passage()
    p.url, p.also_published_by = "https://x.test/a", ["Gazette"]
    assert p.to_dict()["url"] == "https://x.test/a" and p.to_dict()["also_published_by"] == ["Gazette"]


def test_older_positional_construction_still_works():
    """Callers that build these objects positionally (fakes, evaluation) get exact dates by default."""
    assert not Citation(1, "a.md", "A", "", "x", 0, 1).published_approx
    assert not DocumentInfo("a.md", "A", "Wire", "", 1).published_approx
    p = _passage().to_dict()
    assert {"doc", "title", "outlet", "published", "text", "start", "end", "chunk_id", "rank", "score", "dense",
            "keyword"} <= set(p)


def test_answer_to_dict_says_whether_it_was_stopped():
    a = Answer("q", "", False, [], [_passage()], "q")
    assert a.to_dict()["stopped"] is False
    a.stopped = True
    assert a.to_dict()["stopped"] is True
