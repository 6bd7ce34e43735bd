"""A `rag serve` of its own for load benchmarks: started on loopback from a copy of the library (so uploads and
removals do not touch the user's), driven with `gradio_client` like the page's readers, and read from /proc."""

from __future__ import annotations

import html
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rag.errors import RagError

log = logging.getLogger(__name__)
MAX_USERS = 16


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ProcStats:
    at: float
    rss_mb: float
    threads: int
    open_files: int


def proc_stats(pid: int) -> ProcStats | None:
    """Resident memory, threads and open file descriptors of a process (Linux /proc)."""
    try:
        rss, threads = 0.0, 0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) / 1024
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
        return ProcStats(time.monotonic(), rss, threads, len(os.listdir(f"/proc/{pid}/fd")))
    except OSError:
        return None


class LoadServer:
    """`rag serve` in a child process, on 127.0.0.1 only, over a temporary copy of the settings' data folder
    (articles and index), with the answer cache off so every question is answered."""

    def __init__(self, settings, env: dict[str, str] | None = None, start_timeout_s: float = 600) -> None:
        self.settings = settings
        self.extra_env = env or {}
        self.start_timeout_s = start_timeout_s
        self.tmp: Path | None = None
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.log_path: Path | None = None

    def __enter__(self) -> "LoadServer":
        self.tmp = Path(tempfile.mkdtemp(prefix="rag-load-"))
        data = self.tmp / "data"
        src = Path(self.settings.data_dir)
        if not src.is_dir():
            raise RagError(f"No data folder at {src}: the load benchmarks serve a copy of it.")
        shutil.copytree(src, data, ignore=shutil.ignore_patterns(".removed", "uploads"))
        index = self.settings.index_path
        if index.is_dir() and not (data / "index").exists() and index.resolve() != (src / "index").resolve():
            shutil.copytree(index, data / "index")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/"
        env = {**os.environ, "RAG_DATA_DIR": str(data), "RAG_INDEX_DIR": str(data / "index"),
               "RAG_UPLOAD_DIR": "", "RAG_ANSWER_CACHE": "0", "GRADIO_ANALYTICS_ENABLED": "False",
               **self.extra_env}
        self.log_path = self.tmp / "serve.log"
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--host", "127.0.0.1",
                                          "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RagError(f"rag serve exited with {self.proc.returncode} before it served the page: "
                               f"{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(1)
        else:
            raise RagError(f"rag serve did not serve the page within {self.start_timeout_s:.0f} s: {self.log_tail()}")
        self.client().predict(api_name="/documents")  # returns once the models are loaded

    def client(self):
        from gradio_client import Client

        # long calls are normal here (an upload waits while answers run): no 5-second read limit
        return Client(self.url, verbose=False, httpx_kwargs={"timeout": 900})

    def stats(self) -> ProcStats | None:
        return proc_stats(self.proc.pid) if self.proc else None

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:] if self.log_path else ""
        except OSError:
            return ""

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)


def chat_questions(chat: list) -> list[str]:
    """The questions in a /chat reply's conversation (its user messages, unescaped), in order."""
    return [html.unescape(_strip_tags(message_text(m))).strip()
            for m in chat or [] if isinstance(m, dict) and m.get("role") == "user"]


def message_text(message: dict) -> str:
    """A chat message's text: a string, or Gradio's list of content blocks ({"type": "text", "text": ...})."""
    content = message.get("content")
    if isinstance(content, list):
        return "".join(c.get("text", "") for c in content if isinstance(c, dict))
    return "" if content is None else str(content)


def answered_last(chat: list) -> bool:
    """Whether the conversation ends with a reply to its last question."""
    return bool(chat) and isinstance(chat[-1], dict) and chat[-1].get("role") == "assistant" \
        and bool(message_text(chat[-1]).strip())


def _strip_tags(s: str) -> str:
    return re.sub(r"<[^>]+>", "", s)
