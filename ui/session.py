"""Per-browser-tab chat state kept on the server, keyed by Gradio's session hash.

The page's events do not carry the conversation back and forth: a question typed while an answer
streams is queued here (so it is neither lost nor answered against stale turns), the Stop button
sets a flag the running answer checks (the page shows it stopped at once, see ui.chat), and "New
conversation" bumps an epoch so a late-finishing answer is not added to the fresh conversation. The
browser keeps a copy for reloads (see ui.chat).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from rag.schema import DateRange

Turn = dict[str, Any]


@dataclass
class ChatSession:
    turns: list[Turn] = field(default_factory=list)
    waiting: deque[str] = field(default_factory=deque)  # questions asked while an answer was being written
    current: str = ""  # the question being answered now ("" when idle)
    live: str = ""  # the assistant bubble of the answer in progress, as HTML
    epoch: int = 0  # bumped by "New conversation": answers started before it are dropped
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    restored: bool = False
    running: bool = False  # a handler is answering this tab's questions (others leave them to it)
    shown_ahead: int = 0  # the place in line the page shows now (see Chat.refresh)
    stage: str = ""  # what the answer in progress is doing ("Reading 5 passages…"), while nothing is shown yet
    since: float = 0.0  # time.monotonic() when the answer in progress was started (its question asked)
    drafting: bool = False  # the answer in progress shows text now (no status line to refresh)
    note: str = ""  # small print under the live bubble (the search query)
    slow_note: str = ""  # why the answer in progress is slow, as shown now ("" while it is not)
    in_line_since: float = 0.0  # when this tab started waiting behind other readers' questions
    draft: str = ""  # the checked sentences of the answer in progress, as plain text (shown as is when stopped)
    dates: DateRange | None = None  # the conversation's date filter (ui.chat_dates); None: every article

    @property
    def busy(self) -> bool:
        return bool(self.current or self.waiting)

    def new_conversation(self) -> None:
        with self.lock:
            self.turns = []
            self.waiting.clear()
            self.dates = None  # the filter is the conversation's: a new one reads every article again
            self.epoch += 1
            if self.current:
                self.stop.set()


class Sessions:
    """A bounded registry: the least recently used sessions are forgotten first (their tabs can restore)."""

    def __init__(self, limit: int = 500) -> None:
        self._limit = limit
        self._items: OrderedDict[str, ChatSession] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str | None) -> ChatSession:
        key = key or "anonymous"
        with self._lock:
            session = self._items.pop(key, None) or ChatSession()
            self._items[key] = session
            while len(self._items) > self._limit:
                oldest, old = next(iter(self._items.items()))
                if old.busy:  # never forget a session that is being answered
                    self._items.move_to_end(oldest)
                    break
                self._items.pop(oldest)
            return session

    def drop(self, key: str | None) -> None:
        with self._lock:
            self._items.pop(key or "anonymous", None)

    def __len__(self) -> int:
        return len(self._items)


class Line:
    """The tabs waiting for the reader, first come first served: how many questions from other readers come
    before a tab's first one (the one being answered counts)."""

    def __init__(self) -> None:
        self._waiting: list[str] = []
        self._answering: set[str] = set()
        self._lock = threading.Lock()

    def join(self, key: str) -> None:
        with self._lock:
            if key not in self._waiting and key not in self._answering:
                self._waiting.append(key)

    def start(self, key: str) -> None:
        with self._lock:
            if key in self._waiting:
                self._waiting.remove(key)
            self._answering.add(key)

    def leave(self, key: str) -> None:
        with self._lock:
            if key in self._waiting:
                self._waiting.remove(key)
            self._answering.discard(key)

    def ahead(self, key: str) -> int:
        """Questions from other tabs before this tab's next one; 0 when it is not waiting."""
        with self._lock:
            if key not in self._waiting:
                return 0
            return self._waiting.index(key) + len(self._answering - {key})

