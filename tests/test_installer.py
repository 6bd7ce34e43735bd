"""The set-up script's output: one status line from pip's chatter, harmless warnings kept out, failures shown."""

from __future__ import annotations

import io
import os
import subprocess
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
    monkeypatch.setattr(installer, "install_llama", lambda env=None, key="": seen.append((env, key)))
    step = installer._llama_step()
    step.run()
    assert seen == [(llama_build.build_env(), step.key)]
