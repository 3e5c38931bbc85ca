"""At the platform service's start: make the host mounts of every user with a running
server match the database (the host mounts survive a restart, the database is the
truth). Then, on every watch: whoever lost access to a dataset they have mounted (a
group left on the admin page or over the REST API, a grant revoked) loses the mount."""

from __future__ import annotations

import asyncio
import logging

from .catalog import DatasetError
from .mounter import MountError
from .store import drop_lost, restore_user

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


async def drop_lost_mounts(store, root: str, users: list[dict]) -> list[tuple[str, str]]:
    """Unmount, for each user with a server (`users`: the hub's models), what their
    groups of now no longer allow; [(user, dataset)] dropped."""
    loop = asyncio.get_running_loop()
    dropped = []
    for u in users:
        try:
            names = await loop.run_in_executor(
                None, drop_lost, store, root, u["name"], u.get("groups") or [],
                bool(u.get("admin")),
            )
        except (MountError, OSError) as e:
            log.warning("Re-checking the datasets of %s failed: %s", u["name"], e)
            continue
        for name in names:
            log.info("Unmounted dataset %s of %s: no longer theirs", name, u["name"])
            dropped.append((u["name"], name))
    return dropped

