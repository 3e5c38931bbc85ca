"""At the platform service's start: make the host mounts of every user with a running
server match the database (the host mounts survive a restart, the database is the
truth)."""

from __future__ import annotations

import asyncio
import logging

from .catalog import DatasetError
from .mounter import MountError
from .store import restore_user

log = logging.getLogger("npuhub.datasets.restore")


async def restore_running(store, root: str, users: list[dict]) -> None:
    """`store`: the platform's DatasetStore; `users`: the hub's models of the users with
    a server (groups, admin, servers)."""
    loop = asyncio.get_running_loop()
    for u in users:
        if not any(s.get("ready") or s.get("pending") for s in (u.get("servers") or {}).values()):
            continue
        try:
            await loop.run_in_executor(
                None, restore_user, store, root, u["name"], u.get("groups") or [],
                bool(u.get("admin")),
            )
        except (DatasetError, MountError, OSError) as e:
            log.warning("Restoring the datasets of %s failed: %s", u["name"], e)
