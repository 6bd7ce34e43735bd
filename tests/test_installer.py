"""The set-up script's output: one status line from pip's chatter, harmless warnings kept out, failures shown."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag import installer, llama_build


class _Out(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def _watch(lines: list[str], tty: bool = True) -> str:
    out = _Out(tty)
    watcher = installer.PipWatcher(installer.Line(out), "libs")
    for text in lines:
        watcher.feed(text + "\n")
    return out.getvalue()


def test_harmless_pip_warnings_never_reach_the_terminal():
    shown = _watch(["WARNING: Location 'file:///opt/pypi-more/simple/torch/' is ignored: it is neither a file",
                    "WARNING: lxml 6.1.3 does not provide the extra 'html_clean'"])
    assert shown == ""


def test_download_progress_becomes_a_bar():
    shown = _watch(["Collecting gradio", "  Downloading gradio-6.31.0-py3-none-any.whl (31.4 MB)",
                    "Progress 15687398 of 31374796"])
    assert "downloading gradio" in shown and "of 31.4 MB" in shown and "[############------------]  50%" in shown


def test_compiler_progress_becomes_a_bar():
    shown = _watch(["  [35/140] /usr/bin/g++ -O3 -c llama.cpp"])
    assert "compiling llama.cpp" in shown and "35/140 files" in shown and "25%" in shown


def test_a_log_gets_plain_lines_not_carriage_returns():
    shown = _watch(["Collecting a", "Collecting b", "Collecting c"], tty=False)
    assert "\r" not in shown and shown.count("\n") == 1  # at most one line per 15 s in a log


def test_a_failed_command_prints_its_own_error_and_the_log(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(installer, "LOG", tmp_path / "install.log")
    with pytest.raises(SystemExit) as stop:
        installer.run_logged(["bash", "-c", "echo 'ERROR: No matching distribution found for nothing-such'; exit 3"],
                             "a package")
    assert stop.value.code == 3
    out = capsys.readouterr().out
    assert "a package failed (exit 3)" in out and "No matching distribution found" in out
    assert "nothing-such" in (tmp_path / "install.log").read_text()


def test_steps_explain_what_why_and_how_long():
    for step in installer.chat_steps() + installer.test_steps():
        assert step.title and step.why and any(ch.isdigit() for ch in step.takes), step.name
    chat = {s.name for s in installer.chat_steps()}
    assert "test" not in chat and "browser" not in chat and "smollm2" not in chat  # test tools: make test only


# ---------------------------------------------------------------- building llama.cpp

NO_AMX = " ".join(llama_build.NO_AMX)


def test_the_build_leaves_the_amx_kernels_out_and_keeps_the_users_flags(monkeypatch):
    monkeypatch.setattr(llama_build, "compiler_takes", lambda flags, environ=None: True)
    env = llama_build.build_env({"CFLAGS": "-O2 -g", "CMAKE_ARGS": "-DGGML_BLAS=ON"})
    assert env["CFLAGS"] == f"-O2 -g {NO_AMX}" and env["CXXFLAGS"] == NO_AMX
    assert env["CMAKE_ARGS"] == "-DGGML_BLAS=ON"
    assert llama_build.build_env({})["CMAKE_ARGS"] == llama_build.LLAMA_CMAKE
    # a compiler that does not know AMX (not x86-64, or too old to emit it) gets no flags it would refuse
    monkeypatch.setattr(llama_build, "compiler_takes", lambda flags, environ=None: False)
    assert llama_build.build_env({"CFLAGS": "-O2"})["CFLAGS"] == "-O2"


def _amx_macros(flags: list[str]) -> set[str]:
    cxx = llama_build.compiler(dict(os.environ))
    proc = subprocess.run([*cxx, *flags, "-march=sapphirerapids", "-dM", "-E", "-x", "c++", "-"], input="",
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"this compiler does not know -march=sapphirerapids: {proc.stderr.strip()[:200]}")
    return {m for m in ("__AMX_TILE__", "__AMX_INT8__", "__AMX_BF16__") if m in proc.stdout}


def test_this_compiler_leaves_amx_out_even_when_the_cpu_has_it():
    """The build adds -march=native after the flags; a CPU with AMX is -march=sapphirerapids here. llama.cpp
    compiles its AMX kernels when __AMX_INT8__ is defined."""
    env = llama_build.build_env()
    if not env["CXXFLAGS"]:
        pytest.skip("no x86-64 compiler that knows AMX here")
    assert _amx_macros([]) == {"__AMX_TILE__", "__AMX_INT8__", "__AMX_BF16__"}  # what the flags must undo
    assert _amx_macros(env["CXXFLAGS"].split()) == set()


def test_the_kept_build_is_per_flags_compiler_and_cpu(monkeypatch):
    monkeypatch.setattr(llama_build, "compiler_version", lambda environ=None: "g++ 12.2.0")
    monkeypatch.setattr(llama_build, "cpu_flags", lambda: "avx2 avx512f")
    env = {"CMAKE_ARGS": "-DLLAVA_BUILD=OFF", "CFLAGS": NO_AMX, "CXXFLAGS": NO_AMX}
    key = llama_build.build_key(env)
    assert llama_build.build_key(dict(env)) == key
    assert llama_build.build_key({**env, "CXXFLAGS": ""}) != key  # the build this fix replaces
    monkeypatch.setattr(llama_build, "cpu_flags", lambda: "avx2 avx512f amx_tile amx_int8")
    assert llama_build.build_key(env) != key
    monkeypatch.setattr(llama_build, "compiler_version", lambda environ=None: "g++ 13.3.0")
    assert len({key, llama_build.build_key(env)}) == 2


def test_llama_cpp_is_built_once_without_pips_cache_and_always_reinstalled(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(llama_build, "compiler_takes", lambda flags, environ=None: True)
    calls: list[tuple[list[str], dict | None]] = []

    def run_logged(cmd, label, env=None):
        calls.append((list(cmd), env))
        if "wheel" in cmd:
            out = Path(cmd[cmd.index("-w") + 1])
            out.mkdir(parents=True, exist_ok=True)
            (out / "llama_cpp_python-0.3.36-cp311-cp311-linux_x86_64.whl").write_bytes(b"wheel")

    monkeypatch.setattr(installer, "run_logged", run_logged)
    installer.install_llama()
    (wheel_cmd, env), (deps_cmd, _), (force_cmd, _) = calls
    assert "--no-cache-dir" in wheel_cmd and llama_build.LLAMA in wheel_cmd
    assert NO_AMX in env["CFLAGS"] and NO_AMX in env["CXXFLAGS"]
    kept = llama_build.wheel_dir(llama_build.build_key(llama_build.build_env()))
    assert kept.is_relative_to(tmp_path / "xdg") and len(list(kept.glob("*.whl"))) == 1
    assert "install" in deps_cmd and any(a.endswith(".whl") for a in deps_cmd)
    assert {"--force-reinstall", "--no-deps"} <= set(force_cmd)  # replaces a build with AMX of the same version
    calls.clear()
    installer.install_llama()  # a new .venv, same machine: the kept build, nothing compiled
    assert not any("wheel" in c for c, _ in calls) and len(calls) == 2


def test_the_llama_step_installs_with_the_environment_it_was_keyed_on(monkeypatch):
    """The step asks the compiler once; the build it runs uses that environment and key."""
    monkeypatch.setattr(llama_build, "compiler_takes", lambda flags, environ=None: True)
    seen = []
    monkeypatch.setattr(installer, "install_llama", lambda env=None, key="", extras=(): seen.append((env, key)))
    step = installer._llama_step()
    step.run()
    assert seen == [(llama_build.build_env(), step.key)]


# ---------------------------------------------------------------- llama.cpp's compile beside the other steps

WHEEL = "llama_cpp_python-0.3.36-cp311-cp311-linux_x86_64.whl"

# `.venv/bin/python` for these tests: `-m pip wheel ... -w DIR` prints compiler lines like the real build and, as
# `ctl/mode` says, waits until the app is installed (`ctl/release`) and builds, fails, or hangs with a "compiler"
FAKE_PYTHON = """#!{python}
import os, subprocess, sys, time
from pathlib import Path
ctl = Path({ctl!r})
if "wheel" not in sys.argv:
    sys.exit(1)
