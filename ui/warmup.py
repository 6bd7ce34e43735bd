"""Load models in the background so the page opens at once and early questions wait instead of failing."""

from __future__ import annotations

import logging
import threading

from rag.errors import RagError
from rag.pipeline_api import PipelineAPI

log = logging.getLogger(__name__)


class Warmup:
    """Runs `pipeline.warm_up()` once in a daemon thread; callers can wait for it or poll it."""

    def __init__(self, pipeline: PipelineAPI) -> None:
        self._pipeline = pipeline
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self.error: str = ""

    def start(self) -> None:
        """Idempotent: the first caller starts the thread."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="rag-warm-up", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            self._pipeline.warm_up()
        except RagError as e:
            self.error = str(e)
            log.warning("warm-up failed: %s", e)
        except Exception as e:  # noqa: BLE001 - shown as a friendly banner; details go to the log
            self.error = f"The models could not be loaded ({type(e).__name__}). See the server log for details."
            log.exception("warm-up failed")
        finally:
            self._done.set()

    @property
    def ready(self) -> bool:
        if self.error:
            return False
        try:
            return self._done.is_set() or bool(self._pipeline.is_ready())
        except Exception:  # noqa: BLE001 - a failing probe just means "not yet"
            return False

    @property
    def finished(self) -> bool:
        return self._done.is_set() or self.ready

    def wait(self, timeout: float | None = None) -> bool:
        """Block until loading finished; True when the pipeline can be used."""
        self.start()
        if not self.ready:
            self._done.wait(timeout)
        return self.ready
