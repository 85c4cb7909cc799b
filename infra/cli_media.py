"""``roost media``: operate the media store (``roost media sweep``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated

import typer

from infra.settings import Settings

media_app = typer.Typer(help="Operate the media store.", no_args_is_help=True)


async def _sweep(settings: Settings, dry_run: bool) -> int:
    from infra.bootstrap import build_media_store
    from infra.database import open_pool
    from infra.media_sweeper import SweepDeferred, sweep_with
    from infra.positions import RecordedPositions
    from infra.redis_clients import build_async_redis
    from infra.redis_keys import RedisKeys

    pool = await open_pool(settings)
    client = build_async_redis(settings)
    try:
        positions = RecordedPositions(pool, client, RedisKeys(settings.redis_prefix))
        def listing(keys: Sequence[str]) -> None:  # each page's keys, as they go
            for key in keys:
                typer.echo(f"  {key}")

        try:
            report = await sweep_with(settings, build_media_store(settings), pool, positions,
                                      dry_run=dry_run, removed=listing)
        except SweepDeferred as deferred:
            typer.echo(f"deferred: {deferred}", err=True)
            return 75  # EX_TEMPFAIL: try again later
    finally:
        await client.aclose()
        await pool.close()
    verb = "would remove" if dry_run else "removed"
    typer.echo(f"listed {report.listed}, {verb} {report.removed} (above), kept "
               f"{report.needed} needed and {report.recent} written within the grace period")
    return 0


@media_app.command("sweep")
def sweep(dry_run: Annotated[bool, typer.Option(help="list, remove nothing")] = False) -> None:
    """Remove media objects nothing serves any more: deleted posts' media, media left
    unattached for 24 hours, orphans of crashed uploads."""
    raise typer.Exit(asyncio.run(_sweep(Settings(), dry_run)))
