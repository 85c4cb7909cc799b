"""``roost projections status | rebuild | verify``: projections' versions and progress,
blue-green rebuilds, and checks of a live copy against a fresh build
(``infra.rebuild``). Registered on the ``projections`` sub-app by ``infra.cli``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from infra.settings import Settings
from ports.projectors import PROJECTORS

console = Console()
progress_console = Console(stderr=True)
"""Progress bars go to standard error, so ``--json`` output on standard output stays
machine-readable."""


class RateColumn(ProgressColumn):
    """Events per second, as the rebuild measures it (``task.fields["rate"]``)."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.fields.get('rate', 0.0):,.0f} events/s", style="cyan")


def progress_bar() -> Progress:
    """The bar of a long rebuild: phase, bar, position/target, rate, elapsed, ETA."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    RateColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                    TimeRemainingColumn(), console=progress_console)


class BarProgress:
    """An ``infra.rebuild.Progress`` drawing on a rich ``Progress``, one task per phase."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.tasks: dict[str, Any] = {}

    def __call__(self, phase: str, position: int, target: int, rate: float) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.bar.add_task(phase, total=target, rate=0.0)
        self.bar.update(self.tasks[phase], completed=position, total=target, rate=rate)


def register(projections_app: typer.Typer) -> None:
    """Add the commands to ``roost projections``."""
    projections_app.command("status")(status)
    projections_app.command("rebuild")(rebuild)
    projections_app.command("verify")(verify)


def status(
    sample: Annotated[float, typer.Option(help="seconds over which to measure each rate")] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, not a table")] = False,
) -> None:
    """Each projection's version (code, live copy, copy being built), position, lag,
    rate and state."""
    from infra.cli import on_projections
    from infra.operations import projection_status

    rows = on_projections(Settings(), lambda services: projection_status(services, sample))
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    columns = ("name", "version", "live", "building", "position", "store", "lag", "rate",
               "state", "parked")
    table = Table("projection", "code version", "live copy", "building", "position",
                  "event store", "lag", "events/s", "state", "parked")
    for row in rows:
        table.add_row(*(str(row[k]) for k in columns))
    console.print(table)


def rebuild(
    name: Annotated[str, typer.Argument(help=" or ".join(PROJECTORS))],
    in_place: Annotated[bool, typer.Option(
        "--in-place", help="truncate and refill the live copy (readers see it fill up) "
        "instead")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask (--in-place)")] = False,
) -> None:
    """Build the next copy of a projection beside the live one from the event store,
    catch up, switch readers to it atomically and drop the old copy. The API serves
    reads and writes throughout; nothing is announced to clients."""
    from infra.bootstrap import rebuild_lease
    from infra.cli import on_projections
    from infra.lease import LeaseLost, LeaseTimeout
    from infra.operations import rebuild as rebuild_in_place
    from infra.rebuild import rebuild as blue_green
    from infra.rebuild import rebuildable

    settings = Settings()
    if name not in PROJECTORS:
        raise typer.BadParameter(f"unknown projection {name!r}; one of {', '.join(PROJECTORS)}")
    if in_place or not rebuildable(name):
        if not in_place:
            console.print(f"[red]{name} has no blue-green copies yet: rebuild it with "
                          "--in-place (readers see it fill up)[/red]")
            raise typer.Exit(2)
        if not yes:
            typer.confirm(f"Rebuild {name} in place? Readers see it fill up again", abort=True)
        applied = on_projections(
            settings, lambda services: rebuild_in_place(settings, services, name, console))
        console.print(f"[green]{name} rebuilt in place from {applied} events[/green]")
        return

    async def run(services: Any) -> Any:
        with progress_bar() as bar:
            async with rebuild_lease(settings, services.redis, name).hold():
                return await blue_green(settings, services, name, BarProgress(bar))

    try:
        result = on_projections(settings, run)
    except LeaseTimeout:
        console.print(f"[red]a rebuild of {name} is already running[/red]")
        raise typer.Exit(1) from None
    except LeaseLost:
        console.print(f"[red]the rebuild lease of {name} lapsed while it ran (a pause longer "
                      "than its life): another rebuild may have run beside it, and this one "
                      "may have switched readers already. See `roost projections status`; "
                      "run the rebuild again if its copy is not the one serving[/red]")
        raise typer.Exit(1) from None
    console.print(f"[green]{name} now served by copy {result.copy} (version {result.version}) "
                  f"at position {result.position}: {result.events} events in "
                  f"{result.seconds:.1f}s; copy {result.retired} dropped[/green]")


def verify(
    name: Annotated[str, typer.Argument(help=" or ".join(PROJECTORS))],
    limit: Annotated[int, typer.Option(help="differences shown per table, at most")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, not a table")] = False,
) -> None:
    """Rebuild a projection into a scratch copy, report every difference from the live
    one, drop the scratch copy. Exit status 1 when they differ."""
    from infra.cli import on_projections
    from infra.rebuild import NotRebuildable
    from infra.rebuild import verify as do_verify

    settings = Settings()

    async def run(services: Any) -> Any:
        with progress_bar() as bar:
            return await do_verify(settings, services, name, BarProgress(bar), limit)

    try:
        found: list[dict[str, Any]] = on_projections(settings, run)
    except NotRebuildable as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    if as_json:
        for entry in found:
            typer.echo(json.dumps(entry, default=str))
    else:
        table = Table("table", "key", "difference", "column: live -> rebuilt")
        for entry in found:
            table.add_row(entry["table"], json.dumps(entry["key"], default=str), entry["kind"],
                          "; ".join(f"{c}: {v[0]!r} -> {v[1]!r}"
                                    for c, v in entry["columns"].items()))
        console.print(table)
        console.print(f"{len(found)} difference(s) between the live {name} and a fresh build")
    raise typer.Exit(1 if found else 0)
