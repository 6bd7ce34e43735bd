"""The loopback fixture web site (tests/webfixtures.py) that fetch and feed tests rely on: a few of each route."""

from __future__ import annotations

import html
import http.client
import itertools
import json
import re
import time
from datetime import date
from email.utils import parsedate_to_datetime

import feedparser
import httpx
import pytest
from webfixtures import WEB, FixtureSite, fixture_site, generated_story

site = pytest.fixture(fixture_site, scope="module", name="site")


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=5) as c:
        yield c


def test_binds_loopback_on_a_free_port(site):
    host, port = site.server.server_address[:2]
    assert host == "127.0.0.1" and port > 0
    assert site.url("/a/b.html") == f"http://127.0.0.1:{port}/a/b.html" == site.url("a/b.html")


def test_feeds_are_served_with_their_type_and_the_base_filled_in(site, client):
    types = {"feeds/rss2.xml": "application/rss+xml", "feeds/atom.xml": "application/atom+xml",
             "feeds/rss1.rdf": "application/rdf+xml", "feeds/not-a-feed.xml": "text/html",
             "feeds/malformed.xml": "application/rss+xml", "council-budget.html": "text/html"}
    for path, ctype in types.items():
        r = client.get(site.url(path))
        assert r.status_code == 200 and r.headers["content-type"].startswith(ctype), path
        assert "{{BASE}}" not in r.text, path
    feed = feedparser.parse(client.get(site.url("feeds/rss2.xml")).content)
    assert not feed.bozo and len(feed.entries) == 5
    assert all(e.link.startswith(site.base + "/") for e in feed.entries)
    for path in ("feeds/atom.xml", "feeds/rss1.rdf"):
        parsed = feedparser.parse(client.get(site.url(path)).content)
        assert not parsed.bozo and parsed.entries and all(e.link.startswith(site.base) for e in parsed.entries)
    assert feedparser.parse(client.get(site.url("feeds/malformed.xml")).content).bozo


def test_feeds_answer_conditional_gets_with_304(site, client):
    url = site.url("feeds/atom.xml")
    first = client.get(url)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
    assert client.get(url, headers={"If-None-Match": '"something-else"'}).status_code == 200
    # articles carry no validators; generated feeds do
    assert "etag" not in client.get(site.url("council-budget.html")).headers
    gen = client.get(site.url("feeds/generated-5.xml?start=10"))
    assert client.get(str(gen.url), headers={"If-None-Match": gen.headers["etag"]}).status_code == 304
    assert client.get(site.url("feeds/generated-5.xml?start=11"),
                      headers={"If-None-Match": gen.headers["etag"]}).status_code == 200


def test_put_replaces_a_feed_and_changes_its_validators(site, client):
    site.put("feeds/live.xml", '<rss version="2.0"><channel><title>Live</title>'
             '<item><link>{{BASE}}/council-budget.html</link></item></channel></rss>')
    first = client.get(site.url("feeds/live.xml"))
    assert site.base + "/council-budget.html" in first.text
    site.put("feeds/live.xml", first.text.replace("</channel>", "<item><link>x</link></item></channel>"))
    second = client.get(site.url("feeds/live.xml"), headers={"If-None-Match": first.headers["etag"]})
    assert second.status_code == 200 and second.headers["etag"] != first.headers["etag"]
    assert parsedate_to_datetime(second.headers["last-modified"]) > parsedate_to_datetime(first.headers["last-modified"])
    site.remove("feeds/live.xml")
    assert client.get(site.url("feeds/live.xml")).status_code == 404


@pytest.mark.parametrize("code", [404, 500, 503])
def test_status_routes(site, client, code):
    r = client.get(site.url(f"status/{code}"))
    assert r.status_code == code and r.headers["content-type"].startswith("text/html") and str(code) in r.text


def test_missing_files_and_escapes_from_the_root_are_404(site, client):
    assert client.get(site.url("no-such-page.html")).status_code == 404
    for raw in ("/../../webfixtures.py", "/%2e%2e/%2e%2e/webfixtures.py"):  # httpx would normalise these away
        conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=5)
        conn.request("GET", raw)
        assert conn.getresponse().status == 404, raw
        conn.close()


def test_redirects(site, client):
    r = client.get(site.url("redirect/3/council-budget.html?utm_source=x"), follow_redirects=True)
    assert r.status_code == 200 and len(r.history) == 3
    assert str(r.url) == site.url("council-budget.html?utm_source=x")
    with pytest.raises(httpx.TooManyRedirects):
        client.get(site.url("loop/a"), follow_redirects=True)
    r = client.get(site.url("redirect-to"), params={"url": "http://10.1.2.3/admin"})
    assert r.status_code == 302 and r.headers["location"] == "http://10.1.2.3/admin"
    assert client.get(site.url("redirect-to?url=file:///etc/passwd&status=301")).headers["location"] == \
        "file:///etc/passwd"
    # the clean canonical URL of the utm-tagged page serves the same page
    assert client.get(site.url("transit/metro-fares-rise-july")).text == \
        client.get(site.url("transit-fares.html?utm_source=newsletter&utm_medium=email")).text


