"""The set-up's one slow step, run beside the others: llama.cpp's compile, while PyTorch, the app, the reader model
and the index come in; the set-up waits for it only where something needs it.

Standard library only, like the installer (it runs before anything is installed). The compile (`pip wheel`) needs
only the venv's pip and installs nothing, so it cannot collide with the foreground's `pip install`s; the install
of the wheel it builds waits for the join. It writes its own log (two writers in one log would interleave), and it
runs in its own process group: a failed or interrupted set-up stops the compilers too, not only pip (they run
under pip's build backend and cmake), so no orphan keeps the cores busy.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.install_output import Line, PipWatcher, duration, report_failure, say

_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")


class _Nowhere(io.TextIOBase):
    """Where the background's status line goes until the join: the foreground steps own the terminal."""

    def write(self, text: str) -> int:
        return len(text)


@dataclass
class Background:
    """A command building into `scratch`; on success `scratch` becomes `dest`, otherwise it is removed."""

    label: str
    proc: subprocess.Popen[str]
    log: Path
    scratch: Path
    dest: Path
    watcher: PipWatcher
    started: float = field(default_factory=time.monotonic)
    ended: float = 0.0
    reader: threading.Thread | None = None

    @classmethod
    def start(cls, cmd: Sequence[str], label: str, env: dict[str, str], log: Path, scratch: Path,
              dest: Path) -> Background:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = open(log, "w", encoding="utf-8", buffering=1)  # here, not in the reader: a failure shows at once
        out.write(f"$ {' '.join(cmd)}\n")
        proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                text=True, encoding="utf-8", errors="replace", env={**os.environ, **env},
                                start_new_session=True)  # its own process group: stop() ends the compilers too
        job = cls(label, proc, log, scratch, dest, PipWatcher(Line(_Nowhere()), label))
        job.reader = threading.Thread(target=job._read, args=(out,), daemon=True)
        job.reader.start()
        return job

    def _read(self, log: io.TextIOBase) -> None:
        """Its whole output into its own log; the watcher keeps the progress and the tail for the join."""
        assert self.proc.stdout is not None
        with log:
            for raw in self.proc.stdout:
                log.write(raw)
                self.watcher.feed(raw)
        self.proc.wait()
        self.ended = time.monotonic()

    def progress(self) -> str:
        done, total = self.watcher.compiled
        so_far = f"{duration(time.monotonic() - self.started)} so far"
        return f"{done} of {total} files compiled, {so_far}" if total else f"preparing it, {so_far}"

    def check(self) -> None:
        """Between foreground steps: a build that already failed is reported now, not after the rest."""
        if self.proc.poll():
            self._fail()

    def finish(self) -> None:
        """The join: wait with a progress bar, then keep the build (or report its failure and exit)."""
        self.watcher.line = line = Line()
        if self.proc.poll() is None:
            say(f"      waiting for {self.label}'s build ({self.progress()})")
            stop = threading.Event()
            threading.Thread(target=self._tick, args=(stop,), daemon=True).start()
            self.proc.wait()
            stop.set()
        assert self.reader is not None
        self.reader.join()
        line.clear()
        if self.proc.returncode:
            self._fail()
        self._keep()
        say(f"      built in {duration(self.ended - self.started)}")

    def _tick(self, stop: threading.Event) -> None:
        self.watcher.tick()
        while not stop.wait(1.0):
            self.watcher.tick()

    def _fail(self) -> None:
        assert self.reader is not None
        self.reader.join()  # the whole tail
        report_failure(self.label, self.proc.wait(), self.watcher.tail, self.log)

    def _keep(self) -> None:
        if self.scratch.is_dir():
            shutil.rmtree(self.dest, ignore_errors=True)
            os.replace(self.scratch, self.dest)

    def stop(self) -> None:
        """Whatever happened in the foreground: end the command and all it started; a finished build is kept
        (a re-run then only installs it), a half-built one removed."""
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self._signal(signal.SIGKILL)  # whatever ignored the TERM, pip itself or a compiler it left behind
            self.proc.wait()
        elif self.proc.returncode == 0:
            self._keep()
        if self.reader is not None:
            self.reader.join(timeout=5)
        shutil.rmtree(self.scratch, ignore_errors=True)

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


# ---------------------------------------------------------------- what the foreground leaves for the join


def requirement_name(req: str) -> tuple[str, list[str]]:
    """A requirement's normalized name and extras: 'llama_cpp_python[server]==0.3.36' -> ('llama-cpp-python',
    ['server'])."""
    m = _NAME.match(req)
    if not m:
        return "", []
    extras = [e.strip() for e in (m.group(2) or "").split(",") if e.strip()]
    return re.sub(r"[-_.]+", "-", m.group(1)).lower(), extras


def project_requirements(pyproject: Path, extras: Sequence[str]) -> list[str] | None:
    """What `pip install -e .[extras]` would ask for, the project's references to itself ('rag-news[milvus]')
    expanded; None where this Python reads no TOML (3.10): the set-up then builds llama.cpp in the foreground."""
    try:
        import tomllib
    except ImportError:
        return None
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    me = requirement_name(project["name"])[0]
    optional = project.get("optional-dependencies", {})
    out, todo, seen = list(project.get("dependencies", [])), list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for req in optional.get(extra, []):
            name, more = requirement_name(req)
            if name == me:
                todo += more
            else:
                out.append(req)
    return out


def leaving_out(name: str, requirements: Sequence[str]) -> tuple[list[str], list[str]]:
    """`requirements` without `name` (pip would build it itself, again and with no progress shown), and the extras
    they asked of it (the join installs those with it)."""
    kept, extras = [], []
    for req in requirements:
        found, more = requirement_name(req)
        if found == name:
            extras += [e for e in more if e not in extras]
        else:
            kept.append(req)
    return kept, extras
