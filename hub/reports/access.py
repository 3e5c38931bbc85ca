"""Who may read which usage: administrators every account; others only the accounts
they belong to (their groups and their own name), as GET /usage allows."""

from __future__ import annotations

from collections.abc import Iterable


class NotAllowed(PermissionError):
    """Usage of an account the reader does not belong to."""


def readable_accounts(
    user: str, groups: Iterable[str], admin: bool, account: str | None
) -> list[str] | None:
    """The accounts a report covers: [account] if given and allowed, all (None) for an
    administrator, else the reader's own accounts."""
    own = set(groups) | {user}
    if account is not None:
        if not admin and account not in own:
            raise NotAllowed(f"You are not a member of account {account!r}")
        return [account]
    return None if admin else sorted(own)
