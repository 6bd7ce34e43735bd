"""The set-up script's output: one status line from pip's chatter, harmless warnings kept out, failures shown."""

from __future__ import annotations

import io

import pytest

from rag import installer


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
