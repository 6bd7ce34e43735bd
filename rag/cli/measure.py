"""`rag eval` (quality against a question set) and `rag bench answer|ingest|search|coldstart|library|reader|users|soak`
(speed, memory, and a server under load)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from rag.cli.root import cli, friendly, pipeline_of
from rag.evaluate import SPLITS, TYPES, EvalItem, EvalReport, RunInfo
from rag.pipeline_api import PipelineAPI
from rag.settings import Settings


@cli.command("eval")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--k", "k", default=5, show_default=True, help="Passages that count for evidence recall.")
@click.option("--split", type=click.Choice(SPLITS), default="all", show_default=True,
              help="Half of the questions, by a hash of their id: fit thresholds and prompts on one, report the other. "
                   "For a set folder, half of its corpus, indexed alone, with the questions about it.")
@click.option("--type", "types", multiple=True, type=click.Choice(TYPES),
              help="Only questions of this type (repeatable).")
@click.option("--limit", type=click.IntRange(1, None), default=None, help="Only the first N questions (after the filters).")
@click.option("--index-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="For a set folder: keep its corpus index here and reuse it next time (default: a temporary folder).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write one JSON line per question: answer, quotes and scores, for error analysis.")
@click.option("--ladder", is_flag=True,
              help="Also score the reader given the gold sentence, the gold passage, and what the pipeline chooses "
                   "(gold sentence chosen first / in the first three): where answers are lost.")
@click.pass_context
@friendly
def eval_cmd(ctx: click.Context, path: Path, as_json: bool, k: int, split: str, types: tuple[str, ...],
             limit: int | None, index_dir: Path | None, out_path: Path | None, ladder: bool) -> None:
    """Measure retrieval, answers, citations and refusals on a set of questions.

    PATH is a JSONL file of questions about the configured index, or a folder with questions.jsonl and
    corpus/ (indexed on its own, in a temporary folder unless --index-dir is given). Ctrl-C stops the run
    and prints the report for the questions answered so far."""
    from rag.evaluate import (check_writable_outside, corpus_half, corpus_pipeline, load_eval, open_eval_set,
                              select_items)

    if out_path is not None and not out_path.parent.is_dir():
        raise click.ClickException(f"--out {out_path}: the folder {out_path.parent} does not exist.")
    evset = open_eval_set(path)
    items = load_eval(evset.questions)
    files = None
    if evset.corpus is not None and split != "all":  # a corpus half, indexed on its own, and its questions
        files, halved = corpus_half(sorted(p for p in evset.corpus.iterdir() if p.is_file()), items, split)
        selected = select_items(halved, "all", types, limit)
    else:
        selected = select_items(items, split, types, limit)
    if not selected:
        raise click.ClickException(f"No questions in {path} match --split {split}"
                                   + "".join(f" --type {t}" for t in types) + ".")
    run = RunInfo(source=str(path), split=split, types=types, limit=limit, in_set=len(items), selected=len(selected),
                  by_corpus=files is not None)
    if evset.corpus is None:
        if index_dir is not None:
            raise click.ClickException("--index-dir is for a set folder with its own corpus; "
                                       "a .jsonl file is run against the configured index.")
        report = _eval_run(pipeline_of(ctx), selected, k, run, out_path, ladder)
    else:
        for where, what in ((index_dir, "--index-dir"), (out_path, "--out")):
            if where is not None:
                check_writable_outside(where, evset.path, what)
        with corpus_pipeline(ctx.obj["settings"], evset.corpus, index_dir, factory=ctx.obj.get("pipeline_factory"),
                             progress=_eval_ingest_bar(), files=files) as (pipeline, ingest_report):
            click.echo(f"indexed {evset.corpus}: {ingest_report.summary()}", err=True)
            report = _eval_run(pipeline, selected, k, run, out_path, ladder)
    rungs = None
    if ladder:
        from rag.evaluate.ladder import ladder_summary, ladder_table

        rungs = ladder_summary(report.ladder)
    if as_json:
        click.echo(json.dumps({**report.to_dict(), **({"ladder": rungs} if rungs else {})}, ensure_ascii=False,
                              indent=2))
    else:
        click.echo(report.heading())
        click.echo(report.table())
        if rungs:
            click.echo("\nThe ladder (all key terms in the reply; answerable questions):")
            click.echo(ladder_table(rungs))
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


def _eval_run(pipeline: PipelineAPI, items: list[EvalItem], k: int, run: RunInfo, out_path: Path | None,
              ladder: bool = False) -> EvalReport:
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
            if ladder:
                from rag.evaluate.ladder import ladder_items

                rows = ladder_items(pipeline, items, k)
            else:
                rows = ((r, None) for r in score_items(pipeline, items, k))
            for row in rows:
                r, rung = (row.item, row) if ladder else row
                report.items.append(r)
                if rung is not None:
                    report.ladder.append(rung)
                if fh is not None:
                    extra = rung.to_dict() if rung is not None else {}
                    fh.write(json.dumps({**r.to_dict(), "split": run.split if run.by_corpus else item_split(r.id), **({"ladder": extra} if extra
                                                                                       else {})},
                                        ensure_ascii=False) + "\n")
                    fh.flush()
                bar.update(1)
        except KeyboardInterrupt:
            report.interrupted = True
    return report


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
        from rag.index.embed import HashEmbedder

        return HashEmbedder(dim=384)
    from rag.index.embed import make_embedder

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
@click.option("--busy", default=0, show_default=True, type=click.IntRange(0, 256),
              help="Also answer with this many cores kept busy by other processes, and print the ratios to idle.")
@click.option("--replay", is_flag=True,
              help="Also make each question's model calls on the generator directly (doubles the time): the "
                   "pipeline's overhead.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
@friendly
def bench_answer_cmd(ctx: click.Context, file: Path | None, repeat: int, busy: int, replay: bool,
                     as_json: bool) -> None:
    """Time to the first checked sentence and to the full answer (p50/p95) as multiples of a reference job of the
    reader run first (512 tokens read, 32 written), explanations and one-answer questions apart, and a table of
    where the time goes (per stage: calls, tokens read and written, speed). With --busy N: the same questions
    idle and then under load, in one run."""
    from rag.bench import DEFAULT_QUESTIONS, bench_answer

    file = file or DEFAULT_QUESTIONS
    if not file.is_file():
        raise click.ClickException(f"No question file at {file}: pass one with --file.")
    if busy:
        from rag.bench.busy import bench_busy

        _emit(bench_busy(ctx.obj["settings"], file=file, busy=busy, progress=sys.stderr.isatty()), as_json)
        return
    _emit(bench_answer(ctx.obj["settings"], file=file, repeat=repeat, progress=sys.stderr.isatty(), replay=replay),
          as_json)


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
@friendly
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


def _stores(raw: str) -> tuple[str, ...]:
    from rag.settings import STORES

    stores = tuple(dict.fromkeys(s.strip().lower() for s in raw.split(",") if s.strip()))
    bad = [s for s in stores if s not in STORES]
    if bad or not stores:
        raise click.BadParameter(f"{', '.join(bad) or raw!r}: use faiss, milvus or faiss,milvus.", param_hint="--store")
    return stores


@bench_group.command("search")
@click.option("--chunks", "sizes", default="10000,100000,1000000", show_default=True,
              help="Corpus sizes, comma-separated (10k, 1M also work).")
@click.option("--queries", default=100, show_default=True, type=click.IntRange(5, 10_000))
@click.option("--embedder", "embedder_kind", type=click.Choice(["model", "hash"]), default="model",
              show_default=True, help="'hash': a fake embedder (vectors without realistic structure).")
@click.option("--store", "stores", default="faiss", show_default=True,
              help="Which stores to measure, comma-separated: faiss, milvus (Milvus Lite), or faiss,milvus.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
@friendly
def bench_search_cmd(ctx: click.Context, sizes: str, queries: int, embedder_kind: str, stores: str,
                     as_json: bool) -> None:
    """Index build time, dense/keyword/hybrid latency, recall@10 against exact search and memory per chunk,
    on synthetic corpora (see the notes in the output)."""
    from rag.bench import bench_search

    settings: Settings = ctx.obj["settings"]
    result = bench_search(_sizes(sizes), settings=settings, embedder=_bench_embedder(settings, embedder_kind),
                          queries=queries, progress=sys.stderr.isatty(), stores=_stores(stores))
    _emit(result, as_json)


@bench_group.command("coldstart")
@click.option("--question", default="Why did Putin enter Syria?", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
@friendly
def bench_coldstart_cmd(ctx: click.Context, question: str, as_json: bool) -> None:
    """Time from starting `rag serve` to its first answer, and the server's peak memory."""
    from rag.bench import bench_cold_start

    _emit(bench_cold_start(ctx.obj["settings"], question), as_json)


