"""`rag ingest`, `rag remove`, `rag search`, `rag ask` and `rag serve`: the library and questions about it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from rag.cli.root import cli, friendly, pipeline_of
from rag.dates import date_range, display_date
from rag.errors import RagError
from rag.schema import IngestReport
from rag.settings import Settings


@cli.command("ingest")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--rebuild", is_flag=True, help="Ignore the existing index and build it again from scratch.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Embedding processes for large ingests (a sentence-transformers multi-process pool; "
                   "one per GPU, or a share of the CPU cores each).")
@click.pass_context
@friendly
def ingest_cmd(ctx: click.Context, paths: tuple[Path, ...], rebuild: bool, workers: int) -> None:
    """Add, update or remove documents from PATHS (default: the data folder) in the index."""
    from tqdm import tqdm

    settings: Settings = ctx.obj["settings"]
    paths = paths or (Path(settings.data_dir),)
    for p in paths:
        if not p.exists():
            raise click.ClickException(f"{p} does not exist.")
    embedder = None
    if workers > 1 and "pipeline" not in ctx.obj:
        from rag.index.embed import make_embedder
        from rag.pipeline import Pipeline

        embedder = make_embedder(settings, workers=workers)
        ctx.obj["pipeline"] = Pipeline(settings, embedder=embedder)
        ctx.call_on_close(embedder.close)
    bar = None

    def progress(done: int, total: int, label: str) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=label, unit="chunk", file=sys.stderr, disable=total == 0)
        bar.n = done
        bar.refresh()

    report = pipeline_of(ctx).ingest(list(paths), progress=progress, rebuild=rebuild)
    if bar is not None:
        bar.close()
    _echo_report(report)


@cli.command("remove")
@click.argument("docs", nargs=-1, required=True)
@click.pass_context
@friendly
def remove_cmd(ctx: click.Context, docs: tuple[str, ...]) -> None:
    """Remove the documents DOCS (ids as 'rag search' shows them) from the index. Their files in the data
    folder move to its hidden .removed/ folder, so the next 'rag ingest' does not add them back."""
    _echo_report(pipeline_of(ctx).remove(list(docs)))


def _echo_report(report: IngestReport) -> None:
    """Skipped files and notes on stderr, the one-line summary on stdout."""
    for path, reason in report.skipped:
        click.echo(f"skipped {path}: {reason}", err=True)
    for note in report.notes:
        click.echo(note, err=True)
    click.echo(report.summary())


@cli.command("search")
@click.argument("question")
@click.option("--k", "k", default=None, type=click.IntRange(1, 100), help="Number of passages (default 5).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of passages.")
@click.option("--since", default=None, metavar="DATE",
              help="Only articles published on or after DATE (2026-03-05, 2026-03, 2026, 'March 2026').")
@click.option("--until", default=None, metavar="DATE",
              help="Only articles published on or before DATE (a month or a year counts to its end).")
@click.pass_context
@friendly
def search_cmd(ctx: click.Context, question: str, k: int | None, as_json: bool, since: str | None,
               until: str | None) -> None:
    """Show the passages that best match QUESTION."""
    if not question.strip():
        raise click.ClickException("The question is empty: type some words to search for.")
    dates = date_range(since, until)
    passages = pipeline_of(ctx).search(question, k, dates=dates)
    if not passages and dates:
        click.secho(f"No passage matches among the articles published {dates.label()}.", fg="yellow", err=True)
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in passages], ensure_ascii=False, indent=2))
        return
    for p in passages:
        dense = "-" if p.dense is None else f"{p.dense:.3f}"
        kw = "-" if p.keyword is None else f"{p.keyword:.2f}"
        date = display_date(p.published, p.published_approx) or "undated"
        click.secho(f"[{p.rank}] {p.title or p.chunk.doc} ({date})  "
                    f"score {p.score:.4f} dense {dense} keyword {kw}", bold=True)
        click.echo(f"    {p.chunk.doc}:{p.chunk.start}-{p.chunk.end}")
        click.echo("    " + " ".join(p.chunk.text.split()))
        click.echo()


@cli.command("ask")
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as one JSON object.")
@click.option("--since", default=None, metavar="DATE",
              help="Only articles published on or after DATE (2026-03-05, 2026-03, 2026, 'March 2026').")
@click.option("--until", default=None, metavar="DATE",
              help="Only articles published on or before DATE (a month or a year counts to its end).")
@click.pass_context
@friendly
def ask_cmd(ctx: click.Context, question: str, as_json: bool, since: str | None, until: str | None) -> None:
    """Answer QUESTION from the articles, with cited quotes. QUESTION '-' reads one question per line
    from stdin and, with --json, writes one JSON object per line (models load once). --since/--until read
    only the articles published in that range."""
    dates = date_range(since, until)
    pipeline = pipeline_of(ctx)
    if question == "-":
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                answer = pipeline.answer(line.rstrip("\n"), dates=dates)
                out = answer.to_dict() if as_json else None
            except RagError as e:
                if not as_json:
                    click.echo(f"error: {e}", err=True)
                    continue
                out = {"question": line.strip(), "error": str(e)}
            if as_json:
                click.echo(json.dumps(out, ensure_ascii=False), nl=True)
                sys.stdout.flush()
            else:
                _print_answer(answer)
        return
    if as_json:
        click.echo(json.dumps(pipeline.answer(question, dates=dates).to_dict(), ensure_ascii=False, indent=2))
        return
    final = None
    for event in pipeline.answer_stream(question, dates=dates):
        if event.kind == "query" and event.data != question:
            click.secho(f"(searching for: {event.data})", dim=True, err=True)
        elif event.kind == "token" and sys.stderr.isatty():
            click.secho(event.data, nl=False, dim=True, err=True)
        elif event.kind == "answer":
            final = event.data
    if sys.stderr.isatty():
        click.echo("\r\033[K", nl=False, err=True)
    _print_answer(final)


def _print_answer(answer) -> None:
    if answer.notice:
        click.secho(answer.notice, fg="yellow", err=True)
    click.secho(answer.answer, fg="yellow" if answer.refused else None, bold=not answer.refused)
    for c in answer.citations:
        date = display_date(c.published, c.published_approx) or "undated"
        click.echo(f"  [{c.n}] {c.title} ({c.outlet}, {date}) {c.doc}:{c.start}-{c.end}")
        click.secho("      \u201c" + " ".join(c.quote.split()) + "\u201d", dim=True)
    t = answer.timings
    click.secho(f"  ({t.get('total_ms', 0) / 1000:.1f} s; first token {t.get('first_token_ms', 0) / 1000:.1f} s)",
                dim=True, err=True)


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind; 0.0.0.0 shares it on the network.")
@click.option("--port", default=7860, show_default=True, type=int)
@click.pass_context
@friendly
def serve_cmd(ctx: click.Context, host: str, port: int) -> None:
    """Start the chat UI in the browser."""
    from ui.warmup import Warmup

    settings: Settings = ctx.obj["settings"]
    if host not in ("127.0.0.1", "localhost", "::1") and not settings.auth:
        click.secho(f"Warning: serving on {host} without a login; set RAG_AUTH=user:password to require one.",
                    fg="yellow", err=True)
    pipeline = pipeline_of(ctx)
    warmup = Warmup(pipeline)
    warmup.start()  # the models load while Gradio is imported and the page is built (~3 s on two cores)
    from ui.app import launch

    launch(pipeline, settings, host=host, port=port, warmup=warmup)
