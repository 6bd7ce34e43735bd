"""`rag check`: is a claim supported by the articles (or by a given quote)? The claim judge as a command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from rag.cli.root import cli, friendly, pipeline_of
from rag.errors import RagError


@cli.command("check")
@click.argument("claim", required=False)
@click.option("--quote", default=None, help="Judge CLAIM against this quote instead of searching the library.")
@click.option("--question", default="", help="Also check that the claim answers this question.")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON. With CLAIM '-': read JSON lines {\"claim\", \"quote\"?, \"question\"?} from stdin "
                   "and print one JSON line each: {\"claim\", \"verdict\", \"score\", \"quote\", ...}.")
@click.option("--eval", "eval_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A labelled JSONL set (claim, quote, kind, label): print accuracy per kind.")
@click.option("--split", type=click.Choice(["all", "fit", "report"]), default="all", show_default=True,
              help="With --eval: half of the set, by a hash of each id (fit the threshold on one, report the other).")
@click.option("--rules-only", is_flag=True, help="Judge by the rules alone, without asking the reader model.")
@click.pass_context
@friendly
def check_cmd(ctx: click.Context, claim: str | None, quote: str | None, question: str, as_json: bool,
              eval_path: Path | None, split: str, rules_only: bool) -> None:
    """Say whether CLAIM is supported, with the quotes that decide it.

    Without --quote the library is searched for the best quotes, and a claim one of them says otherwise about is
    "contradicted". Exit status: 0 supported, 1 not supported or contradicted (for one claim); with --json - or
    --eval, 0 when every line was judged."""
    from rag.answer.check import check_in_library, check_pair, validate_claim

    pipeline = pipeline_of(ctx)
    settings = ctx.obj["settings"]
    kw = {"threshold": settings.judge_threshold, "use_model": not rules_only}

    def one(item: dict):
        text = validate_claim(item.get("claim"))
        if item.get("quote"):
            return check_pair(pipeline.generator, text, item["quote"], question=item.get("question", ""), **kw)
        return check_in_library(pipeline, text, question=item.get("question", ""), **kw)

    if eval_path is not None:
        _eval(eval_path, split, one, as_json)
        return
    if claim is None:
        raise click.UsageError("Give a CLAIM, or '-' with --json to read JSON lines, or --eval FILE.")
    if claim == "-":
        for n, line in enumerate(sys.stdin, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if not isinstance(item, dict) or not str(item.get("claim", "")).strip():
                    raise ValueError('each line needs a "claim"')
                out = one(item).to_dict()
            except (ValueError, RagError) as e:
                out = {"line": n, "error": f"line {n}: {e}"}
            click.echo(json.dumps(out, ensure_ascii=False))
            sys.stdout.flush()
        return
    result = one({"claim": claim, "quote": quote, "question": question})
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(f"{result.verdict.upper()} (score {result.score:.2f}): {result.reason}")
        if result.quote:
            click.echo(f"  “{' '.join(result.quote.split())}”{_where(result.source)}")
    ctx.exit(0 if result.verdict == "supported" else 1)


def _where(source) -> str:
    """"  — Title (Outlet, Oct 2015 (approx.))": where a library quote is from, as people read it."""
    from rag.dates import display_date

    if source is None or not source.doc:
        return ""
    meta = ", ".join(x for x in (source.outlet, display_date(source.published, source.published_approx)) if x)
    return f"  — {source.title or source.doc}" + (f" ({meta})" if meta else "")


def _eval(path: Path, split: str, one, as_json: bool) -> None:
    from rag.answer.check import accuracy_by_kind
    from rag.evaluate import item_split

    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as e:
            raise click.ClickException(f"{path}:{n}: not JSON ({e})") from e
        if split != "all" and item_split(str(item.get("id", n))) != split:
            continue
        result = one(item)
        rows.append((item, result))
        if as_json:
            click.echo(json.dumps({"id": item.get("id"), "kind": item.get("kind"), "label": item.get("label"),
                                   **result.to_dict()}, ensure_ascii=False))
    table = accuracy_by_kind(rows)
    if as_json:
        click.echo(json.dumps({"accuracy_by_kind": table}, ensure_ascii=False))
        return
    click.echo(f"{path}: split {split}, {len(rows)} claims")
    click.echo("| kind | n | judged as labelled |\n|---|---|---|")
    for kind, m in sorted(table.items()):
        click.echo(f"| {kind} | {m['n']} | {m['accuracy']:.0%} |")