@bench_group.command("library")
@click.option("--articles", default=5000, show_default=True, type=click.IntRange(10, 1_000_000),
              help="Generated articles in the library.")
@click.option("--repeat", default=5, show_default=True, type=click.IntRange(1, 100), help="Runs of each action.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@friendly
def bench_library_cmd(articles: int, repeat: int, as_json: bool) -> None:
    """The Library tab's list over a generated library: listing, a search, a sort, an outlet filter and a removal,
    each timed through the tab's code with a stub pipeline (no models); the target is under a second each."""
    from rag.bench import bench_library

    result = bench_library(articles, repeat=repeat)
    _emit(result, as_json)
    if not all(ok for _, _, ok in result.targets()):
        raise SystemExit(1)


@bench_group.command("reader")
@click.option("--configs", default="0,1,default", show_default=True,
              help="RAG_LLM_REPACK values to run (0, 1), and 'default' for llama.cpp's untouched defaults.")
@click.option("--prompt-tokens", default=512, show_default=True, type=click.IntRange(1, 8192))
@click.option("--decode-tokens", default=32, show_default=True, type=click.IntRange(0, 1024))
@click.option("--reps", default=3, show_default=True, type=click.IntRange(1, 50), help="Repetitions (median).")
@click.option("--threads", default=0, show_default=True, type=click.IntRange(0, 512),
              help="llama.cpp threads; 0: RAG_LLM_THREADS or the CPU cores.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
@friendly
def bench_reader_cmd(ctx: click.Context, configs: str, prompt_tokens: int, decode_tokens: int, reps: int,
                     threads: int, as_json: bool) -> None:
    """Load time, prompt and decode speed and peak memory of the reader on llama.cpp, per configuration, each in
    its own process (one that crashes is reported, with its cause)."""
    from rag.bench import bench_reader
    from rag.bench.reader import CONFIGS

    chosen = [c.strip().lower() for c in configs.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in CONFIGS]
    if unknown or not chosen:
        raise click.BadParameter(f"{', '.join(unknown) or 'nothing'}: choose from {', '.join(CONFIGS)}",
                                 param_hint="--configs")
    _emit(bench_reader(ctx.obj["settings"], chosen, prompt_tokens=prompt_tokens, decode_tokens=decode_tokens,
                       reps=reps, threads=threads), as_json)


@bench_group.command("users")
@click.option("--users", default=8, show_default=True, type=click.IntRange(1, 16), help="Users asking at once.")
@click.option("--per-user", default=2, show_default=True, type=click.IntRange(1, 20), help="Questions each asks.")
@click.option("--ingest", default=0, show_default=True, type=click.IntRange(0, 5000),
              help="Also time answers while the server indexes this many uploaded (synthetic) articles.")
@click.option("--file", "file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Questions, one JSON object per line (default: tests/fixtures/dev.jsonl).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
@friendly
def bench_users_cmd(ctx: click.Context, users: int, per_user: int, ingest: int, file: Path | None,
                    as_json: bool) -> None:
    """Against one `rag serve` on loopback: the same answers asked one at a time and by several users at once
    (wall-time ratio), and with --ingest N answers asked while an upload is indexed."""
    from rag.bench.users import bench_users

    _emit(bench_users(ctx.obj["settings"], users=users, per_user=per_user, ingest=ingest, file=file), as_json)


@bench_group.command("soak")
@click.option("--minutes", default=60.0, show_default=True, type=click.FloatRange(0.5, 24 * 60))
@click.option("--users", default=4, show_default=True, type=click.IntRange(1, 16), help="Simulated readers.")
@click.option("--window", "window_min", default=5.0, show_default=True, type=click.FloatRange(0.25, 600),
              help="Minutes per row of the report (the first is the warm-up).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--file", "file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Questions, one JSON object per line (default: tests/fixtures/dev.jsonl).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
@friendly
def bench_soak_cmd(ctx: click.Context, minutes: float, users: int, window_min: float, seed: int, file: Path | None,
                   as_json: bool) -> None:
    """Simulated readers ask, follow up, stop, reload, upload and remove against one `rag serve` on loopback:
    errors, lost or mixed-up answers, and memory, threads, open files and latency per window."""
    from rag.bench.soak import bench_soak

    result = bench_soak(ctx.obj["settings"], minutes=minutes, users=users, window_min=window_min, seed=seed,
                        file=file)
    _emit(result, as_json)
    if not all(ok for _, _, ok in result.targets()):
        ctx.exit(1)
