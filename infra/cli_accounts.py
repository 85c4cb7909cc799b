"""``roost accounts``: operator commands on accounts (a typer sub-app): the admin
role (``grant-admin``, ``revoke-admin``), suspension (``suspend``, ``unsuspend``) and
erasure (``erase``, issue 12).

Registered by one line in ``infra/cli.py``. To add a command, add a function
decorated with ``@app.command("name")`` here; ``run_command`` runs a command
message on a command bus built from the settings and closes it afterwards.
"""

from __future__ import annotations

import getpass
import json
from typing import Annotated, Any

import typer
from rich.console import Console

from commands.messages import EraseAccount, Result, SetAdmin, SetSuspension
from domain.errors import NotFound, RoostError
from infra.settings import Settings

app = typer.Typer(help="Operate on accounts (the admin role, suspension, erasure).",
                  no_args_is_help=True)
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


def _set_suspension(username: str, active: bool, reason: str, by: str | None) -> None:
    result = run_command(Settings(), SetSuspension(username, active, operator(by), reason))
    typer.echo(json.dumps({**result.data, "position": result.position}))


@app.command("suspend")
def suspend(
    username: Username,
    reason: Annotated[str, typer.Option(
        help="the moderator's note, recorded in the event (at most 500 characters)")] = "",
    by: By = None,
) -> None:
    """Suspend USERNAME: its tokens are refused at once (403 account_suspended), its
    sessions end, it cannot sign in, and its profile and posts are hidden from everyone
    (search, timelines, threads, notifications) until `roost accounts unsuspend`.

    Prints ``{"username", "account_id", "suspended", "changed", "sessions_ended",
    "position"}``; exit code 1 when no account has that name or the reason is refused.
    Idempotent (a suspended account stays suspended; its sessions are ended again).
    """
    _set_suspension(username, True, reason, by)


@app.command("unsuspend")
def unsuspend(username: Username, by: By = None) -> None:
    """Lift USERNAME's suspension: it may sign in again (its old sessions stay ended),
    and it and its posts are shown again. Prints as ``suspend``; idempotent."""
    _set_suspension(username, False, "", by)


@app.command("erase")
def erase(
    username: Annotated[str, typer.Argument(help="The account to erase (any letter case).")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase USERNAME's personal data: destroy its data key, rewrite its plain rows,
    end its sessions and record AccountErased (the projections then purge it).

    Prints ``{"account_id", "rows_rewritten", "sessions_ended", "already_erased",
    "position"}``; exit code 1 when no account has that name. Idempotent. Running it
    is the operator's authorization (``EraseAccount.requested_by = "operator"``).
    """
    from infra.bootstrap import build_command_bus, close_command_bus

    if not yes:
        typer.confirm(f"Erase {username!r}'s personal data for good?", abort=True)
    bus = build_command_bus(Settings())
    try:
        result = bus.handle(EraseAccount(username=username, requested_by="operator"))
    except NotFound as error:
        typer.echo(json.dumps({"error": error.code, "username": username}), err=True)
        raise typer.Exit(1) from None
    finally:
        close_command_bus(bus)
    typer.echo(json.dumps({**result.data, "position": result.position}))
