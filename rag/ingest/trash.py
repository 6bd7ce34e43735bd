"""Where removed documents' files go, and how an article removed and added again gets its old id back.

A removed document's file moves to the data folder's hidden `.removed/` folder (the ingest walk skips it). A ledger
there (`.removed/ledger.json`) remembers each file's former place and content hash, because a document's id is its
path: an upload of the same article (same file name or same bytes) goes back to that place and keeps its id, which
is what citations, conversations kept in the browser and the API name.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

from rag.models import sha256_file

log = logging.getLogger(__name__)

LEDGER = "ledger.json"


def under(path: str | Path, roots: Sequence[Path]) -> bool:
    """Whether `path` is one of `roots` or inside one (both already resolved)."""
    p = Path(path)
    return any(p == r or r in p.parents for r in roots)


def _read_ledger(trash_dir: Path) -> dict[str, dict]:
    try:
        data = json.loads((Path(trash_dir) / LEDGER).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def _write_ledger(trash_dir: Path, ledger: dict[str, dict]) -> None:
    path = Path(trash_dir) / LEDGER
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(ledger, indent=1, sort_keys=True))
    tmp.replace(path)


def free_name(folder: Path, name: str) -> Path:
    """`folder/name`, or `folder/stem-2.ext`, `-3`, ... when that name is taken (an earlier removal)."""
    dest = folder / name
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 1
    while dest.exists() or dest.is_symlink():
        n += 1
        dest = folder / f"{stem}-{n}{suffix}"
    return dest


def trash_sources(sources: dict[str, str], trash_dir: Path, roots: Sequence[Path]) -> list[str]:
    """Move each removed document's file (doc id -> path) out of the folders ingest walks, noting its former place
    in the ledger; returns a note for each file, saying where it went or why it stayed."""
    resolved = [Path(r).resolve() for r in roots]
    notes: list[str] = []
    ledger = _read_ledger(trash_dir)
    for doc_id, src in sources.items():
        if not src:
            notes.append(f"{doc_id}: no source file is recorded; nothing was moved.")
            continue
        path = Path(src)
        # the folder is resolved, not the file: a symlink inside the data folder is moved, not its target
        place = path.parent.resolve() / path.name
        if not under(place, resolved):
            notes.append(f"{doc_id}: {src} is outside the data folder and was left there; "
                         "ingesting that path again adds it back.")
            continue
        if not (path.exists() or path.is_symlink()):
            notes.append(f"{doc_id}: {src} was already gone.")
            continue
        try:
            digest = sha256_file(path) if path.is_file() else ""
            trash_dir.mkdir(parents=True, exist_ok=True)
            dest = free_name(trash_dir, path.name)
            shutil.move(str(path), str(dest))
        except OSError as e:
            log.warning("could not move %s to %s: %s", src, trash_dir, e)
            notes.append(f"{doc_id}: could not move {src} to {trash_dir} ({e.strerror or e}); move or delete it, "
                         "or the next ingest adds it back.")
            continue
        _move_raw(path, dest)
        ledger[dest.name] = {"doc": doc_id, "place": str(place), "sha256": digest}
        log.info("moved %s to %s", src, dest)
        notes.append(f"{doc_id}: moved {src} to {dest}")
    if ledger:
        try:
            _write_ledger(trash_dir, ledger)
        except OSError as e:  # only costs a re-upload its old id
            log.warning("could not update %s: %s", Path(trash_dir) / LEDGER, e)
    return notes


def raw_path(path: Path) -> Path:
    """Where a web article's page as fetched is kept: a hidden `.raw/` folder beside its text file."""
    return path.parent / ".raw" / (path.stem + ".html")


def _move_raw(path: Path, dest: Path) -> None:
    """A web article's fetched page goes to the trash with its text file."""
    raw, target = raw_path(path), raw_path(dest)
    if not raw.is_file():
        return
    try:
        target.parent.mkdir(exist_ok=True)
        shutil.move(str(raw), str(target))
    except OSError as e:
        log.warning("could not move %s to the trash: %s", raw, e)


def former_place(trash_dir: Path, name: str, upload: Path, roots: Sequence[Path]) -> Path | None:
    """Where an upload named `name` goes back to when it is a removed article (same file name, or same bytes), so
    it keeps its old id; None for a new article, or when that place is taken or no longer inside `roots`. The
    newest removal wins when several match."""
    ledger = _read_ledger(trash_dir)
    if not ledger:
        return None
    digest = sha256_file(upload)
    resolved = [Path(r).resolve() for r in roots]
    for trashed in sorted(ledger, key=lambda k: (Path(trash_dir) / k).stat().st_mtime
                          if (Path(trash_dir) / k).exists() else 0, reverse=True):
        entry = ledger[trashed]
        place = Path(str(entry.get("place", "")))
        if place.name != name and entry.get("sha256") != digest:
            continue
        if not place.name or not under(place.parent.resolve() / place.name, resolved):
            continue
        if place.exists() or place.is_symlink() or place.suffix.lower() != Path(name).suffix.lower():
            return None  # the id is in use (the article is back already), or another kind of file: a new upload
        return place
    return None


def forget(trash_dir: Path, place: Path) -> None:
    """The article at `place` is back: its trashed copies and their ledger entries go."""
    ledger = _read_ledger(trash_dir)
    gone = [k for k, v in ledger.items() if Path(str(v.get("place", ""))) == Path(place)]
    for k in gone:
        ledger.pop(k)
        (Path(trash_dir) / k).unlink(missing_ok=True)
    if gone:
        try:
            _write_ledger(trash_dir, ledger)
        except OSError as e:
            log.warning("could not update %s: %s", Path(trash_dir) / LEDGER, e)
