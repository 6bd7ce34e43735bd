"""Server-side checks for uploaded articles: allowed types, size limit, and a safe file name.

The browser's checks can be skipped by anyone calling the HTTP API, so everything is checked again
here before a byte is written, and nothing is ever written outside the upload folder.
"""

from __future__ import annotations

import logging
import re
import shutil
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

log = logging.getLogger(__name__)

ALLOWED_SUFFIXES = (".txt", ".md", ".html", ".pdf")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 120


def safe_filename(name: str) -> str:
    """Basename only, ASCII letters/digits/._- only, no leading dots, never "" or ".."."""
    base = PureWindowsPath(PurePosixPath(str(name)).name).name  # strips both / and \ folders
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    base = _UNSAFE.sub("_", base)
    base = re.sub(r"\.{2,}", ".", base).strip("._-")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = stem[: MAX_NAME - len(suffix) - 1].strip("._-") or "upload"
    return f"{stem}.{suffix.lower()}" if suffix else stem


@dataclass
class Intake:
    """What happened to the files of one upload, before the pipeline sees them."""

    saved: list[Path] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (name shown to the user, reason)
    backups: dict[Path, Path] = field(default_factory=dict)  # saved path -> the earlier upload it replaced
    returned: list[Path] = field(default_factory=list)  # removed articles put back at their old place (and id)

    def discard(self, path: Path) -> bool:
        """Delete a stored upload that could not be indexed, putting back the file it replaced.

        True when an earlier version came back (it then needs indexing again)."""
        path = Path(path)
        if path in self.saved:
            self.saved.remove(path)
        path.unlink(missing_ok=True)
        backup = self.backups.pop(path, None)
        if backup is not None and backup.exists():
            backup.replace(path)
            return True
        return False

    def commit(self) -> None:
        """The uploads are indexed: the replaced versions are no longer needed."""
        for backup in self.backups.values():
            backup.unlink(missing_ok=True)
        self.backups.clear()


def _size_mb(n: int) -> str:
    return f"{n / 1_048_576:.1f} MB"


def check_upload(src: Path, name: str, max_mb: int) -> str | None:
    """The reason to refuse this file, or None when it may be stored."""
    suffix = Path(name).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        shown = suffix or "no extension"
        return f"unsupported file type ({shown}); allowed: {', '.join(ALLOWED_SUFFIXES)}"
    try:
        size = src.stat().st_size
    except OSError:
        return "the upload could not be read"
    if size > max_mb * 1_048_576:
        return f"too large ({_size_mb(size)}; the limit is {max_mb} MB)"
    if size == 0:
        return "the file is empty"
    return None


def store_uploads(files: list[str | Path], upload_dir: Path, max_mb: int,
                  place: Callable[[str, Path], Path | None] | None = None) -> Intake:
    """Copy acceptable files into `upload_dir` under sanitised names; refuse the rest with a reason.

    A file with the same name replaces the earlier upload, so re-uploading an article updates it; the
    earlier file is kept aside until the caller calls `Intake.commit()` (or `discard()` puts it back).
    `place(name, file)`: where a removed article goes back to keep its id (rag.ingest.trash.former_place).
    """
    out = Intake()
    root = Path(upload_dir)
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    for f in files:
        src = Path(f)
        name = safe_filename(src.name)
        reason = check_upload(src, name, max_mb)
        back = place(name, src) if reason is None and place is not None else None
        if back is not None:
            try:
                back.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, back)
            except OSError as e:
                log.warning("could not put %s back at %s: %s", name, back, e)
            else:
                out.saved.append(back)
                out.returned.append(back)
                continue
        if reason is None:
            dest = (root / name).resolve()
            if dest.parent != root:  # cannot happen after safe_filename; kept as a hard guard
                reason = "invalid file name"
            else:
                try:
                    if dest.exists():  # kept (hidden, so never indexed) until the new version is indexed
                        backup = dest.with_name(f".replaced-{dest.name}")
                        dest.replace(backup)
                        out.backups[dest] = backup
                    shutil.copyfile(src, dest)
                except OSError as e:
                    log.warning("could not store upload %s: %s", name, e)
                    reason = "the file could not be stored"
                    if dest in out.backups:
                        out.backups.pop(dest).replace(dest)
                else:
                    out.saved.append(dest)
        if reason is not None:
            log.info("upload refused: %s (%s)", name, reason)
            out.rejected.append((name, reason))
    return out
