"""The `rag` command: ingest, remove, search, ask, serve (library), eval and bench (measure), models. Domain errors
become one-line messages (root.friendly)."""

from rag.cli import check, library, measure, models, web  # noqa: F401 - importing them registers their commands
from rag.cli.root import cli, main

__all__ = ["cli", "main"]
