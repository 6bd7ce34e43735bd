"""The `rag` group itself (settings, logging), and what every command uses: domain errors as one-line messages and
one pipeline per invocation."""

from __future__ import annotations

import functools
import logging
import sys

import click

from rag.errors import RagError
from rag.settings import Settings


def friendly(fn):
    """Show RagError as a clean message (exit 1) instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RagError as e:
            raise click.ClickException(str(e)) from e

    return wrapper


def pipeline_of(ctx: click.Context):
    from rag.pipeline import Pipeline

    if "pipeline" not in ctx.obj:
        ctx.obj["pipeline"] = Pipeline(ctx.obj["settings"])
    return ctx.obj["pipeline"]


@click.group()
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.pass_context
@friendly  # a bad RAG_* variable is a one-line message too
def cli(ctx: click.Context, verbose: int) -> None:
    """Ask questions about news articles and get answers with verified citations."""
    settings = Settings.from_env()
    level = [settings.log_level.upper(), "INFO", "DEBUG"][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "urllib3", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    ctx.ensure_object(dict)
    ctx.obj["settings"] = settings


def main() -> None:
    cli(obj={})

