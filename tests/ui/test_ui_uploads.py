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
