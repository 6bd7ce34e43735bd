"""Articles by web address and from feeds, against a local fixture site (loopback only): what is read from each page,
identity by canonical address, feeds updated twice, and every bad input refused in one line with the library
unchanged."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from rag_testdata import ARTICLES, write_article
from webfixtures import FixtureSite

from rag import pipeline as pipeline_mod
from rag.cli import cli
from rag.errors import FetchError, split_detail
from rag.generate.base import ScriptedGenerator
from rag.index.embed import HashEmbedder
from rag.pipeline import Pipeline
from rag.settings import Settings
from rag.web import fetch as fetch_mod
from rag.web.add import add_urls
from rag.web.article import clean_url, identity, read_article
from rag.web.feeds import FeedList, follow, update
from rag.web.fetch import fetch, normalize_url

WEB = Path(__file__).parent / "fixtures" / "web"


@pytest.fixture(scope="module")
def site():
    with FixtureSite() as s:
        yield s


def _settings(root: Path, **kw) -> Settings:
    base = dict(data_dir=root / "data", index_dir=root / "index", fetch_private=True, fetch_timeout_s=3.0)
    return Settings(**{**base, **kw})


@pytest.fixture
def library(tmp_path):
    """A real pipeline (hash embedder) over the small test corpus."""
    for name, body in ARTICLES.items():
        write_article(tmp_path / "data", name, body)
    settings = _settings(tmp_path)
    pipe = Pipeline(settings, embedder=HashEmbedder(dim=64), generator=ScriptedGenerator())
    pipe.ingest()
    yield pipe, settings
    pipe.close()


def _state(pipe: Pipeline, settings: Settings) -> tuple:
    """What must not change when an input is refused: the documents, their chunks, and the files."""
    files = sorted(str(p.relative_to(settings.data_dir)) for p in Path(settings.data_dir).rglob("*")
                   if p.is_file() and "index" not in p.parts)
    return [(d.doc, d.chunks, d.title) for d in pipe.documents()], files


# ---------------------------------------------------------------- pages
def test_adding_a_page_keeps_its_metadata_and_links_back(site, library):
    pipe, settings = library
    expected = {e["path"]: e for e in json.loads((WEB / "expected.json").read_text())}
    path, truth = next((p, e) for p, e in expected.items() if e.get("author") and e.get("canonical"))
    report = add_urls([site.url(path) + "?utm_source=newsletter&utm_medium=email"], pipe, settings)
    assert [p.status for p in report.pages] == ["added"], report.pages[0].error
    doc = report.pages[0].doc
    assert doc.startswith("web/") and (Path(settings.data_dir) / doc).is_file()
    info = next(d for d in pipe.documents() if d.doc == doc)
    assert (info.title, info.outlet, info.published, info.author) == (
        truth["title"], truth["outlet"], truth["published"], truth["author"])
    assert info.url == site.url(truth["canonical"]) and "utm_" not in info.url
    hits = pipe.search(truth["title"], k=3)
    assert hits[0].chunk.doc == doc and hits[0].url == info.url and hits[0].author == truth["author"]
    raw = Path(settings.data_dir) / Path(doc).parent / ".raw" / (Path(doc).stem + ".html")
    assert raw.is_file() and raw.stat().st_size > 1000  # the page as fetched, kept beside the text


def test_the_same_page_again_updates_instead_of_duplicating(site, library):
    pipe, settings = library
    site.put("/news/changing.html", _article("First version of the story about the harbour wall repairs."))
    first = add_urls([site.url("/news/changing.html")], pipe, settings)
    n = len(pipe.documents())
    again = add_urls([site.url("/news/changing.html?utm_campaign=x")], pipe, settings)
    assert again.pages[0].status == "unchanged" and again.pages[0].doc == first.pages[0].doc
    site.put("/news/changing.html", _article("Second version: the harbour wall repairs will cost twice as much."))
    updated = add_urls([site.url("/news/changing.html")], pipe, settings)
    assert updated.pages[0].status == "updated" and len(pipe.documents()) == n
    assert "twice as much" in pipe.document_text(first.pages[0].doc)


def _article(lead: str, title: str = "Harbour wall repairs approved") -> str:
    body = "".join(f"<p>{lead} Councillors met for three hours on Tuesday evening and heard from residents of the "
                   f"old quarter, engineers and the port authority before a vote of {i + 5} to two.</p>"
                   for i in range(4))
    return (f"<html><head><title>{title}</title><meta property='og:site_name' content='Harbour Herald'></head>"
            f"<body><article><h1>{title}</h1>{body}</article></body></html>")


def test_metadata_read_correctly_for_nine_in_ten_fields(site):
    """Title, outlet, author and date on the fixture pages (real-world shapes), against what a reader sees."""
    expected = json.loads((WEB / "expected.json").read_text())
    right, present, wrong = 0, 0, []
    for e in expected:
        page = fetch(site.url(e["path"]), _settings(Path("/nonexistent")))
        got = read_article(page.body, page.url)
        for name in ("title", "outlet", "author", "published"):
            if not e.get(name):
                continue
            present += 1
            if getattr(got, name).strip().lower() == str(e[name]).strip().lower():
                right += 1
            else:
                wrong.append((e["path"], name, getattr(got, name), e[name]))
    assert present >= 30
    assert right / present >= 0.9, wrong


def test_a_syndicated_copy_naming_the_original_as_canonical_keeps_its_own_identity():
    own = "https://gazette.example/wire/flood-aid?utm_source=x"
    assert identity(own, "https://apnews.example/article/flood-aid") == "https://gazette.example/wire/flood-aid"
    assert identity(own, "https://www.gazette.example/wire/flood-aid") == "https://www.gazette.example/wire/flood-aid"
    assert clean_url("https://A.example/x?id=3&utm_medium=rss&fbclid=1#top") == "https://a.example/x?id=3"


# ---------------------------------------------------------------- feeds
def test_feed_of_200_entries_in_one_update_then_nothing_new(site, library, capsys):
    pipe, settings = library
    before = len(pipe.documents())
    url = site.url("/feeds/generated-200.xml")
    follow(url, settings)
    site.reset()
    ticks: list[tuple[int, int]] = []
    [result] = update(None, pipe, settings, fetched=lambda done, total, _: ticks.append((done, total)))
    assert result.summary() == "200 new, 0 skipped", [p.error for p in result.failed][:3]
    assert ticks[-1] == (200, 200) and len(pipe.documents()) == before + 200
    assert site.count("/gen/") == 200
    site.reset()
    [again] = update(None, pipe, settings)
    assert again.summary().startswith("0 new") and site.count("/gen/") == 0
    [feed] = FeedList(settings.feeds_path).read()
    assert feed.last_result.startswith("0 new") and len(feed.hashes) == 200


@pytest.mark.parametrize("path", ["/feeds/rss2.xml", "/feeds/atom.xml", "/feeds/rss1.rdf"])
def test_rss_and_atom_feeds_are_read(site, library, path):
    pipe, settings = library
    feed = follow(site.url(path), settings)
    assert feed.title
    [result] = update([site.url(path)], pipe, settings)
    assert result.new and not result.error and not result.failed, [p.error for p in result.failed]
    docs = {d.doc: d for d in pipe.documents()}
    assert all(docs[p.doc].url.startswith("http://127.0.0.1") for p in result.new)


def test_cli_add_and_feed_commands(site, tmp_path, monkeypatch):
    for name, body in ARTICLES.items():
        write_article(tmp_path / "data", name, body)
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("RAG_FETCH_PRIVATE", "1")
    monkeypatch.setattr(pipeline_mod, "make_embedder", lambda settings: HashEmbedder(dim=64))
    expected = json.loads((WEB / "expected.json").read_text())[0]
    sentence = _first_sentence(site, expected["path"])
    monkeypatch.setattr("rag.generate.base.make_generator", lambda s: ScriptedGenerator(default=sentence))
    run = lambda *a: CliRunner().invoke(cli, list(a), obj={}, catch_exceptions=False)  # noqa: E731
    r = run("add", site.url(expected["path"]), "file:///etc/passwd")
    assert r.exit_code == 1 and "1 added, 1 failed" in r.output and "only http:// and https://" in r.output
    r = run("ask", "--json", sentence)
    cited = json.loads(r.output)["citations"]
    assert cited and cited[0]["url"].startswith("http://127.0.0.1") and cited[0]["outlet"] == expected["outlet"]
    assert "author" in cited[0] and {"doc", "title", "published", "quote", "start", "end"} <= set(cited[0])
    r = run("feed", "add", site.url("/feeds/rss2.xml"), "--no-update")
    assert r.exit_code == 0 and "following" in r.output
    r = run("feed", "update")
    assert r.exit_code == 0 and " new, " in r.output
    r = run("feed", "update", "--all")
    assert "0 new" in r.output
    r = run("feed", "list")
    assert site.url("/feeds/rss2.xml") in r.output and "0 new" in r.output
    r = run("feed", "remove", site.url("/feeds/rss2.xml"))
    assert r.exit_code == 0 and run("feed", "list").output.startswith("No feeds")


def _first_sentence(site, path: str) -> str:
    page = fetch(site.url(path), _settings(Path("/nonexistent")))
    text = read_article(page.body, page.url).text
    para = next(p for p in text.split("\n\n") if len(p.split()) > 12)
    return para.split(". ")[0].rstrip(".") + "."


# ---------------------------------------------------------------- bad input
def _refused(pipe, settings, url: str, *, feed: bool = False, **over) -> str:
    """The one-line reason an address is refused; asserts the library did not change."""
    s = settings.replace(**over) if over else settings
    before = _state(pipe, settings)
    if feed:
        with pytest.raises(FetchError) as e:
            follow(url, s)
        message = str(e.value)
    else:
        report = add_urls([url], pipe, s)
        [page] = report.pages
        assert page.status == "failed"
        message = page.error
    assert _state(pipe, settings) == before
    assert "\n" not in message and len(message) < 300
    return message


@pytest.mark.parametrize("url, words", [
    ("file:///etc/passwd", "only http:// and https://"),
    ("javascript:alert(1)", "only http:// and https://"),
    ("ftp://example.com/a", "only http:// and https://"),
    ("http://no-such-host.invalid/news", "could not be found"),
    ("http://127.0.0.1:9/news", "could not connect"),
])
def test_bad_addresses_are_refused(library, url, words):
    assert words in _refused(*library, url)


@pytest.mark.parametrize("path, words, over", [
    ("/status/404", "not found (HTTP 404)", {}),
    ("/status/500", "site had an error; try again later (HTTP 500)", {}),
    ("/slow?s=5", "did not answer within 1 s", {"fetch_timeout_s": 1.0}),
    ("/trickle?s=6", "too slowly", {"fetch_timeout_s": 2.0}),
    ("/loop/a", "redirects in a loop", {}),
    ("/redirect/8/status/404", "more than 5 redirects", {}),
    ("/image.png", "image/png, not a web page", {}),
    ("/doc.pdf", "application/pdf, not a web page", {}),
    ("/huge", "too large", {}),
    ("/huge-chunked", "too large", {}),
])
def test_bad_responses_are_refused(site, library, path, words, over):
    assert words in _refused(*library, site.url(path), **over)


@pytest.mark.parametrize("kind", ["login", "list"])
def test_pages_without_article_text_are_refused(site, library, kind):
    page = next(p for p in sorted(WEB.glob("*.html")) if kind in p.name)
    assert "no article text" in _refused(*library, site.url("/" + page.name))


def test_private_addresses_are_refused_unless_allowed(site, library, monkeypatch):
    pipe, settings = library
    message = _refused(pipe, settings, site.url("/status/404"), fetch_private=False)
    words, detail = split_detail(message)  # why, in words; the address and the setting in the folded detail
    assert words == ("this address points to this computer or a private network; addresses like that are not "
                     "fetched, so a web page cannot reach your local services")
    assert "127.0.0.1" not in words and "RAG_FETCH_PRIVATE" not in words
    assert detail.startswith("127.0.0.1, on this machine or its local network") and "RAG_FETCH_PRIVATE=1" in detail
    # every redirect hop is checked: the fixture site (loopback) counts as public here, the cloud metadata
    # address it redirects to does not
    real = fetch_mod._blocked
    monkeypatch.setattr(fetch_mod, "_blocked", lambda ip: not ip.is_loopback and real(ip))
    hop = site.url("/redirect-to?url=http://169.254.169.254/latest/meta-data/")
    message = _refused(pipe, settings, hop, fetch_private=False)
    assert message.startswith("the page redirects to this computer or a private network")
    assert "169.254.169.254" in message


def test_a_name_that_resolves_elsewhere_when_connecting_is_refused(site, library, monkeypatch):
    """DNS rebinding: the name passes the check with a public address, then answers with this machine's address
    when the connection is made. The connection goes only to an address that was checked, so it is refused."""
    import socket

    pipe, settings = library
    real = socket.getaddrinfo
    answers = iter(["93.184.216.34"])

    def rebinding(host, port, *args, **kw):
        if host != "news.rebind.test":
            return real(host, port, *args, **kw)
        ip = next(answers, "127.0.0.1")  # public once, then loopback
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    url = site.url("/status/404").replace("127.0.0.1", "news.rebind.test")
    asked = site.count("/status/404")
    message = _refused(pipe, settings, url, fetch_private=False)
    assert "this computer or a private network" in message and "news.rebind.test is 127.0.0.1" in message
    assert site.count("/status/404") == asked  # the fixture site was never reached
    # allowed, the connection goes to the address checked, and the site sees the name asked for
    answers = iter([])
    assert "HTTP 404" in _refused(pipe, settings, url, fetch_private=True)
    assert site.count("/status/404") == asked + 1


def test_removing_a_web_article_moves_its_fetched_page_too(site, library):
    pipe, settings = library
    site.put("/news/removed.html", _article("The lighthouse reopens to visitors in May.", "Lighthouse reopens"))
    [added] = add_urls([site.url("/news/removed.html")], pipe, settings).pages
    text = Path(settings.data_dir) / added.doc
    raw = text.parent / ".raw" / (text.stem + ".html")
    assert raw.is_file()
    pipe.remove([added.doc])
    assert not text.exists() and not raw.exists()
    trash = Path(settings.trash_path)
    [moved] = [p for p in trash.iterdir() if p.suffix == ".md"]
    assert (trash / ".raw" / (moved.stem + ".html")).read_bytes().startswith(b"<html>")
    assert added.doc not in {d.doc for d in pipe.documents()}


def test_a_page_added_again_that_now_fails_keeps_its_earlier_version(site, library):
    pipe, settings = library
    site.put("/news/vanishing.html", _article("The ferry timetable changes in spring.", "Ferry timetable"))
    [added] = add_urls([site.url("/news/vanishing.html")], pipe, settings).pages
    site.put("/news/vanishing.html", "gone", status=404)
    assert "HTTP 404" in _refused(pipe, settings, site.url("/news/vanishing.html"))
    assert "ferry timetable" in pipe.document_text(added.doc).lower()


@pytest.mark.parametrize("path, words", [
    ("/feeds/malformed.xml", "not a valid RSS or Atom feed"),
    ("/feeds/not-a-feed.xml", "a web page, not an RSS or Atom feed"),
    ("/status/404", "HTTP 404"),
])
def test_bad_feeds_are_refused(site, library, path, words):
    pipe, settings = library
    assert words in _refused(pipe, settings, site.url(path), feed=True)
    assert not FeedList(settings.feeds_path).read()


def test_a_feed_with_thousands_of_entries_takes_the_newest(site, library):
    pipe, settings = library
    s = settings.replace(feed_max_entries=15)
    url = site.url("/feeds/generated-3000.xml")
    follow(url, s)
    [result] = update(None, pipe, s)
    assert "lists 3,000 entries; took the newest 15" in result.note and len(result.new) == 15
    newest = {p.published for p in result.new}
    assert max(newest) >= min(newest)  # dated entries, newest first
    assert len(pipe.documents()) == len(ARTICLES) + 15


def test_url_normalisation():
    assert normalize_url("example.com/news") == "https://example.com/news"
    assert normalize_url(" HTTP://Example.com ") == "http://example.com/"
    for bad in ("", "   ", "http://", "data:text/html,hi", "mailto:a@b.c", "two words", "url", "localhost:8080/x"):
        with pytest.raises(FetchError):
            normalize_url(bad)
    with pytest.raises(FetchError, match="^“not a url” is not a web address: it has spaces in it"):
        normalize_url("not a url")
    assert os.environ.get("RAG_FETCH_PRIVATE") is None  # the tests' own settings allow loopback, not the env


def test_a_syndicated_story_gives_one_passage_naming_the_other_outlets(site, library):
    """The same wire story from three outlets: one passage in the top results, from the earliest publication, whose
    card names the other two; removing that copy makes the next earliest the one shown."""
    pipe, settings = library
    paths = sorted((WEB / "syndicated").glob("*.html"))
    report = add_urls([site.url(f"/syndicated/{p.name}") for p in paths], pipe, settings)
    assert [p.status for p in report.pages] == ["added"] * 3, [p.error for p in report.pages]
    pages = sorted(report.pages, key=lambda p: p.published)
    question = _first_sentence(site, "/syndicated/" + Path(pages[0].doc).stem.rsplit("-", 1)[0] + ".html")
    def story(k: int = 5) -> list:
        """The top passages of the story: (doc, also published by) of those holding the asked sentence."""
        hits = pipe.search(question, k=k)
        return [(h.chunk.doc, h.also_published_by) for h in hits if question[:-1] in " ".join(h.chunk.text.split())]

    assert story() == [(pages[0].doc, [pages[1].outlet, pages[2].outlet])]  # once, from the earliest
    pipe.remove([pages[0].doc])
    assert story() == [(pages[1].doc, [pages[2].outlet])]
    pipe.remove([pages[1].doc])
    assert story() == [(pages[2].doc, [])]  # alone now: no group


def test_the_library_tab_stops_following_a_feed_and_keeps_its_articles(site, library):
    from ui.web import WebSources

    pipe, settings = library
    url = site.url("/feeds/rss2.xml")
    follow(url, settings)
    update(None, pipe, settings)
    docs = {d.doc for d in pipe.documents()}
    web = WebSources(pipe, settings, warmup=None, library=None)
    report, listed, box = web.unfollow("  " + url + " ")
    assert "No longer following" in report and "stay in the library" in report and box == ""
    assert "No feeds followed yet" in listed and not FeedList(settings.feeds_path).read()
    assert {d.doc for d in pipe.documents()} == docs
    report, _, _ = web.unfollow(url)
    assert "not following" in report and "rag feed list" not in report  # the CLI's hint is not shown here
