"""`rag bench soak`: simulated readers ask, follow up, stop answers, reload, upload and remove documents against one
`rag serve` for M minutes; it reports errors, lost or mixed-up answers, and how memory, threads, open files and
latency move over time (they must stay flat: a leak or a slowdown shows as a trend, not in a short test)."""

from __future__ import annotations

import logging
import random
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.bench.common import Result, fmt, machine, md_table, percentile
from rag.bench.serve_load import MAX_USERS, LoadServer, ProcStats, answered_last, chat_questions

log = logging.getLogger(__name__)
FOLLOW_UPS = ("Why?", "What happened next?", "Who said that?", "When was that?")
# action -> weight: mostly questions, as on the page
ACTIONS = {"ask": 45, "follow_up": 20, "stop": 10, "reload": 10, "upload": 8, "remove": 7}
RSS_GROWTH = 0.10
DRIFT = 0.25  # the latency trend over the run, as a share of the median latency


@dataclass
class Event:
    at: float  # seconds since the start
    user: int
    action: str
    ok: bool
    latency_s: float = float("nan")
    problem: str = ""  # "error", "lost" or "mixed", with detail after a colon


class SimUser:
    """One reader with one browser tab (a `gradio_client` Client = one server session); 'reload' opens a new one."""

    def __init__(self, n: int, server: LoadServer, questions: Sequence[str], upload_dir: Path, seed: int) -> None:
        self.n = n
        self.server = server
        self.questions = list(questions)
        self.upload_dir = upload_dir
        self.rng = random.Random(seed)
        self.client = server.client()
        self.asked: list[str] = []  # this tab's questions, in order
        self.uploaded: list[str] = []  # document ids this user added
        self.uploads = 0

    def act(self, t0: float) -> Event:
        names, weights = zip(*ACTIONS.items())
        action = self.rng.choices(names, weights)[0]
        if action == "follow_up" and not self.asked:
            action = "ask"
        if action == "remove" and not self.uploaded:
            action = "upload"
        start = time.monotonic()
        try:
            problem = getattr(self, "_" + action)()
        except Exception as e:  # noqa: BLE001 - every failure is counted and named in the report
            problem = f"error: {type(e).__name__}: {str(e)[:200]}"
        latency = time.monotonic() - start
        return Event(start - t0, self.n, action, not problem, latency, problem)

    def _chat(self, question: str, stop: bool = False) -> str:
        """Ask in this tab; '' when the reply holds this tab's questions, in order, and an answer to this one."""
        self.asked.append(question)
        job = self.client.submit(question, api_name="/chat")
        if stop:
            for _ in job:  # the first update: the answer has started
                break
            job.cancel()
            return ""
        outputs = list(job)
        if not outputs:
            return "lost: no reply to " + repr(question)
        chat, _sources = outputs[-1]
        seen = chat_questions(chat)
        if any(q not in self.asked for q in seen):
            return f"mixed: another tab's question in this one ({[q for q in seen if q not in self.asked][:2]})"
        if not seen or seen[-1] != question or not answered_last(chat):
            return f"lost: no answer to {question!r} (last shown: {seen[-1:]})"
        return ""

    def _ask(self) -> str:
        return self._chat(self.rng.choice(self.questions))

    def _follow_up(self) -> str:
        return self._chat(self.rng.choice(FOLLOW_UPS))

    def _stop(self) -> str:
        return self._chat(self.rng.choice(self.questions), stop=True)

    def _reload(self) -> str:
        close = getattr(self.client, "close", None)
        if close:
            close()
        self.client = self.server.client()
        self.asked = []
        return ""

    def _upload(self) -> str:
        from gradio_client import handle_file

        self.uploads += 1
        name = f"soak-u{self.n}-{self.uploads}"
        path = self.upload_dir / f"{name}.md"
        path.write_text(f"# Council {name} approves new harbour plan\n\nThe council of the town of {name} voted on "
                        f"Tuesday to rebuild the old harbour. The mayor said the work would take {self.uploads + 1} "
                        "years and cost less than the bridge. Fishermen welcomed the plan, while shop owners asked "
                        "for a second vote.\n", encoding="utf-8")
        self.client.predict([handle_file(str(path))], api_name="/upload")
        docs = self.client.predict(api_name="/documents")
        ids = [d["doc"] for d in docs if name in (d.get("title", "") + d.get("doc", "")).lower()]
        if not ids:
            return f"lost: the upload {name} is not in the library"
        self.uploaded.extend(ids)
        return ""

    def _remove(self) -> str:
        doc = self.uploaded.pop(0)
        out = self.client.predict(doc, api_name="/remove")
        return "" if doc in out.get("removed", []) else f"lost: {doc} was not removed ({out})"


