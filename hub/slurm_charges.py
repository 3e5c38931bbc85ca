"""The ledger's record of a server that runs as a Slurm job (cluster mode).

Slurm picks the node and the NPUs, so the ledger cannot place them itself. Instead:

1. :func:`reserve` — before the job is handed to Slurm, one ledger write transaction
   checks the quota and budget and opens an allocation of `npus` NPUs with no devices
   yet (it counts against the quota at once: two requests cannot both pass);
2. :func:`record_grant` — once the job runs, the devices Slurm granted (node, indices)
   are written into that allocation and held in the device table, so ``GET /devices``
   and ``npuhub devices`` show them with their holder;
3. the ledger's own ``release`` frees them when the server stops.

It uses the ledger's transaction and quota helpers as :mod:`npuhub.hub.jobs.queue` does.
"""

from __future__ import annotations

import logging

from sqlalchemy import update

from . import clock, db, quota
from .orm import Allocation, Device, Node

log = logging.getLogger("npuhub.slurm_charges")


def reserve(ledger, *, user: str, groups, account: str | None, holder: str, npus: int,
            profile: str | None) -> tuple[int, str]:
    """Check the quota and open an allocation of `npus` NPUs with no devices yet, in one
    transaction; returns (allocation id, account charged). Raises QuotaError."""
    groups = sorted(set(groups))
    with db.transaction(ledger.session_factory, write=True, lock=db.LEDGER_LOCK) as s:
        now = clock.utcnow()
        charged = quota.choose_account(user, groups, account, None)
        for old in Allocation.find_active(s, user, "server", holder):
            ledger._close(s, old, "replaced", now)
        limits = ledger._limits(s, user, groups, charged)
        current = ledger._holdings(s, user, groups, charged, limits, now)
        quota.check(npus, limits, current, profile=profile)
        alloc = Allocation(user=user, account=charged, kind="server", holder=holder,
                           profile=profile, npus=npus, devices=[], started=now, state="active")
        s.add(alloc)
        s.flush()
        return alloc.id, charged


def record_grant(ledger, allocation_id: int, node: str, indices) -> list[tuple[str, int]]:
    """Write the devices Slurm granted into the allocation and hold them in the device
    table. A device the ledger does not know (a node outside its inventory) or that another
    holder still has is logged, not taken: the allocation still names it."""
    granted = [[node, int(i)] for i in indices]
    with db.transaction(ledger.session_factory, write=True, lock=db.LEDGER_LOCK) as s:
        alloc = s.get(Allocation, allocation_id)
        if alloc is None or alloc.state != "active":
            return []
        alloc.devices = granted
        node_row = Node.find(s, node)
        if node_row is None:
            log.warning("Slurm node %s is not in the ledger's inventory", node)
            return [tuple(d) for d in granted]
        now = clock.utcnow()
        for d in node_row.devices:
            if d.index in set(int(i) for i in indices):
                if d.allocation_id not in (None, allocation_id):
                    log.warning("%s:%s granted by Slurm is held by allocation %s in the "
                                "ledger", node, d.index, d.allocation_id)
                    continue
                s.execute(update(Device).where(Device.id == d.id)
                          .values(allocation_id=allocation_id, since=now)
                          .execution_options(synchronize_session=False))
        return [tuple(d) for d in granted]
