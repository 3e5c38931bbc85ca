"""Keep the ledger true to what runs: allocations of servers that no longer exist
(removed users, servers lost while the hub was down) are released. Runs in the platform
service at start and then periodically; the hub's own poll releases crashed servers."""

from __future__ import annotations

import asyncio
import json
import logging
import os

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.ioloop import PeriodicCallback

log = logging.getLogger("npuhub.reconcile")


async def live_servers(hub_api_url: str, token: str) -> set[tuple[str, str, str]]:
    """(user, "server", server name) of every server that is ready or starting."""
    client = AsyncHTTPClient()
    live: set[tuple[str, str, str]] = set()
    url = f"{hub_api_url.rstrip('/')}/users?state=active&limit=200"
    offset = 0
    while True:
        req = HTTPRequest(
            f"{url}&offset={offset}",
            headers={
                "Authorization": f"token {token}",
                "Accept": "application/jupyterhub-pagination+json",
            },
        )
        resp = await client.fetch(req)
        body = json.loads(resp.body)
        items = body["items"] if isinstance(body, dict) else body
        for user in items:
            for name, server in (user.get("servers") or {}).items():
                if server.get("ready") or server.get("pending"):
                    live.add((user["name"], "server", name))
        nxt = body.get("_pagination", {}).get("next") if isinstance(body, dict) else None
        if not nxt:
            return live
        offset = nxt["offset"]


async def reconcile_once(
    ledger, hub_api_url: str, token: str, grace_seconds: float = 120
) -> list[int]:
    live = await live_servers(hub_api_url, token)
    released = await asyncio.get_running_loop().run_in_executor(
        None, lambda: ledger.reconcile(live, kind="server", grace_seconds=grace_seconds)
    )
    if released:
        log.warning(
            "Released %d NPU allocation(s) of servers that no longer run: %s",
            len(released),
            released,
        )
    return released


def start_reconciler(ledger, interval_s: float = 60) -> PeriodicCallback:
    hub_api = os.environ["JUPYTERHUB_API_URL"]
    token = os.environ["JUPYTERHUB_API_TOKEN"]

    async def tick():
        try:
            await reconcile_once(ledger, hub_api, token)
        except Exception:
            log.exception("Reconciling the NPU ledger failed; will retry")

    asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(tick()))
    pc = PeriodicCallback(tick, interval_s * 1000)
    pc.start()
    return pc
