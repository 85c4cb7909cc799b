"""The ``roost`` command line: run the parts, operate projections, read events."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from infra import runners
from infra.settings import Settings
from ports.projectors import PROJECTORS

app = typer.Typer(help="Roost: an event-sourced social platform backend.", no_args_is_help=True)
projections_app = typer.Typer(help="Inspect, rebuild and repair projections.",
                              no_args_is_help=True)
events_app = typer.Typer(help="Read the event stream (for analysts).", no_args_is_help=True)
app.add_typer(projections_app, name="projections")
app.add_typer(events_app, name="events")
console = Console()


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


@projections_app.command("status")
def projections_status() -> None:
    """Each projector's position and lag behind the event store."""
    from infra.operations import projection_status

    rows = asyncio.run(projection_status(Settings()))
    table = Table("projector", "position", "event store", "lag", "parked")
    for row in rows:
        table.add_row(*(str(row[k]) for k in ("name", "position", "store", "lag", "parked")))
    console.print(table)


@projections_app.command("rebuild")
def projections_rebuild(
    name: Annotated[str, typer.Argument(help=" or ".join(PROJECTORS))],
    yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False,
) -> None:
    """Throw a projection away and rebuild it from the first event."""
    from infra.operations import rebuild

    if not yes:
        typer.confirm(f"Rebuild {name} from scratch? Readers see it fill up again", abort=True)
    applied = asyncio.run(rebuild(Settings(), name, console))
    console.print(f"[green]{name} rebuilt from {applied} events[/green]")


@projections_app.command("parked")
def projections_parked() -> None:
    """Events a projector failed on and set aside."""
    from infra.operations import parked

    rows = asyncio.run(parked(Settings()))
    table = Table("projector", "position", "type", "attempts", "error", "parked at")
    for row in rows:
        table.add_row(row["projector"], str(row["position"]), row["event_type"],
                      str(row["attempts"]), row["error"][:80], str(row["parked_at"]))
    console.print(table)


@projections_app.command("replay-parked")
def projections_replay_parked(name: str) -> None:
    """Apply a projector's parked events again (after fixing the cause)."""
    from infra.operations import replay_parked

    done, failed = asyncio.run(replay_parked(Settings(), name))
    console.print(f"replayed {done}, still failing {failed}")


@events_app.command("tail")
def events_tail(
    after: Annotated[int, typer.Option(help="start after this position")] = 0,
    limit: Annotated[int, typer.Option(help="how many events")] = 100,
    types: Annotated[str, typer.Option(help="comma-separated event types")] = "",
) -> None:
    """Print events as JSON lines (pipe to a file to export)."""
    from infra.operations import read_events

    wanted = {t for t in types.split(",") if t}
    for envelope in asyncio.run(read_events(Settings(), after, limit, wanted)):
        typer.echo(json.dumps(envelope, ensure_ascii=False))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
