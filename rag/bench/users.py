"""`rag bench users`: one `rag serve`, answers asked one at a time against the same answers asked by several users at
once (the wall-time ratio: one reader model serves everyone, so at once must not cost more than in turn), and
optionally answers asked while the same server ingests a batch of articles (answers must not wait for indexing)."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.bench.common import Result, fmt, machine, md_table, spread
from rag.bench.serve_load import MAX_USERS, LoadServer

CONCURRENT_RATIO = 1.1
INGEST_RATIO = 2.5


def _ask(client, question: str) -> dict:
    """Ask through /ask: the server's own timings (first checked sentence) and the wall time around it."""
    t = time.perf_counter()
    out = client.predict(question, api_name="/ask")
    return {"question": question, "wall_s": time.perf_counter() - t, "refused": bool(out.get("refused")),
            "first_ms": float((out.get("timings") or {}).get("first_token_ms", float("nan")))}


def _chat(client, question: str) -> float:
    t = time.perf_counter()
    for _ in client.submit(question, api_name="/chat"):
        pass
    return time.perf_counter() - t


@dataclass
class UsersBench(Result):
    users: int
    per_user: int
    sequential_s: float
    concurrent_s: float
    idle_first_ms: dict = field(default_factory=dict)
    ingest_first_ms: dict = field(default_factory=dict)
    ingest_articles: int = 0
    ingest_s: float = float("nan")  # how long the ingest took (it waits while answers run)
    machine: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.concurrent_s / self.sequential_s if self.sequential_s else float("nan")

    @property
    def ingest_ratio(self) -> float:
        a, b = self.idle_first_ms.get("p50"), self.ingest_first_ms.get("p50")
        return b / a if a and b else float("nan")

    def targets(self) -> list[tuple[str, str, bool]]:
        out = [(f"{self.users} users at once / one at a time <= {CONCURRENT_RATIO}x", f"{self.ratio:.2f}x",
                self.ratio <= CONCURRENT_RATIO)]
        if self.ingest_articles:
            out.append((f"first checked sentence during a {self.ingest_articles}-article ingest / idle <= "
                        f"{INGEST_RATIO}x", f"{self.ingest_ratio:.2f}x", self.ingest_ratio <= INGEST_RATIO))
        return out

    def table(self) -> str:
        n = self.users * self.per_user
        rows = [[f"{n} answers one at a time (one user)", f"{self.sequential_s:.1f}", ""],
                [f"{self.users} users x {self.per_user} at once", f"{self.concurrent_s:.1f}", f"{self.ratio:.2f}x"]]
        out = [f"rag bench users: {machine()}", "", md_table(["wall time", "s", "ratio"], rows), ""]
        if self.ingest_articles:
            out += [md_table(["first checked sentence", "p50 ms", "p95 ms"],
                             [["idle", fmt(self.idle_first_ms["p50"]), fmt(self.idle_first_ms["p95"])],
                              [f"during a {self.ingest_articles}-article ingest", fmt(self.ingest_first_ms["p50"]),
                               fmt(self.ingest_first_ms["p95"])]]),
                    f"the ingest took {self.ingest_s:.0f} s (it waits between batches while an answer runs)", ""]
        out.append(self.targets_table())
        out += [f"note: {x}" for x in self.notes]
        return "\n".join(out)


def bench_users(settings=None, *, users: int = 8, per_user: int = 2, ingest: int = 0, questions: Sequence[str] | None
                = None, file=None, server_env: dict[str, str] | None = None) -> UsersBench:
    from rag.bench.common import DEFAULT_QUESTIONS
    from rag.errors import ConfigError
    from rag.evaluate import load_eval
    from rag.settings import Settings

    if not 1 <= users <= MAX_USERS:
        raise ConfigError(f"--users must be 1 to {MAX_USERS}.")
    settings = settings or Settings.from_env()
    pool = list(questions or [it.question for it in load_eval(file or DEFAULT_QUESTIONS) if it.question])
    asks = [[pool[(u * per_user + j) % len(pool)] for j in range(per_user)] for u in range(users)]
    with LoadServer(settings, env=server_env) as server:
        one = server.client()
        _chat(one, pool[0])  # untimed: lazily built state
        t = time.perf_counter()
        for qs in asks:
            for q in qs:
                _chat(one, q)
        sequential = time.perf_counter() - t

        clients = [server.client() for _ in range(users)]
        barrier = threading.Barrier(users + 1)

        def run(u: int) -> None:
            barrier.wait()
            for q in asks[u]:
                _chat(clients[u], q)

        threads = [threading.Thread(target=run, args=(u,)) for u in range(users)]
        for th in threads:
            th.start()
        barrier.wait()
        t = time.perf_counter()
        for th in threads:
            th.join()
        concurrent = time.perf_counter() - t
        result = UsersBench(users, per_user, sequential, concurrent, machine=machine(), notes=[
            "each user is a gradio_client Client (its own session) asking through /chat, as the page does; the "
            "answer cache is off", "the server is a rag serve of a temporary copy of the library on 127.0.0.1"])
        if ingest:
            _during_ingest(server, pool[: min(len(pool), 6)], ingest, settings, result)
    return result


def _during_ingest(server: LoadServer, questions: Sequence[str], n_articles: int, settings, result: UsersBench) -> None:
    """The questions asked idle, then again while an upload of `n_articles` synthetic articles is indexed."""
    from gradio_client import handle_file

    from rag.bench.synthetic import write_synthetic_corpus

    client = server.client()
    idle = [_ask(client, q) for q in questions]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_synthetic_corpus(folder, n_articles, Path(settings.data_dir))
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        up = server.client()
        done = threading.Event()
        took: list[float] = []

        def upload() -> None:
            t = time.perf_counter()
            try:
                up.predict([handle_file(str(p)) for p in files], api_name="/upload")
            finally:
                took.append(time.perf_counter() - t)
                done.set()

        th = threading.Thread(target=upload, daemon=True)
        th.start()
        time.sleep(5)  # the upload is stored and its embedding under way
        busy = []
        for q in questions:
            if done.is_set():
                break
            busy.append(_ask(client, q))
        th.join()
    result.idle_first_ms = spread([r["first_ms"] for r in idle[: len(busy)] or idle])
    result.ingest_first_ms = spread([r["first_ms"] for r in busy])
    result.ingest_articles = n_articles
    result.ingest_s = took[0] if took else float("nan")
    result.notes.append(f"during the ingest: {len(busy)} of {len(questions)} questions asked before it finished; "
                        "idle: the same questions just before")
