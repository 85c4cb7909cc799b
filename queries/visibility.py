"""Who a reader must not see: blocks (either way) and, in the home timeline, mutes."""

from __future__ import annotations

from ports.read_model_reader import HiddenAccounts, ReadModelReader

NOBODY = HiddenAccounts()


def hides(hidden: HiddenAccounts, account_id: int, *, with_mutes: bool) -> bool:
    """Whether the reader that ``hidden`` is of must not see ``account_id``'s posts and
    reposts: a block either way hides them everywhere, a mute only ``with_mutes`` (in
    the muter's home timeline)."""
    return account_id in hidden.blocked or (with_mutes and account_id in hidden.muted)


async def hidden_for(read_models: ReadModelReader, reader_id: int | None) -> HiddenAccounts:
    """Whom ``reader_id`` must not see; nobody for a reader who is not signed in."""
    if reader_id is None:
        return NOBODY
    return await read_models.hidden_accounts(reader_id)