@dataclass
class Window:
    start_min: float
    answers: int
    p50_s: float
    p95_s: float
    rss_mb: float
    threads: int
    open_files: int


@dataclass
class SoakBench(Result):
    minutes: float
    users: int
    actions: dict
    errors: int
    lost: int
    mixed: int
    windows: list[Window]
    rss_growth: float  # fitted trend of the windows' peak RSS after the warm-up, over the run (rss_trend)
    threads_growth: int
    files_growth: int
    latency_drift: float  # fitted latency trend over the run / median latency
    machine: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def targets(self) -> list[tuple[str, str, bool]]:
        clean = not (self.lost or self.mixed)
        return [("errors = 0", str(self.errors), self.errors == 0),
                ("lost or mixed-up answers = 0", f"{self.lost} lost, {self.mixed} mixed", clean),
                (f"RSS after warm-up flat: trend within {RSS_GROWTH:.0%}", f"{self.rss_growth:+.1%}",
                 self.rss_growth <= RSS_GROWTH),
                ("threads and open files flat", f"threads {self.threads_growth:+d}, files {self.files_growth:+d}",
                 self.threads_growth <= 4 and self.files_growth <= 8),
                (f"answer latency: no upward drift (trend <= {DRIFT:.0%} of the median over the run)",
                 f"{self.latency_drift:+.0%}", self.latency_drift <= DRIFT)]

    def table(self) -> str:
        rows = [[f"{w.start_min:.0f}", w.answers, fmt(w.p50_s, 1), fmt(w.p95_s, 1), fmt(w.rss_mb), w.threads,
                 w.open_files] for w in self.windows]
        acts = ", ".join(f"{k} {v}" for k, v in sorted(self.actions.items()))
        out = [f"rag bench soak: {self.users} users for {self.minutes:g} min against one rag serve; {self.machine}",
               f"actions: {acts}", "",
               md_table(["from min", "answers", "p50 s", "p95 s", "RSS MB", "threads", "open files"], rows), "",
               self.targets_table()]
        out += [f"problem: {p}" for p in self.problems[:20]]
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)


def _windows(events: list[Event], stats: list[ProcStats], t0: float, minutes: float, window_min: float) -> list[Window]:
    out = []
    n = max(1, int(np.ceil(minutes / window_min)))
    for i in range(n):
        a, b = i * window_min * 60, (i + 1) * window_min * 60
        lat = [e.latency_s for e in events if a <= e.at < b and e.ok and e.action in ("ask", "follow_up")]
        st = [s for s in stats if a <= s.at - t0 < b] or stats[-1:]
        last = st[-1] if st else ProcStats(0, float("nan"), 0, 0)
        out.append(Window(a / 60, len(lat), percentile(lat, 50), percentile(lat, 95), max(s.rss_mb for s in st)
                          if st else float("nan"), last.threads, last.open_files))
    return out


