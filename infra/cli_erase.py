"""``roost erase USERNAME``: erase an account's personal data (issue 12).

Registered on the ``roost`` app by one line of ``infra/cli.py``; meant to become
``roost accounts erase`` under the ``accounts`` sub-app when that exists. Running
it is the operator's authorization (``EraseAccount.requested_by = "operator"``).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from infra.settings import Settings


def erase(
    username: Annotated[str, typer.Argument(help="The account to erase (any letter case).")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase USERNAME's personal data: destroy its data key, rewrite its plain rows,
    end its sessions and record AccountErased (the projections then purge it).

    Prints ``{"account_id", "rows_rewritten", "sessions_ended", "already_erased",
    "position"}``; exit code 1 when no account has that name. Idempotent.
    """
    from commands.messages import EraseAccount
    from domain.errors import NotFound
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
