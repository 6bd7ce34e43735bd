"""A messy folder through a real `rag ingest`: every bad file is reported with its reason, every good one indexed."""

import os
import shutil
import subprocess
import sys

import pytest
from rag_testdata import REPO_DATA, cli_env, make_pdf, pdf_bytes_from_writer

from rag.index.store import IndexStore
from rag.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


def test_messy_folder(tmp_path, model_cache):
    data = tmp_path / "data"
    data.mkdir()
    for f in REPO_DATA.glob("*.md"):
        shutil.copy(f, data / f.name)
    shutil.copy(REPO_DATA / "000_27674378f27b9ee8.md", data / "same-article-again.md")
    (data / "binary.txt").write_bytes(os.urandom(4096) + b"\x00" * 64)
    (data / "zero.txt").write_bytes(b"")
    (data / "latin1.txt").write_bytes("Le ministre français a évoqué la crise syrienne à Genève. "
                                      "Les négociations reprendront après l'été.".encode("latin-1"))
    (data / "garbage-utf8.txt").write_bytes(b"\xff\xfe\xfa" * 300 + bytes(range(128, 256)) * 10)
    with open(data / "huge.txt", "wb") as f:
        f.truncate(50 * 1024 * 1024)  # 50 MB (sparse): over the 20 MB default limit
    (data / "corrupt.pdf").write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog\nbroken")
    (data / "encrypted.pdf").write_bytes(pdf_bytes_from_writer(encrypt=True))
    (data / "report.pdf").write_bytes(make_pdf(["Grain exports through the Black Sea resumed in August.",
                                                "Shipping insurers raised their premiums."]))
    (data / "deep.html").write_text("<html><body>" + "<div>" * 20000 + "<p>Deeply nested note about a ceasefire "
                                    "in Idlib province.</p>" + "</div>" * 20000 + "</body></html>")
    (data / "loop").mkdir()
    os.symlink("..", data / "loop" / "back-up")
    settings = Settings(data_dir=data, index_dir=tmp_path / "index", cache_dir=model_cache)

    out = subprocess.run([sys.executable, "-m", "rag.cli", "ingest"], env=cli_env(settings),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    log = out.stdout + out.stderr
    expected = {
        "binary.txt": "binary",
        "zero.txt": "empty",
        "garbage-utf8.txt": "",
        "huge.txt": "too large",
        "corrupt.pdf": "corrupt PDF",
        "encrypted.pdf": "encrypted PDF",
        "same-article-again.md": "duplicate of",
        "back-up": "symlink",
    }
    for name, reason in expected.items():
        lines = [line for line in log.splitlines() if line.startswith("skipped") and name in line]
        assert lines, f"{name} not reported:\n{log}"
        assert reason.lower() in lines[0].lower(), lines[0]
    docs = IndexStore(settings.index_path).load().documents
    assert {"000_27674378f27b9ee8.md", "002_61ef342f1d10be73.md", "latin1.txt", "report.pdf", "deep.html"} <= set(docs)
    assert "évoqué" in docs["latin1.txt"].text and "Idlib" in docs["deep.html"].text
    assert not {n for n in expected if n in docs}
