"""Upload checks without a server: names, types, sizes, and never writing outside the folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from ui.uploads import safe_filename, store_uploads


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("../../x.txt", "x.txt"),
        ("/etc/passwd", "passwd"),
        ("..\\..\\evil.md", "evil.md"),
        ("C:\\Users\\me\\Report 2024.PDF", "Report_2024.pdf"),
        ("..", "upload"),
        ("...txt", "txt"),
        (".hidden.md", "hidden.md"),
        ("a..b.txt", "a.b.txt"),
        ("Ünïcödé news.html", "Unicode_news.html"),
        ("rm -rf $(x);<b>.md", "rm_-rf_x_b.md"),
        ("x" * 300 + ".txt", "x" * 116 + ".txt"),
    ],
)
def test_safe_filename(raw: str, safe: str) -> None:
    assert safe_filename(raw) == safe


def _file(d: Path, name: str, data: bytes) -> Path:
    p = d / name
    p.write_bytes(data)
    return p


def test_store_uploads_checks_each_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    dest = tmp_path / "data" / "uploads"
    files = [
        _file(src, "good.md", b"# Good\n\nSome text."),
        _file(src, "evil.exe", b"MZ..."),
        _file(src, "noext", b"text"),
        _file(src, "big.txt", b"x" * (1_048_576 + 1)),
        _file(src, "empty.txt", b""),
    ]
    intake = store_uploads(files, dest, max_mb=1)
    assert intake.saved == [(dest / "good.md").resolve()]
    reasons = dict(intake.rejected)
    assert "unsupported file type (.exe)" in reasons["evil.exe"]
    assert "no extension" in reasons["noext"]
    assert "too large" in reasons["big.txt"] and "1 MB" in reasons["big.txt"]
    assert "empty" in reasons["empty.txt"]
    assert sorted(p.name for p in dest.iterdir()) == ["good.md"]


def test_store_uploads_never_writes_outside(tmp_path: Path) -> None:
    weird = tmp_path / "a" / "b"
    weird.mkdir(parents=True)
    src = _file(weird, "..x.txt", b"hello")
    dest = tmp_path / "a" / "b" / "uploads"
    # a symlink planted in the upload folder must not be followed out of it
    dest.mkdir()
    (dest / "x.txt").symlink_to(tmp_path / "outside.txt")
    intake = store_uploads([src], dest, max_mb=1)
    assert intake.saved == [] and intake.rejected == [("x.txt", "invalid file name")]
    assert not (tmp_path / "outside.txt").exists()


class _Ready:
    ready, error = True, ""

    def wait(self, timeout: float | None = None) -> bool:
        return True


def test_a_removed_article_uploaded_again_keeps_its_id(corpus: Path, tmp_path: Path, hash_embedder) -> None:
    """The id is what citations, kept conversations and the API name: the same article (same file name, or the
    same bytes under another name) comes back under it, not as uploads/<name>; a new article goes to uploads/."""
    from rag.pipeline import Pipeline
    from rag.settings import Settings
    from ui.library import Library

    settings = Settings(data_dir=corpus, index_dir=tmp_path / "index")
    pipe = Pipeline(settings, embedder=hash_embedder)
    pipe.ingest()
    library = Library(pipe, settings, _Ready())  # type: ignore[arg-type]
    ids = lambda: {d.doc for d in pipe.documents()}  # noqa: E731
    original = (corpus / "oil.md").read_bytes()
    pipe.remove(["oil.md"])
    assert "oil.md" not in ids() and not (corpus / "oil.md").exists()

    src = tmp_path / "downloads"
    src.mkdir()
    report, _ = library.add_files([str(_file(src, "oil.md", original))])
    assert "Added 1 article" in report and "oil.md" in ids() and "uploads/oil.md" not in ids()
    assert (corpus / "oil.md").read_bytes() == original
    assert not list((corpus / ".removed").glob("oil*.md"))  # the trashed copy went with its return

    pipe.remove(["oil.md"])
    library.add_files([str(_file(src, "oil (1).md", original))])  # renamed by a browser's download
    assert "oil.md" in ids() and not any(d.startswith("uploads/") for d in ids())

    library.add_files([str(_file(src, "new.md", b"# New\n\nA council voted on the harbour budget on Monday."))])
    assert "uploads/new.md" in ids()
    pipe.remove(["uploads/new.md"])
    library.add_files([str(_file(src, "new.md", b"# New\n\nA council voted again on the harbour budget."))])
    assert "uploads/new.md" in ids()  # an upload comes back to uploads/, updated text and all
    pipe.store.close()
