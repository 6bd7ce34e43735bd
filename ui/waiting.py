"""Waiting that explains itself: how long answers usually take on this machine, and why this one takes longer.

The chat's status line shows the stage (searching, reading N passages, writing) and the seconds since the question
was asked (counted on in the browser). When an answer runs well past the usual time, the line says why, when that is
known: an upload being indexed in this server, or another program keeping the processor busy.
"""

from __future__ import annotations

import statistics
import threading
from collections import deque
from collections.abc import Callable

SLOW_FACTOR = 2.0  # "much longer than usual": twice the median of recent answers ...
SLOW_MIN_EXTRA_S = 10.0  # ... and at least this many seconds more
FIRST_SLOW_S = 45.0  # before any answer has finished here, the bar for "slow"
BUSY_CORES = 0.5  # other programs using half a core or more count as "busy"


def clock(seconds: float) -> str:
    """"8 s", "1 min 05 s"."""
    s = max(0, int(seconds))
    return f"{s} s" if s < 60 else f"{s // 60} min {s % 60:02d} s"


class Waiting:
    """The usual answer time (median of the last answers) and the reason an answer is slow now."""

    def __init__(self, indexing: Callable[[], bool] = lambda: False,
                 others: Callable[[], float] | None = None, keep: int = 20) -> None:
        self._indexing = indexing
        self._others = others
        self._times: deque[float] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def finished(self, seconds: float) -> None:
        with self._lock:
            self._times.append(seconds)

    def usual(self) -> float | None:
        with self._lock:
            return statistics.median(self._times) if self._times else None

    def slow(self, elapsed: float) -> bool:
        usual = self.usual()
        if usual is None:
            return elapsed >= FIRST_SLOW_S
        return elapsed >= max(usual * SLOW_FACTOR, usual + SLOW_MIN_EXTRA_S)

    def reason(self) -> str:
        """What is competing for the processor right now, in words ("" when nothing known is)."""
        if self._indexing():
            return "an upload is being indexed at the same time"
        try:
            busy = self._others() if self._others else 0.0
        except Exception:  # noqa: BLE001 - the explanation is a nicety; never fail an answer over it
            busy = 0.0
        if busy >= BUSY_CORES:
            return "another program is keeping the processor busy"
        return ""

    def note(self, elapsed: float) -> str:
        """A line for an answer that is much slower than usual; "" otherwise."""
        if not self.slow(elapsed):
            return ""
        usual = self.usual()
        head = "Taking longer than usual" + (f" (usually about {clock(max(1.0, usual))})" if usual is not None else "")
        why = self.reason()
        return f"{head}: {why}." if why else f"{head}."
