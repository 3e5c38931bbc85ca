"""Shared by the ledger's database tests."""

from __future__ import annotations

from npuhub.hub.ledger import Grant


def alloc(ledger, user="ana", npus=1, groups=(), holder="", kind="server", **kw) -> Grant:
    return ledger.allocate(
        user=user, groups=list(groups), kind=kind, holder=holder, npus=npus, **kw
    )


def held(ledger) -> dict[tuple[str, int], dict]:
    return {(d["node"], d["index"]): d["holder"] for d in ledger.inventory.devices() if d["holder"]}
