"""Every kind of file either loads correctly or is skipped with a clear one-line reason."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest
from rag_testdata import make_pdf, pdf_bytes_from_writer

from rag.errors import LoadError, split_detail
from rag.ingest.clean import clean_article
from rag.ingest.loaders import DAMAGED_PDF, SUPPORTED_SUFFIXES, Skipped, load_file, load_paths

ROOT = Path(__file__).resolve().parent.parent
RAW = ROOT / "tests" / "fixtures" / "raw"

ARTICLE = (
    "Ankara Talks Open\n"
    "\n"
    "Putin will visit Ankara on Wednesday to meet President Erdogan, officials in\n"
    "Moscow said. The two leaders will discuss a U.S.-\n"
    "backed plan and the gas pipeline.\n"
    "\n"
    "Analysts expect no breakthrough.\n"
)


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


# ------------------------------------------------------------------ .txt


def test_txt_is_rejoined_and_cleaned(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path / "talks.txt", ARTICLE + "\nhttps://example.com/a\nhttps://example.com/b\n"))
    assert doc.doc == "talks.txt"
    assert doc.title == "Ankara Talks Open"
    assert doc.text == (
        "Putin will visit Ankara on Wednesday to meet President Erdogan, officials in Moscow said. "
        "The two leaders will discuss a U.S.-backed plan and the gas pipeline.\n\nAnalysts expect no breakthrough."
    )
    assert doc.meta["removed"] == ["headline", "bare URLs"]


def test_txt_title_falls_back_to_readable_stem(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path / "my_article-file.txt", "Just one sentence of body text here.\n"), "x/y.txt")
    assert doc.title == "My article file"
    assert doc.doc == "x/y.txt"


def test_raw_fixture_txt_matches_clean_article() -> None:
    raw = (RAW / "002_61ef342f1d10be73.txt").read_text(encoding="utf-8")
    doc = load_file(RAW / "002_61ef342f1d10be73.txt")
    assert doc.text == clean_article(raw).text
    assert doc.title == "Putin Now Needs a Plan B on Iran"
    assert doc.meta["syndicated_from"] == "Bloomberg"
    assert doc.meta["dek"].startswith("Qassem Soleimani’s death")


def test_utf8_bom(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path / "bom.txt", "\ufeffCafé “quoted” text, fine.\n".encode("utf-8")))
    assert doc.text == "Café “quoted” text, fine."


def test_latin1_text_is_decoded_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text = "Le café était très agréable. Déjà vu, naïve façade. Où est la gare?\n"
    with caplog.at_level(logging.WARNING, logger="rag.ingest.loaders"):
        doc = load_file(write(tmp_path / "latin1.txt", text.encode("latin-1")))
    assert doc.text == text.strip()
    assert "cp1252" in caplog.text


def test_cp1251_text_is_not_read_as_latin(tmp_path: Path) -> None:
    text = "Путин посетит Анкару в среду. Это важная встреча для обеих стран и для региона.\n"
    doc = load_file(write(tmp_path / "ru.txt", text.encode("cp1251")))
    assert doc.text == text.strip()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"  \n\t\n  ", "empty file"),
        (b"\x00\x01\x02binary\x00\xff" * 50, "binary file, not text"),
        (bytes(range(256)) * 8, "binary file, not text"),
        (b"\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc" * 50, "not UTF-8 text"),
        (bytes(range(128, 256)) * 10, "not UTF-8 text"),
    ],
)
def test_bad_txt_raises_one_line_reason(tmp_path: Path, data: bytes, reason: str) -> None:
    with pytest.raises(LoadError) as err:
        load_file(write(tmp_path / "bad.txt", data))
    assert reason in str(err.value)
    assert "\n" not in str(err.value)


def test_unsupported_suffix_and_size_limit(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match=r"^unsupported file type '\.xyz' \(supported: .*\.pdf"):
        load_file(write(tmp_path / "a.xyz", "text"))
    with pytest.raises(LoadError, match="^too large"):
        load_file(write(tmp_path / "big.txt", "word " * 100), max_bytes=100)
    assert {".txt", ".md", ".markdown", ".html", ".htm", ".pdf"} == SUPPORTED_SUFFIXES


# ------------------------------------------------------------------ .md


def test_md_front_matter(tmp_path: Path) -> None:
    md = (
        "---\ntitle: A Title\noutlet: TIME\nauthor: [Ann, Bob]\npublished: 2015-10-14\npublished_approx: true\n"
        "published_note: approx\nsyndicated_from: Bloomberg\n---\n\nBody paragraph one.\n\nBody two.\n"
    )
    doc = load_file(write(tmp_path / "a.md", md))
    assert (doc.title, doc.outlet, doc.author, doc.published, doc.published_approx) == (
        "A Title", "TIME", "Ann, Bob", "2015-10-14", True)
    assert doc.meta == {"published_note": "approx", "syndicated_from": "Bloomberg"}
    assert doc.text == "Body paragraph one.\n\nBody two."


def test_md_without_front_matter_uses_heading(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path / "b.markdown", "# The Heading\n\nSome text,\nkept as is.\n"))
    assert doc.title == "The Heading"
    assert doc.text == "# The Heading\n\nSome text,\nkept as is."  # .md bodies are never re-cleaned


@pytest.mark.parametrize(
    "front",
    ["---\ntitle: [unclosed\n---\nbody\n", "---\ntitle: a: b: c\n---\nbody\n", "---\n- a list\n---\nbody\n",
     "---\ntitle: no closing line\n\nbody\n"],
)
def test_md_malformed_front_matter(tmp_path: Path, front: str) -> None:
    with pytest.raises(LoadError) as err:
        load_file(write(tmp_path / "bad.md", front))
    words, detail = split_detail(str(err.value))
    assert words.startswith("the header block at the top") and detail.startswith("malformed front matter")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("name", "title", "published"),
    [("000_27674378f27b9ee8", "Why Putin Went Into Syria: Russia's Bid to End Its Isolation From the West", "2015-10-14"),
     ("002_61ef342f1d10be73", "Putin Now Needs a Plan B on Iran", "2020-01-06")],
)
def test_bundled_data_loads(name: str, title: str, published: str) -> None:
    doc = load_file(ROOT / "data" / f"{name}.md")
    raw = (RAW / f"{name}.txt").read_text(encoding="utf-8")
    assert doc.text == clean_article(raw).text
    assert (doc.title, doc.published, doc.published_approx, doc.author) == (title, published, True, "")
    assert doc.outlet and doc.meta["source_file"] == f"{name}.txt"


# ------------------------------------------------------------------ .html


def test_html_main_text_without_script(tmp_path: Path) -> None:
    para = "Putin will visit Ankara on Wednesday to meet <b>President Erdogan</b>, officials said. " * 4
    html = (
        "<html><head><title>Ankara Talks</title><script>var leak = 'SCRIPT_TEXT_LEAK';</script>"
        "<style>.x{color:red} STYLE_LEAK</style></head><body><nav>Home | News</nav><article><h1>Ankara Talks</h1>"
        f"<p>{para}</p><p>Analysts expect no breakthrough at the talks this week.</p>"
        "<script>document.write('SCRIPT_TEXT_LEAK')</script></article></body></html>"
    )
    doc = load_file(write(tmp_path / "a.html", html))
    assert "SCRIPT_TEXT_LEAK" not in doc.text and "STYLE_LEAK" not in doc.text
    assert "meet President Erdogan, officials said." in doc.text
    assert "Analysts expect no breakthrough at the talks this week." in doc.text
    assert "\n\n" in doc.text
    assert doc.title == "Ankara Talks"


def test_deeply_nested_html_does_not_crash(tmp_path: Path) -> None:
    html = "<html><body>" + "<div>" * 5000 + "<p>Deep text here.</p>" + "</div>" * 5000 + "</body></html>"
    try:
        doc = load_file(write(tmp_path / "deep.htm", html))
    except LoadError as e:  # acceptable, as long as it is a clear reason
        assert "nested" in str(e)
    else:
        assert "Deep text here." in doc.text


def test_empty_html(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="^empty file$"):
        load_file(write(tmp_path / "e.html", "<html><head><script>x()</script></head><body> </body></html>"))


# ------------------------------------------------------------------ .pdf


def test_pdf_text_is_extracted_and_rejoined(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path / "a.pdf", make_pdf(["Putin will visit Ankara on Wednesday to meet",
                                                        "President Erdogan, officials said."])))
    assert doc.text == "Putin will visit Ankara on Wednesday to meet President Erdogan, officials said."
    assert doc.title == "A"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"%PDF-1.4\nthis is not really a pdf\n%%EOF\n", "corrupt PDF"),
        (make_pdf(["Hello"])[:60], "corrupt PDF"),
        (pdf_bytes_from_writer(), "the PDF has no text to read (a scanned image?"),
        (pdf_bytes_from_writer(encrypt=True), "encrypted PDF"),
    ],
)
def test_bad_pdf(tmp_path: Path, data: bytes, reason: str) -> None:
    with pytest.raises(LoadError) as err:
        load_file(write(tmp_path / "bad.pdf", data))
    assert reason in str(err.value)
    assert "\n" not in str(err.value)
    if "corrupt" in reason:  # said in words first; the library's own wording is kept as the detail
        assert split_detail(str(err.value)) == (DAMAGED_PDF, str(err.value).split("(details: ", 1)[1][:-1])


# ------------------------------------------------------------------ load_paths


def test_load_paths_mixed_folder(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    write(root / "good.txt", ARTICLE)
    write(root / "copy_of_good.txt", ARTICLE)  # sorts first: it is kept, good.txt is the duplicate
    write(root / "good.md", "---\ntitle: MD\n---\nMarkdown body.\n")
    write(root / "good.html", "<html><body><article><p>An HTML body paragraph.</p></article></body></html>")
    write(root / "good.pdf", make_pdf(["A PDF body sentence."]))
    write(root / "latin1.txt", "Le café était très agréable ce matin.\n".encode("latin-1"))
    write(root / "sub" / "inner.txt", "Inner file text.\n")
    write(root / "sub" / "deeper" / "leaf.md", "Leaf text.\n")
    write(root / "binary.txt", b"\x00\x01\x02\x03" * 100)
    write(root / "empty.txt", b"")
    write(root / "garbage.txt", b"\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc" * 50)
    write(root / "corrupt.pdf", b"%PDF-1.4\ngarbage\n")
    write(root / "bad.md", "---\ntitle: [unclosed\n---\nbody\n")
    write(root / "script.html", "<html><body><script>alert('SCRIPT_TEXT_LEAK')</script><p>Visible.</p></body></html>")
    write(root / "image.png", b"\x89PNG\r\n\x1a\n")
    write(root / ".hidden.txt", "hidden text")
    write(root / ".git" / "config.txt", "hidden dir")
    write(root / "index" / "chunks.txt", "the index lives here")
    os.symlink(root, root / "sub" / "loop")  # sub/loop -> corpus: a loop
    os.symlink(root / "sub", root / "sub" / "deeper" / "up")  # another loop, two levels

    docs, skipped = load_paths([root])

    assert [d.doc for d in docs] == [
        "copy_of_good.txt", "good.html", "good.md", "good.pdf", "latin1.txt", "script.html",
        "sub/deeper/leaf.md", "sub/inner.txt",
    ]
    by_id = {d.doc: d for d in docs}
    assert by_id["latin1.txt"].text == "Le café était très agréable ce matin."
    assert by_id["script.html"].text == "Visible."
    assert by_id["good.pdf"].text == "A PDF body sentence."
    reasons = {Path(s.path).relative_to(root).as_posix(): s.reason for s in skipped}
    assert reasons["good.txt"] == "duplicate of copy_of_good.txt"
    assert reasons["binary.txt"] == "binary file, not text"
    assert reasons["empty.txt"] == "empty file"
    assert "not UTF-8 text" in reasons["garbage.txt"]
    assert "corrupt PDF" in reasons["corrupt.pdf"]
    assert "malformed front matter" in reasons["bad.md"]
    assert reasons["image.png"].startswith("unsupported file type '.png'")
    assert reasons["sub/loop"] == "symlink loop"
    assert reasons["sub/deeper/up"] == "symlink loop"
    assert len(skipped) == len(reasons) == 9  # hidden files and index/ are skipped silently
    assert all(isinstance(s, Skipped) and "\n" not in s.reason for s in skipped)

    again = load_paths([root])
    assert [d.doc for d in again[0]] == [d.doc for d in docs] and again[1] == skipped


def test_load_paths_files_given_directly(tmp_path: Path) -> None:
    a = write(tmp_path / "one" / "a.txt", "First text.\n")
    b = write(tmp_path / "two" / "b.md", "Second text.\n")
    dup = write(tmp_path / "two" / "dup.txt", "First text.\n")
    docs, skipped = load_paths([a, b, dup, tmp_path / "missing.txt", tmp_path / "x.docx"])
    assert [d.doc for d in docs] == ["a.txt", "b.md"]
    assert [s.reason for s in skipped] == ["not found", "not found", "duplicate of a.txt"]


def test_load_paths_unsupported_file_given_directly(tmp_path: Path) -> None:
    f = write(tmp_path / "x.docx", b"PK\x03\x04")
    docs, skipped = load_paths([f])
    assert docs == [] and skipped[0].reason.startswith("unsupported file type '.docx'")


def test_load_paths_copies_of_the_fixtures(tmp_path: Path) -> None:
    for f in RAW.glob("*.txt"):
        shutil.copy(f, tmp_path / f.name)
    docs, skipped = load_paths([tmp_path])
    assert [d.doc for d in docs] == ["000_27674378f27b9ee8.txt", "002_61ef342f1d10be73.txt"] and skipped == []
