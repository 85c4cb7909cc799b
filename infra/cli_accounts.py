"""``roost accounts``: operator commands on accounts (a typer sub-app).

Registered by one line in ``infra/cli.py``. To add a command, add a function
decorated with ``@app.command("name")`` here; ``run_command`` runs a command
message on a command bus built from the settings and closes it afterwards.
"""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer
from rich.console import Console

from commands.messages import Result, SetAdmin
from domain.errors import RoostError
from infra.settings import Settings

app = typer.Typer(help="Operate on accounts (the admin role).", no_args_is_help=True)
console = Console()

Username = Annotated[str, typer.Argument(help="the account's username (any case)")]
By = Annotated[str | None, typer.Option(
    help="who does this, recorded in the event (default: your login name on this machine)")]


def operator(by: str | None) -> str:
    """Who runs the command, as recorded: ``by`` or ``cli:<login name>``."""
    if by:
        return by
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "cli"


def run_command(settings: Settings, command: Any) -> Result:
    """Run ``command`` on a command bus built from ``settings``; a refusal is printed
    and exits with status 1."""
    from infra.bootstrap import build_command_bus, close_command_bus

    bus = build_command_bus(settings)
    try:
        return bus.handle(command)
    except RoostError as error:
        console.print(f"[red]{error.message}[/red]")
        raise typer.Exit(1) from None
    finally:
        close_command_bus(bus)


def _set_admin(username: str, active: bool, by: str | None) -> None:
    result = run_command(Settings(), SetAdmin(username, active, operator(by)))
    role = "an admin" if active else "not an admin"
    console.print(f"{result.data['username']} is {role} (position {result.position})")


@app.command("grant-admin")
def grant_admin(username: Username, by: By = None) -> None:
    """Give the account the admin role: its tokens may use /api/admin/... at once."""
    _set_admin(username, True, by)


@app.command("revoke-admin")
def revoke_admin(username: Username, by: By = None) -> None:
    """Take the admin role away: the account's next admin request is 403, with the
    tokens it holds now too."""
    _set_admin(username, False, by)
