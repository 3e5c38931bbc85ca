"""The service's watch over running servers, every `watch_interval` seconds:

- keep the ledger true to what runs: allocations of servers that no longer exist
  (removed users, servers lost while the hub was down) are released (the hub's own poll
  releases crashed servers);
- enforce budgets and session limits (hub/enforce.py)."""

from __future__ import annotations

import asyncio
import logging

from tornado.ioloop import PeriodicCallback

log = logging.getLogger("npuhub.reconcile")


def live_servers(users: list[dict]) -> set[tuple[str, str, str]]:
    """(user, "server", server name) of every server that is ready or starting."""
    return {
        (u["name"], "server", name)
        for u in users
        for name, s in (u.get("servers") or {}).items()
        if s.get("ready") or s.get("pending")
    }


async def reconcile_once(ledger, hub, grace_seconds: float = 120, users=None) -> list[int]:
    """`hub`: the service's npuhub.hub.hubapi.AsyncHubAPI."""
    live = live_servers(users if users is not None else await hub.active_users())
    released = await asyncio.get_running_loop().run_in_executor(
        None, lambda: ledger.reconcile(live, kind="server", grace_seconds=grace_seconds)
    )
    if released:
        log.warning("Released NPU allocation(s) of servers that no longer run: %s", released)
    return released


def start_watch(ledger, enforcer, hub, interval_s: float) -> PeriodicCallback:
    async def tick():
        try:
            users = await hub.active_users()
            await reconcile_once(ledger, hub, users=users)
            await enforcer.tick({u["name"]: u.get("groups") or [] for u in users})
        except Exception:
            log.exception("Watching the servers failed; will retry")

    asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(tick()))
    pc = PeriodicCallback(tick, interval_s * 1000)
    pc.start()
    return pc
