"""The set-up's terminal output: one status line per running command, drawn from pip's chatter, and failures.

Standard library only, like the installer that uses it (it runs before anything is installed). Warnings that are
not problems for this app are kept out of the terminal: pip's notes about unreachable extra indexes and about
`lxml[html_clean]` (the separate `lxml_html_clean` package is installed instead).
"""

from __future__ import annotations

import re
import shutil
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

# pip lines that read as failures but are not problems for this app
HARMLESS = (
    re.compile(r"WARNING: Location '.*' is ignored"),  # an extra index that is not a folder on this machine
    re.compile(r"WARNING: .* does not provide the extra 'html_clean'"),  # lxml_html_clean is installed instead
    re.compile(r"WARNING: Skipping .* due to invalid metadata"),
    re.compile(r"^\s*\[notice\]"),  # "a new release of pip is available"
)
_PROGRESS = re.compile(r"Progress (\d+) of (\d+)")
_DOWNLOADING = re.compile(r"Downloading (\S+?)(?:-\d[^ ]*)? \(([\d.]+ [kMG]?B)\)")
_COLLECTING = re.compile(r"^Collecting (\S+)")
_NINJA = re.compile(r"^\s*\[(\d+)/(\d+)\]")
_INSTALLING = re.compile(r"^Installing collected packages: (.*)")
_BUILDING = re.compile(r"Building wheel for (\S+)")


# ---------------------------------------------------------------- output


class Line:
    """One status line under a step: a bar redrawn in place on a terminal, sparse plain lines in a log."""

    def __init__(self, stream=None) -> None:
        self.stream = sys.stdout if stream is None else stream  # the stdout of now, not of import time
        self.tty = self.stream.isatty()
        self.width = min(shutil.get_terminal_size((100, 20)).columns, 110)
        self._last = ""
        self._last_plain = 0.0
        self._lock = threading.Lock()

    def show(self, text: str, force: bool = False) -> None:
        with self._lock:
            if self.tty:
                text = text[: self.width - 1]
                self.stream.write("\r" + text + " " * max(0, len(self._last) - len(text)))
                self.stream.flush()
                self._last = text
            elif force or time.monotonic() - self._last_plain > 15:  # a log gets a line every 15 s at most
                self.stream.write(text + "\n")
                self.stream.flush()
                self._last_plain = time.monotonic()

    def clear(self) -> None:
        with self._lock:
            if self.tty and self._last:
                self.stream.write("\r" + " " * len(self._last) + "\r")
                self.stream.flush()
            self._last = ""


def bar(done: float, total: float, width: int = 24) -> str:
    frac = 0.0 if total <= 0 else min(1.0, done / total)
    filled = int(frac * width)
    return "[" + "#" * filled + "-" * (width - filled) + f"] {frac:4.0%}"


def human_bytes(n: float) -> str:
    """Decimal units, as pip prints them."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit in ("B", "kB") else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def say(text: str) -> None:
    print(text, flush=True)


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"


# ---------------------------------------------------------------- running pip


class PipWatcher:
    """Reads pip's output line by line: writes it to the log and turns it into one live status line."""

    def __init__(self, line: Line, label: str) -> None:
        self.line = line
        self.label = label
        self.started = time.monotonic()
        self.current = ""
        self.size = ""
        self.collected = 0
        self.phase = "resolving"
        self.compiled = (0, 0)  # (files compiled, of) while llama.cpp builds
        self.tail: list[str] = []

    def feed(self, raw: str) -> None:
        text = raw.rstrip("\n")
        self.tail = (self.tail + [text])[-60:]
        if any(p.search(text) for p in HARMLESS):
            return
        elapsed = duration(time.monotonic() - self.started)
        if m := _COLLECTING.match(text):
            self.collected += 1
            self.phase = "resolving"
            self.line.show(f"    {self.label}: resolving ({self.collected} packages so far, {elapsed})")
        elif m := _DOWNLOADING.search(text):
            self.current, self.size = m.group(1).split("/")[-1], m.group(2)
            self.phase = "downloading"
            self.line.show(f"    downloading {self.current} ({self.size})")
        elif m := _PROGRESS.search(text):
            done, total = int(m.group(1)), int(m.group(2))
            self.line.show(f"    downloading {self.current} {bar(done, total)} of {human_bytes(total)}",
                           force=done == total and total > 50e6)
        elif m := _BUILDING.search(text):
            self.phase = f"building {m.group(1)}"
            self.line.show(f"    {self.phase} ({elapsed})")
        elif m := _NINJA.match(text):
            self.compiled = (int(m.group(1)), int(m.group(2)))
            self.phase = "compiling"
            done, total = self.compiled
            self.line.show(self._compiling(elapsed), force=done in (total // 4, total // 2, 3 * total // 4))
        elif m := _INSTALLING.match(text):
            n = len(m.group(1).split(","))
            self.phase = f"installing {n} package{'s' if n != 1 else ''}"
            self.line.show(f"    {self.phase} ({elapsed})")

    def _compiling(self, elapsed: str) -> str:
        done, total = self.compiled
        return f"    compiling llama.cpp {bar(done, total)} ({done}/{total} files, {elapsed})"

    def tick(self) -> None:
        """Called every second: keeps the elapsed time moving during steps pip reports nothing for."""
        elapsed = duration(time.monotonic() - self.started)
        if self.phase == "compiling":
            self.line.show(self._compiling(elapsed))
        elif self.phase.startswith(("installing", "building")):
            self.line.show(f"    {self.phase} ({elapsed})")


def report_failure(label: str, code: int, tail: Sequence[str], log: Path) -> NoReturn:
    """The same few lines for every failed command, in the foreground or not: its exit code, its own last words
    (the harmless ones left out) and where all of its output is; then exit with its code."""
    failure = [t for t in tail if not any(p.search(t) for p in HARMLESS)]
    say(f"  ✖ {label} failed (exit {code}). The end of its output (all of it is in {log}):")
    for t in failure[-25:]:
        say("    " + t)
    sys.exit(code)
