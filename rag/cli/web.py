"""`rag add URL` and `rag feed add|list|remove|update`: news from the web into the library."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from rag.cli.root import cli, friendly, pipeline_of
from rag.settings import Settings


def _bar(unit: str) -> tuple[Callable[[int, int, str], None], Callable[[], None]]:
    """A tqdm progress callback (done, total, label) on stderr, and its close."""
    from tqdm import tqdm

    bar = None

    def tick(done: int, total: int, label: str) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=label if unit == "chunk" else "Fetching", unit=unit, file=sys.stderr,
                       disable=total == 0)
        bar.n = done
        bar.refresh()
        if done >= total:  # finished: the next bar (indexing) starts on a clean line
            close()

    def close() -> None:
        nonlocal bar
        if bar is not None:
            bar.close()
            bar = None

    return tick, close


@cli.command("add")
@click.argument("urls", nargs=-1, required=True)
@click.pass_context
@friendly
def add_cmd(ctx: click.Context, urls: tuple[str, ...]) -> None:
    """Fetch the web pages URLS, keep their article text and metadata under data/web/, and index them. Adding an
    address again updates its article. Exit status 1 when a page could not be added."""
    from rag.web.add import add_urls

    settings: Settings = ctx.obj["settings"]
    fetched, close_fetch = _bar("page")
    indexed, close_index = _bar("chunk")
    report = add_urls(urls, pipeline_of(ctx), settings, progress=indexed, fetched=fetched)
    close_fetch()
    close_index()
    for page in report.pages:
        click.echo(page.line(), err=page.status == "failed")
    click.echo(report.summary())
    if report.failed:
        ctx.exit(1)


@cli.group("feed")
def feed_group() -> None:
    """Follow RSS and Atom feeds: their new articles are added on each 'rag feed update'."""


@feed_group.command("add")
@click.argument("url")
@click.option("--no-update", is_flag=True, help="Only follow it; fetch its articles on the next update.")
@click.pass_context
@friendly
def feed_add_cmd(ctx: click.Context, url: str, no_update: bool) -> None:
    """Follow the feed at URL, and (unless --no-update) add its articles now."""
    from rag.web.feeds import follow

    feed = follow(url, ctx.obj["settings"])
    click.echo(f"following {feed.title or feed.url} ({feed.url})")
    if not no_update:
        _update(ctx, [feed.url])


@feed_group.command("list")
@click.pass_context
@friendly
def feed_list_cmd(ctx: click.Context) -> None:
    """The feeds followed, with their last update."""
    from rag.web.feeds import FeedList

    feeds = FeedList(ctx.obj["settings"].feeds_path).read()
    if not feeds:
        click.echo("No feeds followed yet: add one with 'rag feed add URL'.")
    for f in feeds:
        when = f.last_update.replace("T", " ")[:16] + " UTC" if f.last_update else "never updated"
        click.echo(f"{f.title or '(untitled)'}\n    {f.url}\n    {when}: {f.last_result or '-'}; "
                   f"{len(f.hashes)} articles taken")


@feed_group.command("remove")
@click.argument("url")
@click.pass_context
@friendly
def feed_remove_cmd(ctx: click.Context, url: str) -> None:
    """Stop following the feed at URL (its articles stay in the library; 'rag remove' drops those)."""
    from rag.errors import FetchError
    from rag.web.feeds import unfollow

    feed = unfollow(url, ctx.obj["settings"])
    if feed is None:
        raise FetchError(f"not following {url}; 'rag feed list' shows the feeds followed")
    click.echo(f"no longer following {feed.title or feed.url}")


@feed_group.command("update")
@click.argument("urls", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every feed followed (the default when no URL is given).")
@click.pass_context
@friendly
def feed_update_cmd(ctx: click.Context, urls: tuple[str, ...], all_: bool) -> None:
    """Fetch and index the new articles of the feeds URLS, or of every feed followed. Seen entries are skipped.
    Exit status 1 when a feed could not be read."""
    _update(ctx, None if all_ or not urls else list(urls))


def _update(ctx: click.Context, urls: list[str] | None) -> None:
    from rag.web.feeds import FeedList, update

    settings: Settings = ctx.obj["settings"]
    if urls is None and not FeedList(settings.feeds_path).read():
        click.echo("No feeds followed yet: add one with 'rag feed add URL'.")
        return
    fetched, close_fetch = _bar("article")
    indexed, close_index = _bar("chunk")
    results = update(urls, pipeline_of(ctx), settings, progress=indexed, fetched=fetched)
    close_fetch()
    close_index()
    for r in results:
        for page in r.failed:
            click.echo(page.line(), err=True)
        if r.note:
            click.echo(f"note: {r.note}", err=True)
        click.echo(f"{r.title or r.feed}: {r.summary()}")
    if any(r.error for r in results):
        ctx.exit(1)