def rss_trend(windows: list[Window]) -> float:
    """Memory growth over the run: the fitted trend of the windows' peak RSS, as a share of the first one. A leak
    is a trend; a peak in one window (a model loaded for an upload, a large reply) is not."""
    peaks = [(w.start_min, w.rss_mb) for w in windows if not np.isnan(w.rss_mb)]
    if len(peaks) < 2:
        return 0.0
    x, y = np.array(peaks).T
    return float(np.polyfit(x, y, 1)[0] * (x.max() - x.min()) / y[0])


def _drift(events: list[Event]) -> float:
    pts = [(e.at, e.latency_s) for e in events if e.ok and e.action in ("ask", "follow_up")]
    if len(pts) < 4:
        return 0.0
    x, y = np.array(pts).T
    slope = np.polyfit(x, y, 1)[0]
    return float(slope * (x.max() - x.min()) / max(np.median(y), 1e-9))


def bench_soak(settings=None, *, minutes: float = 60, users: int = 4, window_min: float = 5, seed: int = 0,
               questions: Sequence[str] | None = None, file=None, sample_s: float = 5,
               server_env: dict[str, str] | None = None) -> SoakBench:
    from rag.bench.common import DEFAULT_QUESTIONS
    from rag.errors import ConfigError
    from rag.evaluate import load_eval
    from rag.settings import Settings

    if not 1 <= users <= MAX_USERS:
        raise ConfigError(f"--users must be 1 to {MAX_USERS}.")
    settings = settings or Settings.from_env()
    questions = list(questions or [it.question for it in load_eval(file or DEFAULT_QUESTIONS) if it.question])
    events: list[Event] = []
    stats: list[ProcStats] = []
    lock = threading.Lock()
    with LoadServer(settings, env=server_env) as server, tempfile.TemporaryDirectory() as up:
        t0 = time.monotonic()
        deadline = t0 + minutes * 60
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                s = server.stats()
                if s is not None:
                    stats.append(s)
                done.wait(sample_s)

        def run(u: int) -> None:
            user = SimUser(u, server, questions, Path(up), seed * 1000 + u)
            while time.monotonic() < deadline and server.proc.poll() is None:
                ev = user.act(t0)
                with lock:
                    events.append(ev)
                if ev.problem:
                    log.warning("soak user %d %s: %s", u, ev.action, ev.problem)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        threads = [threading.Thread(target=run, args=(u,), daemon=True) for u in range(users)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()) + 600)
        done.set()
        sampler.join()
        crashed = server.proc.poll() is not None
        tail = server.log_tail() if crashed else ""
    windows = _windows(events, stats, t0, minutes, window_min)
    warm = [s for s in stats if s.at - t0 >= window_min * 60] or stats
    base = next((s for s in reversed(stats) if s.at - t0 < window_min * 60), stats[0] if stats else None)
    kinds = lambda k: sum(e.problem.startswith(k) for e in events)  # noqa: E731
    actions: dict[str, int] = {}
    for e in events:
        actions[e.action] = actions.get(e.action, 0) + 1
    problems = [f"{e.at:.0f} s user {e.user} {e.action}: {e.problem}" for e in events if e.problem]
    if crashed:
        problems.insert(0, f"the server exited: {tail[-500:]}")
    return SoakBench(
        minutes=minutes, users=users, actions=actions, errors=kinds("error") + int(crashed), lost=kinds("lost"),
        mixed=kinds("mixed"), windows=windows, rss_growth=rss_trend(windows[1:] or windows),
        threads_growth=(warm[-1].threads - base.threads) if base and warm else 0,
        files_growth=(warm[-1].open_files - base.open_files) if base and warm else 0,
        latency_drift=_drift(events), machine=machine(), problems=problems,
        notes=[f"warm-up: the first {window_min:g} min (handles are compared from its end; memory is the trend of "
               "the later windows' peaks)",
               "latency: an answered /chat question, from submit to its last update, including time in line "
               "behind other users' answers (one answer at a time)",
               "the server serves a temporary copy of the library, on 127.0.0.1, with the answer cache off"])
