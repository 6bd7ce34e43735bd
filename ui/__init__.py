"""The Gradio web UI. Importing this package loads no models (and not even Gradio until used)."""

from __future__ import annotations

from typing import Any

__all__ = ["build_app", "launch"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from ui import app

        return getattr(app, name)
    raise AttributeError(name)
