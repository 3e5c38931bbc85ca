"""The service's watch over running servers, every `watch_interval` seconds:

- keep the ledger true to what runs: allocations of servers that no longer exist
  (removed users, servers lost while the hub was down) are released (the hub's own poll
  releases crashed servers);
- enforce budgets and session limits (hub/enforce.py)."""

from __future__ import annotations

import asyncio
import json
import logging

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.ioloop import PeriodicCallback

log = logging.getLogger("npuhub.reconcile")


async def active_users(hub_api_url: str, token: str) -> list[dict]:
    """User models (with groups and servers) of every user with a server."""
    client = AsyncHTTPClient()
    users: list[dict] = []
    offset = 0
    while True:
        req = HTTPRequest(
            f"{hub_api_url.rstrip('/')}/users?state=active&limit=200&offset={offset}",
            headers={
                "Authorization": f"token {token}",
                "Accept": "application/jupyterhub-pagination+json",
            },
        )
        body = json.loads((await client.fetch(req)).body)
        users += body["items"] if isinstance(body, dict) else body
        nxt = body.get("_pagination", {}).get("next") if isinstance(body, dict) else None
        if not nxt:
            return users
        offset = nxt["offset"]


def live_servers(users: list[dict]) -> set[tuple[str, str, str]]:
    """(user, "server", server name) of every server that is ready or starting."""
    return {
        (u["name"], "server", name)
        for u in users
        for name, s in (u.get("servers") or {}).items()
        if s.get("ready") or s.get("pending")
    }


async def reconcile_once(
    ledger, hub_api_url: str, token: str, grace_seconds: float = 120, users=None
) -> list[int]:
    live = live_servers(users if users is not None else await active_users(hub_api_url, token))
    released = await asyncio.get_running_loop().run_in_executor(
        None, lambda: ledger.reconcile(live, kind="server", grace_seconds=grace_seconds)
    )
    if released:
        log.warning("Released NPU allocation(s) of servers that no longer run: %s", released)
    return released


def start_watch(ledger, enforcer, hub_api: str, token: str, interval_s: float) -> PeriodicCallback:
    async def tick():
        try:
            users = await active_users(hub_api, token)
            await reconcile_once(ledger, hub_api, token, users=users)
            await enforcer.tick({u["name"]: u.get("groups") or [] for u in users})
        except Exception:
            log.exception("Watching the servers failed; will retry")

    asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(tick()))
    pc = PeriodicCallback(tick, interval_s * 1000)
    pc.start()
    return pc
