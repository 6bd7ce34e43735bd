"""Sharing the CPU: how many cores are free right now, and answers before background work.

llama.cpp's worker threads meet at a barrier after every operation and wait there by spinning. With as many
threads as cores and another program busy on one of them, every token waits for a descheduled thread: on 2 cores
decoding fell from 10.3 to 1.6 tokens/s. One llama.cpp thread per *free* core avoids that, so the reader asks
`CpuMonitor` before each call (and every few tokens) and changes its thread count to fit.

`ANSWERS` is the process-wide "answers first" signal: the pipeline holds `ANSWERS.answering()` while it answers,
and background work in the same process (an upload's embedding) calls `ANSWERS.wait_turn()` between batches.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CpuTimes:
    """Cumulative CPU seconds: every core's busy time, and this process's own (all its threads)."""

    at: float
    busy: float
    own: float


def _allowed_cpus() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def read_times() -> CpuTimes | None:
    """From /proc (Linux); None elsewhere, where the reader keeps its configured threads."""
    try:
        with open("/proc/stat") as f:
            stat = f.read()
        with open("/proc/self/stat") as f:
            own = f.read().rpartition(")")[2].split()
    except OSError:
        return None
    busy = cores_busy_ticks(stat, _allowed_cpus())
    if busy is None:
        return None
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return CpuTimes(time.monotonic(), busy / ticks, (int(own[11]) + int(own[12])) / ticks)  # utime, stime


def cores_busy_ticks(stat: str, allowed: set[int] | None) -> int | None:
    """Busy ticks of the CPUs this process may run on (its affinity), from /proc/stat's per-CPU lines: in a
    container pinned to 2 of a host's 64 CPUs, the other 62 are other machines' work, not competition. The
    all-CPU line when there are no per-CPU lines (or no affinity to go by); None when /proc/stat is unreadable."""
    lines = [ln.split() for ln in stat.splitlines() if ln.startswith("cpu")]
    total = next((f for f in lines if f[0] == "cpu"), None)
    per_cpu = {int(f[0][3:]): f for f in lines if f[0][3:].isdigit()}
    mine = [f for n, f in per_cpu.items() if allowed and n in allowed]
    if mine:
        return sum(busy_ticks(f) for f in mine)
    return busy_ticks(total) if total else None


def busy_ticks(fields: list[str]) -> int:
    """The busy ticks of /proc/stat's "cpu" line: user, nice, system, irq and softirq (guest is inside user).

    Idle, iowait and steal are not: steal is time the hypervisor gave to other machines, not a program on this one,
    and counting it let a noisy host halve the reader's threads for nothing."""
    values = [int(v) for v in fields[1:8]]
    values += [0] * (7 - len(values))
    return values[0] + values[1] + values[2] + values[5] + values[6]


def others_busy(a: CpuTimes, b: CpuTimes) -> float:
    """Cores other processes kept busy between two readings (0 when the interval is too short to tell)."""
    span = b.at - a.at
    if span <= 0.05:
        return 0.0
    return max(0.0, ((b.busy - a.busy) - (b.own - a.own)) / span)


def plan_threads(cores: int, others: float, background: bool = False) -> int:
    """Threads for the reader: the cores other programs leave free, less one while this process's own background
    work computes. A core counts as taken from 0.4 of it: a half-busy core already stalls a spinning thread."""
    taken = max(0, int(others + 0.6)) + (1 if background else 0)
    return max(1, min(cores, cores - taken))


class CpuMonitor:
    """Reads the CPU's times every `period` seconds in a daemon thread (started on first use) and keeps the
    last `window` seconds, so a question gets the current load without waiting for a measurement."""

    def __init__(self, period: float = 0.25, window: float = 1.0) -> None:
        self.period = period
        self.window = window
        self._samples: deque[CpuTimes] = deque(maxlen=max(2, int(window / period) + 1))
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.available = read_times() is not None

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or not self.available:
                return
            self._thread = threading.Thread(target=self._run, name="rag-cpu-monitor", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            t = read_times()
            if t is not None:
                with self._lock:
                    self._samples.append(t)
            time.sleep(self.period)

    def others(self) -> float:
        """Cores other processes used over the last window (the first call starts the sampling and measures a
        short interval itself)."""
        if not self.available:
            return 0.0
        self._start()
        now = read_times()
        with self._lock:
            first = self._samples[0] if self._samples else None
        if first is None or now is None or now.at - first.at < 0.1:
            time.sleep(0.1)
            later = read_times()
            return others_busy(now, later) if now and later else 0.0
        return others_busy(first, now)


class Answers:
    """Answers first: while any answer runs, background work waits between its batches (up to `max_wait_s`, so
    a stream of questions cannot starve an upload forever)."""

    def __init__(self, max_wait_s: float = 60.0) -> None:
        self.max_wait_s = max_wait_s
        self._cond = threading.Condition()
        self._answering = 0
        self._computing = 0  # background batches running now (not waiting)
        self.waited_s = 0.0  # background time spent waiting, in all (for benchmarks and logs)

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        with self._cond:
            self._answering += 1
        try:
            yield
        finally:
            with self._cond:
                self._answering -= 1
                self._cond.notify_all()

    @property
    def active(self) -> bool:
        return self._answering > 0

    @property
    def background(self) -> bool:
        """Whether this process's background work is computing right now (the reader then leaves it a core)."""
        return self._computing > 0

    def wait_turn(self) -> float:
        """Block while an answer runs (at most `max_wait_s`); returns the seconds waited."""
        if not self._answering:
            return 0.0
        t0 = time.monotonic()
        with self._cond:
            self._cond.wait_for(lambda: not self._answering, timeout=self.max_wait_s)
        waited = time.monotonic() - t0
        self.waited_s += waited
        if self._answering:
            log.info("background work waited %.0f s for answers and goes on beside them", waited)
        return waited

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Wrap one background batch: waits for its turn first, and is counted as computing while it runs."""
        self.wait_turn()
        with self._cond:
            self._computing += 1
        try:
            yield
        finally:
            with self._cond:
                self._computing -= 1


ANSWERS = Answers()
_MONITOR: CpuMonitor | None = None


def monitor() -> CpuMonitor:
    global _MONITOR
    if _MONITOR is None:
        _MONITOR = CpuMonitor()
    return _MONITOR
