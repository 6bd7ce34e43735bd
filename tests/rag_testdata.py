"""Small articles and a writer shared by the unit tests (a module, not conftest, so imports are unambiguous)."""

import io
import os
from pathlib import Path


def write_article(folder: Path, name: str, body: str, title: str = "", published: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    front = f"---\ntitle: {title or name}\noutlet: Test Wire\npublished: '{published or '2024-01-01'}'\n---\n"
    p.write_text(front + body, encoding="utf-8")
    return p


ARTICLES = {
    "syria.md": (
        "Russia began air strikes in Syria on Sept. 30 after a unanimous vote in the upper house. "
        "Putin wanted to end Russia's isolation from the West.\n\n"
        "The U.S. said contact would be limited to technical talks. "
        "Defense Secretary Ash Carter spoke at a briefing on Oct. 7."
    ),
    "iran.md": (
        "The general was killed by a drone in Baghdad. Russia's Defense Ministry praised his contribution.\n\n"
        "Putin expressed concern to the French president. He invited the German chancellor to Moscow."
    ),
    "oil.md": (
        "Oil prices fell sharply this year. The budget had to be cut and investments frozen.\n\n"
        "Sanctions made the recession worse, economists said."
    ),
}


def cli_env(settings, **extra) -> dict:
    """Environment for running `rag` in a subprocess against `settings`."""
    env = dict(os.environ, RAG_DATA_DIR=str(settings.data_dir), RAG_INDEX_DIR=str(settings.index_path),
               RAG_CACHE_DIR=str(settings.cache_path), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def make_pdf(lines: list[str]) -> bytes:
    """A minimal valid one-page PDF with Helvetica text, built by hand (no reportlab needed)."""
    ops = ["BT /F1 12 Tf 14 TL 72 720 Td"]
    for i, line in enumerate(lines):
        esc = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({esc}) Tj" if i == 0 else f"T* ({esc}) Tj")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def pdf_bytes_from_writer(encrypt: bool = False) -> bytes:
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(612, 792)
    if encrypt:
        w.encrypt(user_password="secret", algorithm="RC4-128")
    b = io.BytesIO()
    w.write(b)
    return b.getvalue()


REPO_DATA = Path(__file__).resolve().parents[1] / "data"


def smollm2_gguf() -> Path | None:
    """The SmolLM2-135M GGUF file that `make test` fetches (`rag models fetch smollm2-135m`), when present."""
    from rag import models
    from rag.settings import Settings

    spec, settings = models.get("smollm2-135m"), Settings.from_env()
    return models.model_path(spec, settings) if models.is_ready(spec, settings) else None