out = Path(sys.argv[sys.argv.index("-w") + 1])
mode = (ctl / "mode").read_text()
(ctl / "started").write_text(str(os.getpid()))
print("[1/3] /usr/bin/g++ -O3 -c ggml.c", flush=True)
if mode == "fail":
    print("CMake Error: CMAKE_CXX_COMPILER not set", flush=True)
    sys.exit(3)
if mode == "hang":
    (ctl / "compiler").write_text(str(subprocess.Popen(["sleep", "60"]).pid))
    time.sleep(60)
deadline = time.monotonic() + 30
while not (ctl / "release").exists() and time.monotonic() < deadline:
    time.sleep(0.02)
print("[2/3] /usr/bin/g++ -O3 -c llama.cpp", flush=True)
time.sleep(1.0)
print("[3/3] linking libllama.so", flush=True)
out.mkdir(parents=True)
(out / {wheel!r}).write_bytes(b"wheel")
"""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in {"Z", "X"}
    except (OSError, IndexError):
        return False


def _wait_for(ready, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class FreshMachine:
    """A fresh set-up with every command faked: pip installs are recorded (with whether the compile was running
    then), `rag ...` too, and the compile is FAKE_PYTHON."""

    def __init__(self, tmp_path: Path, monkeypatch, mode: str = "ok") -> None:
        self.tmp, self.ctl = tmp_path, tmp_path / "ctl"
        self.ctl.mkdir()
        (self.ctl / "mode").write_text(mode)
        self.mode, self.compiles = mode, True  # compiles: whether a background compile is to be waited for
        self.calls: list[tuple[str, list[str], bool]] = []
        venv = tmp_path / ".venv"
        for name, value in {"VENV": venv, "BIN": venv / "bin", "PY": venv / "bin" / "python",
                            "LOG": venv / "install.log", "LLAMA_LOG": venv / "install-llama.log",
                            "STAMPS": venv / ".rag-steps"}.items():
            monkeypatch.setattr(installer, name, value)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "index"))
        monkeypatch.delenv("RAG_STORE", raising=False)
        monkeypatch.setattr(llama_build, "compiler_takes", lambda flags, environ=None: True)
        monkeypatch.setattr(llama_build, "compiler_version", lambda environ=None: "g++ 12.2.0")
        monkeypatch.setattr(installer, "make_venv", self.make_venv)
        monkeypatch.setattr(installer, "run_logged", self.run_logged)
        monkeypatch.setattr(installer, "rag", lambda *args: lambda: self.record("rag " + " ".join(args), []))
        monkeypatch.setattr(installer, "install_browser", lambda: self.record("Chromium", []))
        self.kept = llama_build.wheel_dir(llama_build.build_key(llama_build.build_env()))

    def make_venv(self) -> None:
        installer.PY.parent.mkdir(parents=True)
        installer.PY.write_text(FAKE_PYTHON.format(python=sys.executable, ctl=str(self.ctl), wheel=WHEEL))
        installer.PY.chmod(0o755)

    def compiling(self) -> bool:
        """The fake compile has started and is still running (it cannot end before the app is installed); one
        that fails has ended before this returns."""
        started = self.ctl / "started"
        if not _wait_for(started.exists, 15.0 if self.compiles else 0.0):
            return False
        pid = int(started.read_text())
        return _alive(pid) and not (self.mode == "fail" and _wait_for(lambda: not _alive(pid)))

    def record(self, label: str, cmd: list[str]) -> None:
        self.calls.append((label, cmd, label != "pip" and self.compiling()))

    def run_logged(self, cmd, label, env=None) -> None:
        self.record(label, list(cmd))
        if "--no-deps" in cmd and "-e" in cmd:
            (self.ctl / "release").touch()  # the app is in: the compile may end now
        if label == "llama.cpp":  # what the real install leaves in the venv
            (installer.VENV / "lib" / "python3.11" / "site-packages" / "llama_cpp_python-0.3.36.dist-info").mkdir(
                parents=True)

    def labels(self) -> list[str]:
        return [label for label, _, _ in self.calls]

    def scratch_left(self) -> list[Path]:
        return [p for p in self.kept.parent.glob(".llama-*")] if self.kept.parent.is_dir() else []


def test_llama_cpp_compiles_while_pytorch_the_app_and_the_model_install_and_the_index_waits(tmp_path, monkeypatch,
                                                                                          capsys):
    machine = FreshMachine(tmp_path, monkeypatch)
    installer.run_steps(installer.chat_steps(), "the chat")
    # the index's embedding is compute-bound: it waits for the compile instead of sharing the cores with it
    assert machine.labels() == ["pip", "PyTorch", "the app's libraries", "the app", "rag models fetch",
                                "llama.cpp's libraries", "llama.cpp", "rag ingest"]
    running = dict((label, was) for label, _, was in machine.calls)
    assert running["PyTorch"] and running["the app's libraries"] and running["the app"]  # started before, still on
    assert not running["llama.cpp's libraries"]  # installed only once it was built: after the app
    calls = {label: cmd for label, cmd, _ in machine.calls}
    assert not any(a.startswith("llama") for a in calls["the app's libraries"])  # or pip would compile it again
    assert "gradio>=5.0" in calls["the app's libraries"] and "--no-deps" in calls["the app"]
    assert calls["llama.cpp's libraries"][4] == str(machine.kept / WHEEL)
    assert (installer.STAMPS / "llama").is_file() and not machine.scratch_left()
    assert "[3/3] linking" in installer.LLAMA_LOG.read_text()
    out = capsys.readouterr().out
    assert "[3/7] Building llama.cpp (llama-cpp-python 0.3.36) from source in the background" in out
    assert "[4/7] Installing PyTorch" in out and "[3/7] llama.cpp, continued" in out
    assert "waiting for llama.cpp's build (" in out and "of 3 files compiled" in out and "built in" in out
    assert out.index("[6/7]") < out.index("waiting for llama.cpp's build") < out.index("[7/7] Building the search")


def test_make_test_overlaps_too_and_installs_llama_cpps_server_with_the_wheel(tmp_path, monkeypatch):
    machine = FreshMachine(tmp_path, monkeypatch)
    installer.run_steps(installer.test_steps(), "the tests")
    assert machine.labels()[-2:] == ["llama.cpp's libraries", "llama.cpp"]
    calls = {label: (cmd, was) for label, cmd, was in machine.calls}
    tools, was_compiling = calls["test tools"]
    assert was_compiling and "pytest>=8" in tools and "pymilvus==3.0.2" in tools
    assert not any(a.startswith(("llama", "rag-news")) for a in tools)
    assert calls["llama.cpp's libraries"][0][4] == f"{machine.kept / WHEEL}[server]"


def test_a_failed_compile_is_reported_with_its_end_and_its_exit_code(tmp_path, monkeypatch, capsys):
    machine = FreshMachine(tmp_path, monkeypatch, mode="fail")
    with pytest.raises(SystemExit) as stop:
        installer.run_steps(installer.chat_steps(), "the chat")
    assert stop.value.code == 3
    out = capsys.readouterr().out
    assert "✖ llama.cpp failed (exit 3)" in out and "CMAKE_CXX_COMPILER not set" in out
    assert str(installer.LLAMA_LOG) in out
    assert "the app's libraries" not in machine.labels()  # reported after the step it failed during
    assert not (installer.STAMPS / "llama").exists() and not machine.scratch_left()


@pytest.mark.parametrize("stop", [SystemExit(1), KeyboardInterrupt()])
def test_a_failed_or_interrupted_step_stops_the_compile_and_its_compilers(tmp_path, monkeypatch, stop):
    machine = FreshMachine(tmp_path, monkeypatch, mode="hang")

    def pytorch_fails(cmd, label, env=None):
        if label == "PyTorch":
            assert _wait_for((machine.ctl / "compiler").exists)
            raise stop

    monkeypatch.setattr(installer, "run_logged", pytorch_fails)
    with pytest.raises(type(stop)):
        installer.run_steps(installer.chat_steps(), "the chat")
    pids = [int((machine.ctl / name).read_text()) for name in ("started", "compiler")]
    assert _wait_for(lambda: not any(_alive(pid) for pid in pids), 5.0)  # pip and the compiler it started
    assert not machine.scratch_left() and not (installer.STAMPS / "llama").exists()


def test_a_kept_build_installs_in_its_place_before_the_app_with_nothing_in_the_background(tmp_path, monkeypatch,
                                                                                           capsys):
    machine = FreshMachine(tmp_path, monkeypatch)
    machine.compiles = False
    machine.kept.mkdir(parents=True)
    (machine.kept / WHEEL).write_bytes(b"wheel")
    installer.run_steps(installer.chat_steps(), "the chat")
    assert machine.labels()[:5] == ["pip", "PyTorch", "llama.cpp's libraries", "llama.cpp", "the app's libraries"]
    assert "the app" not in machine.labels() and not (machine.ctl / "started").exists()
    assert "in the background" not in capsys.readouterr().out


def test_the_apps_requirements_leave_llama_cpp_out_and_expand_the_apps_own_extras(tmp_path):
    from rag.install_background import leaving_out, project_requirements

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "rag-news"\ndependencies = ["numpy>=1.26", "llama-cpp-python==0.3.36"]\n'
                         '[project.optional-dependencies]\nmilvus = ["pymilvus==3.0.2"]\n'
                         'test = ["pytest>=8", "llama_cpp_python[server]==0.3.36", "rag-news[milvus]"]\n')
    assert leaving_out("llama-cpp-python", project_requirements(pyproject, ["test"])) == (
        ["numpy>=1.26", "pytest>=8", "pymilvus==3.0.2"], ["server"])
    assert leaving_out("llama-cpp-python", project_requirements(pyproject, [])) == (["numpy>=1.26"], [])
