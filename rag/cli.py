"""The `rag` command: ingest, search, ask, eval, serve. Domain errors become one-line messages."""

from __future__ import annotations

import functools
import json
import logging
import sys
from pathlib import Path

import click

from rag.errors import RagError
from rag.settings import Settings


def _friendly(fn):
    """Show RagError as a clean message (exit 1) instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RagError as e:
            raise click.ClickException(str(e)) from e

    return wrapper


def _pipeline(ctx: click.Context):
    from rag.pipeline import Pipeline

    if "pipeline" not in ctx.obj:
        ctx.obj["pipeline"] = Pipeline(ctx.obj["settings"])
    return ctx.obj["pipeline"]


@click.group()
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """Ask questions about news articles and get answers with verified citations."""
    settings = Settings.from_env()
    level = [settings.log_level.upper(), "INFO", "DEBUG"][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "urllib3", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    ctx.ensure_object(dict)
    ctx.obj["settings"] = settings


@cli.command("ingest")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--rebuild", is_flag=True, help="Ignore the existing index and build it again from scratch.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Embedding processes for large ingests (a sentence-transformers multi-process pool; "
                   "one per GPU, or a share of the CPU cores each).")
@click.pass_context
@_friendly
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
        from rag.embed import make_embedder
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

    report = _pipeline(ctx).ingest(list(paths), progress=progress, rebuild=rebuild)
    if bar is not None:
        bar.close()
    for path, reason in report.skipped:
        click.echo(f"skipped {path}: {reason}", err=True)
    for note in report.notes:
        click.echo(note, err=True)
    click.echo(report.summary())


@cli.command("search")
@click.argument("question")
@click.option("--k", "k", default=None, type=click.IntRange(1, 100), help="Number of passages (default 5).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of passages.")
@click.pass_context
@_friendly
def search_cmd(ctx: click.Context, question: str, k: int | None, as_json: bool) -> None:
    """Show the passages that best match QUESTION."""
    if not question.strip():
        raise click.ClickException("The question is empty: type some words to search for.")
    passages = _pipeline(ctx).search(question, k)
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in passages], ensure_ascii=False, indent=2))
        return
    for p in passages:
        dense = "-" if p.dense is None else f"{p.dense:.3f}"
        kw = "-" if p.keyword is None else f"{p.keyword:.2f}"
        click.secho(f"[{p.rank}] {p.title or p.chunk.doc} ({p.published or 'undated'})  "
                    f"score {p.score:.4f} dense {dense} keyword {kw}", bold=True)
        click.echo(f"    {p.chunk.doc}:{p.chunk.start}-{p.chunk.end}")
        click.echo("    " + " ".join(p.chunk.text.split()))
        click.echo()


@cli.command("ask")
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as one JSON object.")
@click.pass_context
@_friendly
def ask_cmd(ctx: click.Context, question: str, as_json: bool) -> None:
    """Answer QUESTION from the articles, with cited quotes. QUESTION '-' reads one question per line
    from stdin and, with --json, writes one JSON object per line (models load once)."""
    pipeline = _pipeline(ctx)
    if question == "-":
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                answer = pipeline.answer(line.rstrip("\n"))
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
        click.echo(json.dumps(pipeline.answer(question).to_dict(), ensure_ascii=False, indent=2))
        return
    final = None
    for event in pipeline.answer_stream(question):
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
        date = c.published or "undated"
        click.echo(f"  [{c.n}] {c.title} ({c.outlet}, {date}) {c.doc}:{c.start}-{c.end}")
        click.secho("      \u201c" + " ".join(c.quote.split()) + "\u201d", dim=True)
    t = answer.timings
    click.secho(f"  ({t.get('total_ms', 0) / 1000:.1f} s; first token {t.get('first_token_ms', 0) / 1000:.1f} s)",
                dim=True, err=True)


@cli.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--k", "k", default=5, show_default=True, help="Passages that count for evidence recall.")
@click.pass_context
@_friendly
def eval_cmd(ctx: click.Context, file: Path, as_json: bool, k: int) -> None:
    """Measure retrieval, answers, citations and refusals on a JSONL file of questions."""
    from tqdm import tqdm

    from rag.evaluate import evaluate, load_eval

    items = load_eval(file)
    pipeline = _pipeline(ctx)
    pipeline.warm_up()
    with tqdm(total=len(items), desc="eval", unit="q", file=sys.stderr) as bar:
        report = evaluate(pipeline, items, k=k, progress=lambda done, total, label: bar.update(1))
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(report.table())


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind; 0.0.0.0 shares it on the network.")
@click.option("--port", default=7860, show_default=True, type=int)
@click.pass_context
@_friendly
def serve_cmd(ctx: click.Context, host: str, port: int) -> None:
    """Start the chat UI in the browser."""
    from ui.app import launch

    settings: Settings = ctx.obj["settings"]
    if host not in ("127.0.0.1", "localhost", "::1") and not settings.auth:
        click.secho(f"Warning: serving on {host} without a login; set RAG_AUTH=user:password to require one.",
                    fg="yellow", err=True)
    launch(_pipeline(ctx), settings, host=host, port=port)


# ---------------------------------------------------------------- benchmarks


def _json_safe(x):
    """NaN and infinity become null, so the output is strict JSON."""
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return None
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    return x


def _emit(result, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(_json_safe(result.to_dict()), ensure_ascii=False, indent=2))
    else:
        click.echo(result.table())


def _bench_embedder(settings: Settings, kind: str, workers: int = 1):
    if kind == "hash":
        from rag.embed import HashEmbedder

        return HashEmbedder(dim=384)
    from rag.embed import make_embedder

    return make_embedder(settings, workers=workers)


def _sizes(raw: str) -> list[int]:
    out = []
    for part in raw.split(","):
        part = part.strip().lower().replace("_", "")
        if not part:
            continue
        mult = {"k": 1_000, "m": 1_000_000}.get(part[-1], 1)
        try:
            n = int(float(part[:-1] if mult > 1 else part) * mult)
        except ValueError:
            raise click.BadParameter(f"{part!r} is not a number of chunks (e.g. 10000,100k,1M)") from None
        if n < 100:
            raise click.BadParameter(f"{n} chunks is too few to measure (at least 100)")
        out.append(n)
    if not out:
        raise click.BadParameter("give at least one size")
    return out


@cli.group("bench")
def bench_group() -> None:
    """Measure answers, ingest and search (ratios against a baseline taken in the same run)."""


@bench_group.command("answer")
@click.option("--file", "file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Questions, one JSON object per line (default: tests/fixtures/dev.jsonl).")
@click.option("--repeat", default=1, show_default=True, type=click.IntRange(1, 100), help="Passes over the questions.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
@_friendly
def bench_answer_cmd(ctx: click.Context, file: Path | None, repeat: int, as_json: bool) -> None:
    """Time to first token and to the full answer (p50/p95), generator tokens/s, and the pipeline's
    overhead against the same generator called directly on the same prompts."""
    from rag.bench import DEFAULT_QUESTIONS, bench_answer

    file = file or DEFAULT_QUESTIONS
    if not file.is_file():
        raise click.ClickException(f"No question file at {file}: pass one with --file.")
    _emit(bench_answer(ctx.obj["settings"], file=file, repeat=repeat, progress=sys.stderr.isatty()), as_json)


@bench_group.command("ingest")
@click.option("--docs", default=1000, show_default=True, type=click.IntRange(1, 10_000_000),
              help="Synthetic documents to build from the bundled articles' sentences.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Embedding processes.")
@click.option("--embedder", "embedder_kind", type=click.Choice(["model", "hash"]), default="model",
              show_default=True, help="'hash': a fake embedder, to time everything but the model.")
@click.option("--baseline-chunks", default=2000, show_default=True, type=click.IntRange(0, None),
              help="Chunk texts (a random sample) for the raw-encode baseline; 0 = all.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write the corpus and index (default: a temporary folder, removed afterwards).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
@_friendly
def bench_ingest_cmd(ctx: click.Context, docs: int, workers: int, embedder_kind: str, baseline_chunks: int,
                     workdir: Path | None, as_json: bool) -> None:
    """Ingest throughput against raw SentenceTransformer.encode on the same chunks, and no-change re-ingest time."""
    from rag.bench import bench_ingest

    settings: Settings = ctx.obj["settings"]
    embedder = _bench_embedder(settings, embedder_kind, workers)
    try:
        result = bench_ingest(settings, docs, workers=workers, embedder=embedder, baseline_chunks=baseline_chunks,
                              workdir=workdir, progress=sys.stderr.isatty())
    finally:
        close = getattr(embedder, "close", None)
        if close:
            close()
    _emit(result, as_json)


@bench_group.command("search")
@click.option("--chunks", "sizes", default="10000,100000,1000000", show_default=True,
              help="Corpus sizes, comma-separated (10k, 1M also work).")
@click.option("--queries", default=100, show_default=True, type=click.IntRange(5, 10_000))
@click.option("--embedder", "embedder_kind", type=click.Choice(["model", "hash"]), default="model",
              show_default=True, help="'hash': a fake embedder (vectors without realistic structure).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
@_friendly
def bench_search_cmd(ctx: click.Context, sizes: str, queries: int, embedder_kind: str, as_json: bool) -> None:
    """Index build time, dense/keyword/hybrid latency, recall@10 against exact search and memory per chunk,
    on synthetic corpora (see the notes in the output)."""
    from rag.bench import bench_search

    settings: Settings = ctx.obj["settings"]
    result = bench_search(_sizes(sizes), settings=settings, embedder=_bench_embedder(settings, embedder_kind),
                          queries=queries, progress=sys.stderr.isatty())
    _emit(result, as_json)


@bench_group.command("coldstart")
@click.option("--question", default="Why did Putin enter Syria?", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
@_friendly
def bench_coldstart_cmd(ctx: click.Context, question: str, as_json: bool) -> None:
    """Time from starting `rag serve` to its first answer, and the server's peak memory."""
    from rag.bench import bench_cold_start

    _emit(bench_cold_start(ctx.obj["settings"], question), as_json)


def main() -> None:
    cli(obj={})


if __name__ == "__main__":
    main()
