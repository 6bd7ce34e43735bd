"""`rag bench coldstart`: `rag serve` started three times (before the cold-start work, first and second start), each
timed to its first answer, with peak memory."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.bench.common import Result, machine, md_table

# What `rag serve` did before the cold-start work, for the same-run baseline: sentence-transformers embeds the
# question, the reader's prompt prefix and the evidence-sentence vectors are computed at every start, and llama.cpp
# repacks the weights. (One difference stays: the models now start loading before Gradio is imported.)
BEFORE_ENV = {"RAG_EMBED_RUNTIME": "sentence-transformers", "RAG_WARM_CACHE": "0", "RAG_LLM_REPACK": "1"}


@dataclass
class ServeRun:
    """One start of `rag serve`, timed from the process start."""

    page_s: float  # the page answers HTTP
    first_answer_s: float  # the first answer (through the app's /ask endpoint) is back
    peak_rss_mb: float  # the server process's peak resident memory (VmHWM), children included
    rss_mb: float  # resident memory after the first answer
    refused: bool
    error: str = ""


@dataclass
class ColdStartBench(Result):
    question: str
    before: ServeRun  # the same-run baseline (BEFORE_ENV)
    first: ServeRun  # now: a first start, which writes the saved state and vectors when they are missing
    warm: ServeRun  # now: a restart, with the saved state there
    index_existed: bool
    machine: str
    notes: list[str] = field(default_factory=list)

    def targets(self) -> list[tuple[str, str, bool]]:
        w = self.warm
        return [("warm restart to first answer <= 6 s", f"{w.first_answer_s:.1f} s", w.first_answer_s <= 6),
                ("peak RSS of rag serve <= 2.5 GB", f"{w.peak_rss_mb:,.0f} MB", w.peak_rss_mb <= 2560)]

    def table(self) -> str:
        runs = [self.before, self.first, self.warm]
        rows = [["page served", *[f"{r.page_s:.1f} s" for r in runs]],
                ["first answer", *[f"{r.first_answer_s:.1f} s" for r in runs]],
                ["peak RSS", *[f"{r.peak_rss_mb:,.0f} MB" for r in runs]],
                ["RSS after the first answer", *[f"{r.rss_mb:,.0f} MB" for r in runs]]]
        ratio = self.warm.first_answer_s / self.before.first_answer_s if self.before.first_answer_s else float("nan")
        out = [f"rag bench coldstart: `rag serve`, then {self.question!r} through /ask; {self.machine}"
               + ("" if self.index_existed else " (the index was built first)"), "",
               md_table(["from `rag serve` to", "before (baseline)", "now, 1st start", "now, 2nd start"], rows),
               "", f"restart to first answer: {ratio:.2f}x the baseline's", "", self.targets_table()]
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)


def _process_memory(pid: int) -> tuple[float, float]:
    """(peak, current) resident MB of a process and its children."""
    peak = cur = 0.0
    pids = [pid]
    with contextlib.suppress(Exception):
        import psutil

        pids += [c.pid for c in psutil.Process(pid).children(recursive=True)]
    for p in pids:
        with contextlib.suppress(OSError), open(f"/proc/{p}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    peak += int(line.split()[1]) / 1024
                elif line.startswith("VmRSS:"):
                    cur += int(line.split()[1]) / 1024
    return peak, cur


def bench_cold_start(settings=None, question: str = "Why did Putin enter Syria?", *, timeout_s: float = 300,
                     command: Sequence[str] | None = None) -> ColdStartBench:
    """Start `rag serve` three times in fresh processes (the baseline, then now twice), wait for the page, ask one
    question through the app's API and read the server's peak memory. The models are on disk already."""
    from rag.index.store import IndexStore
    from rag.settings import Settings

    settings = settings or Settings.from_env()
    existed = IndexStore(settings.index_path).exists()
    _check_repack_untimed(settings)
    before = _serve_once(settings, question, BEFORE_ENV, timeout_s, command)
    first = _serve_once(settings, question, {}, timeout_s, command)
    warm = _serve_once(settings, question, {}, timeout_s, command)
    notes = ["file caches warm (models read from the page cache, as on any start after the first)",
             "the 1st start of now writes the saved prompt state and sentence vectors if they are missing; the 2nd "
             "is a restart that reads them",
             "baseline: " + " ".join(f"{k}={v}" for k, v in BEFORE_ENV.items()) + " (repacking is tried in a child "
             "process once per llama.cpp build and model, before the clock starts)"]
    notes += [f"the answer was an error: {r.error}" for r in (before, first, warm) if r.error]
    return ColdStartBench(question=question, before=before, first=first, warm=warm, index_existed=existed,
                          machine=machine(), notes=notes)


def _check_repack_untimed(settings) -> None:
    """The baseline repacks the weights, which the app first tries in a child process (once per build, model and
    CPU; see `rag.generate.llama_check`): done here, so that try is not counted in the baseline's start."""
    from rag.generate.base import llama_cpp_installed

    model, gguf = settings.resolved_llm()
    if gguf and llama_cpp_installed() and not settings.llm_url:
        from rag.generate.llama_check import checked

        checked(os.path.join(model, gguf), True, settings.cache_path, threads=settings.llm_threads or 1)


def _serve_once(settings, question: str, env_overrides: dict[str, str], timeout_s: float,
                command: Sequence[str] | None) -> ServeRun:
    import socket
    import subprocess
    import urllib.request

    from gradio_client import Client  # imported before the clock starts

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", RAG_DATA_DIR=str(settings.data_dir),
               RAG_INDEX_DIR=str(settings.index_path), RAG_CACHE_DIR=str(settings.cache_path),
               PYTHONPATH=os.pathsep.join(x for x in (root, os.environ.get("PYTHONPATH", "")) if x))
    env.pop("RAG_AUTH", None)
    env.update(env_overrides)
    cmd = list(command or [sys.executable, "-m", "rag.cli", "serve", "--port", str(port)])
    url = f"http://127.0.0.1:{port}/"
    log_file = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        page_s = None
        while page_s is None:
            if proc.poll() is not None:
                log_file.seek(0)
                tail = log_file.read().decode("utf-8", "replace")[-2000:]
                raise RuntimeError(f"`rag serve` exited with {proc.returncode}:\n{tail}")
            if time.perf_counter() - t0 > timeout_s:
                raise TimeoutError(f"`rag serve` did not serve {url} within {timeout_s:.0f} s")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        page_s = time.perf_counter() - t0
            if page_s is None:
                time.sleep(0.05)
        out = Client(url, verbose=False).predict(question, api_name="/ask")
        first_answer_s = time.perf_counter() - t0
        peak, cur = _process_memory(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log_file.close()
    out = out if isinstance(out, dict) else {}
    return ServeRun(page_s=page_s, first_answer_s=first_answer_s, peak_rss_mb=peak, rss_mb=cur,
                    refused=bool(out.get("refused")), error=str(out.get("error") or ""))