def test_request_log_counts_what_was_fetched():
    with FixtureSite() as s, httpx.Client() as c:
        c.get(s.url("feeds/rss2.xml"))
        etag = c.get(s.url("feeds/rss2.xml")).headers["etag"]
        c.get(s.url("feeds/rss2.xml"), headers={"If-None-Match": etag})
        c.get(s.url("flood-evacuation.html"))
        assert s.requests == ["/feeds/rss2.xml"] * 3 + ["/flood-evacuation.html"]
        assert s.count("/feeds/") == 3 and s.count("feeds") == 3 and s.count("/gen/") == 0
        assert [h.status for h in s.hits] == [200, 200, 304, 200]
        assert s.hits[2].headers["If-None-Match"] == etag
        s.reset()
        assert s.requests == []


def test_slow_page_times_out_a_short_client_timeout(site):
    start = time.monotonic()
    with pytest.raises(httpx.TimeoutException):
        httpx.get(site.url("slow?s=5"), timeout=0.5)
    assert time.monotonic() - start < 2


def test_trickle_sends_headers_first_then_the_body_slowly(site, client):
    start = time.monotonic()
    with client.stream("GET", site.url("trickle?s=0.6&every=0.2")) as r:
        headers_at = time.monotonic() - start
        body = r.read()
    assert r.status_code == 200 and headers_at < 0.3 <= time.monotonic() - start
    assert body.endswith(b"</html>\n") and len(body) == int(r.headers["content-length"])


def test_huge_responses_can_be_cut_off_after_one_piece(site, client):
    with client.stream("GET", site.url("huge")) as r:
        assert r.headers["content-length"] == str(50 * 1024 * 1024)
        assert r.headers["content-type"].startswith("text/html")
        assert next(r.iter_raw()).startswith(b"<!DOCTYPE html>")
    with client.stream("GET", site.url("huge-chunked")) as r:
        assert "content-length" not in r.headers and r.headers["transfer-encoding"] == "chunked"
        assert next(r.iter_raw())
    assert len(client.get(site.url("huge-chunked?mb=0.25")).content) == 256 * 1024  # the whole, when small
    assert client.get(site.url("status/404")).status_code == 404  # the server is still answering


def test_image_and_pdf(site, client):
    png = client.get(site.url("image.png"))
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG\r\n\x1a\n")
    pdf = client.get(site.url("doc.pdf"))
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")


def test_generated_feed_and_articles_agree(site, client):
    feed = feedparser.parse(client.get(site.url("feeds/generated-40.xml?start=100")).content)
    assert not feed.bozo and len(feed.entries) == 40
    assert [e.link for e in feed.entries[:2]] == [site.url("gen/article-139.html"), site.url("gen/article-138.html")]
    assert len({e.id for e in feed.entries}) == 40
    times = [e.published_parsed for e in feed.entries]
    assert times == sorted(times, reverse=True) and len({t[:3] for t in times}) == 40  # newest first, one a day
    page = client.get(feed.entries[0].link).text
    ld = json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)[1])
    assert ld["datePublished"][:10] == time.strftime("%Y-%m-%d", feed.entries[0].published_parsed)
    assert ld["author"]["name"] == "Reporter 6" and ld["publisher"]["name"] == "Generated Daily"
    assert 'property="og:site_name" content="Generated Daily"' in page and ld["headline"] == feed.entries[0].title
    assert client.get(site.url("feeds/generated-5000.xml")).text.count("<item>") == 5000
    assert client.get(site.url("feeds/generated-5001.xml")).status_code == 400


def test_generated_articles_are_not_near_duplicates():
    stories = [generated_story(i) for i in range(240)]
    assert [s["paragraphs"] for s in stories[:3]] == [generated_story(i)["paragraphs"] for i in range(3)]
    assert all(4 <= len(s["paragraphs"]) <= 6 for s in stories)
    words = [frozenset(re.findall(r"\w+", " ".join(s["paragraphs"]).lower())) for s in stories]
    worst = max(len(a & b) / len(a | b) for a, b in itertools.combinations(words, 2))
    assert worst < 0.75
    assert len({s["title"] for s in stories}) >= 235


def test_pages_without_an_article_are_there_too(site, client):
    for path in ("login.html", "section-list.html"):
        r = client.get(site.url(path))
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert client.get(site.url("section-list.html")).text.count('<li><a href="') == 20


def test_expected_json_pages_are_served(site, client):
    expected = json.loads((WEB / "expected.json").read_text(encoding="utf-8"))
    assert len(expected) == 11
    for e in expected:
        r = client.get(site.url(e.get("served_as", e["path"])))
        assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8", e["path"]
        assert set(e) >= {"path", "title", "outlet", "author", "published", "canonical"}
        # the truth is on the page, in some form a reader (or a parser) can find
        page, day = html.unescape(r.text), date.fromisoformat(e["published"])
        assert all(e[k] in page for k in ("title", "outlet", "author")), e["path"]
        forms = [e["published"], f"{day:%B} {day.day}, {day.year}", f"{day.day} {day:%B} {day.year}",
                 f"{day:%b}. {day.day}, {day.year}"]
        assert any(f in page for f in forms), e["path"]
        if e["canonical"]:
            assert f'<link rel="canonical" href="{site.url(e["canonical"])}">' in r.text
            assert client.get(site.url(e["canonical"])).status_code == 200
