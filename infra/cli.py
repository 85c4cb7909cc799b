"""The ``roost`` command line: run the parts, operate projections, read events."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from infra import cli_accounts, cli_events, cli_media, cli_projections, runners
from infra.settings import Settings

if TYPE_CHECKING:
    from infra.bootstrap import ProjectionServices

T = TypeVar("T")

app = typer.Typer(help="Roost: an event-sourced social platform backend.", no_args_is_help=True)
projections_app = typer.Typer(help="Inspect, rebuild and repair projections.",
                              no_args_is_help=True)
app.add_typer(projections_app, name="projections")
cli_events.register(app)  # roost events ..., roost timeline ... (infra/cli_events.py)
app.add_typer(cli_accounts.app, name="accounts")  # grant-/revoke-admin, erase
cli_projections.register(projections_app)  # status/rebuild/verify (infra/cli_projections.py)
app.add_typer(cli_media.media_app, name="media")  # roost media ... (infra/cli_media.py)
console = Console()


def on_projections(settings: Settings, task: Callable[[ProjectionServices], Awaitable[T]]) -> T:
    """Run an operator task (``infra.operations``) on the projectors and connections
    the composition root builds, closing them afterwards."""
    from infra.bootstrap import build_projections

    async def run() -> T:
        services = await build_projections(settings)
        try:
            return await task(services)
        finally:
            await services.close()

    return asyncio.run(run())


@app.command()
def api() -> None:
    """Serve the HTTP API."""
    runners.run_api(Settings())


@app.command()
def relay() -> None:
    """Publish the event store's new events to Kafka (one active relay at a time)."""
    runners.run_relay(Settings())


@app.command()
def worker() -> None:
    """Run the Faust stream workers that feed the projectors."""
    runners.run_worker(Settings())


@app.command()
def migrate() -> None:
    """Create the database, the event table and the read-model tables."""
    from infra.database import migrate as do_migrate

    do_migrate(Settings())
    console.print("[green]schema is up to date[/green]")


@app.command()
def up() -> None:
    """Start everything (servers, API, relay, workers) and serve until Ctrl-C."""
    from infra.supervisor import run_stack

    raise typer.Exit(run_stack(Settings(), console))


@app.command()
def services() -> None:
    """Make sure PostgreSQL and Redis answer, starting them if they do not."""
    from pathlib import Path

    from infra.supervisor import ensure_services

    ensure_services(Settings(), console, Path(".roost"))
    console.print("PostgreSQL and Redis answer")


@projections_app.command("parked")
def projections_parked() -> None:
    """Events a projector failed on and set aside."""
    from infra.operations import parked

    rows = on_projections(Settings(), parked)
    table = Table("projector", "position", "type", "attempts", "error", "parked at")
    for row in rows:
        table.add_row(row["projector"], str(row["position"]), row["event_type"],
                      str(row["attempts"]), row["error"][:80], str(row["parked_at"]))
    console.print(table)


@projections_app.command("replay-parked")
def projections_replay_parked(name: str) -> None:
    """Apply a projector's parked events again (after fixing the cause)."""
    from infra.operations import replay_parked

    done, failed = on_projections(Settings(), lambda services: replay_parked(services, name))
    console.print(f"replayed {done}, still failing {failed}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
