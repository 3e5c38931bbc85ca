"""The NPU ledger: grants, releases, reconciliation and the charges of batch jobs.

Every method is a short synchronous database transaction (callers on an event loop run
them in an executor). Writers are serialized — SQLite: ``BEGIN IMMEDIATE``;
PostgreSQL: a transaction-scoped advisory lock — and a grant additionally marks its
devices with a compare-and-set update, so no device is ever held twice, across threads
and processes. Policy (accounts, limits, placement) is pure code in :mod:`.quota` and
:mod:`npuhub.hub.placement`; the ledger gathers the numbers and records the outcome.

The ledger is composed of small stores on the same database, each usable alone:
:class:`~.inventory.Inventory` (nodes, devices, drains, the topology),
:class:`~.policies.Policies` (quota policies and user overrides, limits and holdings) and
:class:`~.usage.Usage` (records, NPU-hours). A grant reads only what it needs: the
version counters (:mod:`.store`), the user's open allocation of the same holder, the
policies (remembered per version), what the user and the account hold and used, and
the free devices (remembered per version, :mod:`.free`). On SQLite the statements of a
grant and a release run on the DBAPI connection under SQLAlchemy's (:mod:`.fastpath`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, case, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from npuhub.hub import clock, placement
from npuhub.hub.orm import ALLOCATION_KINDS, Allocation, Device, Node, UTCDateTime

from . import capacity, fastpath, free, quota, store
from .capacity import CapacityError
from .inventory import Inventory
from .policies import Policies
from .quota import Limits
from .usage import HoursMemory, Usage, open_records

log = logging.getLogger("npuhub.ledger")
_A, _D = Allocation.__table__, Device.__table__
_FIND_ACTIVE = select(_A.c.id).where(
    _A.c.state == "active",
    _A.c.user == bindparam("user"),
    _A.c.kind == bindparam("kind"),
    _A.c.holder == bindparam("holder"),
)
_INSERT = insert(_A)
_HOLDS: dict[int, Any] = {}


def _hold(count: int):
    """The compare-and-set of `count` devices (one statement per count, built once)."""
    statement = _HOLDS.get(count)
    if statement is None:
        statement = _HOLDS[count] = (
            update(_D)
            .where(
                _D.c.id.in_([bindparam(f"d{i}") for i in range(count)]),
                _D.c.allocation_id.is_(None),
                _D.c.state == "available",
            )
            .values(allocation_id=bindparam("alloc"), since=bindparam("now", type_=UTCDateTime))
        )
    return statement
_NOW = bindparam("now", type_=UTCDateTime)
_CLOSE = (  # ended no earlier than it started
    update(_A)
    .where(_A.c.id == bindparam("alloc"), _A.c.state == "active")
    .values(
        state="released",
        ended=case((_A.c.started > _NOW, _A.c.started), else_=_NOW),
        reason=bindparam("reason"),
    )
    .returning(_A.c.account, _A.c.user, _A.c.npus, _A.c.started, _A.c.ended)
)
_GIVE_BACK = (
    update(_D)
    .where(_D.c.allocation_id == bindparam("alloc"))
    .values(allocation_id=None, since=bindparam("now", type_=UTCDateTime))
    .returning(_D.c.id)
)


@dataclass(frozen=True)
class Grant:
    allocation_id: int
    account: str
    devices: tuple[tuple[str, int, str], ...]  # (node, index, device path)


class Ledger(store.LedgerStore):
    """The NPU ledger of one platform database, over its inventory, policies and usage
    (built from the same session factory unless given)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        default_limits: Limits | None = None,
        *,
        inventory: Inventory | None = None,
        policies: Policies | None = None,
        usage: Usage | None = None,
    ):
        super().__init__(session_factory)
        self.inventory = inventory or Inventory(session_factory)
        self.policies = policies or Policies(session_factory, default_limits)
        self.usage = usage or Usage(session_factory, self.policies)
        self.waiting = capacity.Waiting()
        self._free = free.FreeTracker()
        self._hours = HoursMemory()

    # ------------------------------------------------------------------ allocation

    def allocate(
        self,
        *,
        user: str,
        groups: Iterable[str],
        account: str | None = None,
        kind: str,
        holder: str,
        npus: int,
        profile: str | None = None,
        device_type: str | None = None,
        default_account: str | None = None,
        devices: Iterable[tuple[str, int]] | None = None,
        place: bool = True,
    ) -> Grant:
        """Charge `account`, check the quota, place `npus` devices and hold them, in one
        transaction. An active allocation of the same (user, kind, holder) — a server
        that was never released — is closed first with reason "replaced". `devices`:
        these (node, index) instead of placing (a scheduler's plan); CapacityError if one
        is not free. `place=False`: the quota is checked and the NPUs counted, but another
        placer (Slurm) picks the devices, recorded later by :meth:`hold_granted`. Raises
        QuotaError or CapacityError with a message for the person."""
        if kind not in ALLOCATION_KINDS:
            raise ValueError(f"kind must be one of {', '.join(ALLOCATION_KINDS)}, not {kind!r}")
        groups = sorted(set(groups))
        holder = str(holder)
        wanted = None if devices is None else sorted((str(n), int(i)) for n, i in devices)
        if wanted is not None and len(set(wanted)) != npus:
            raise ValueError(f"{len(wanted)} devices given for {npus} NPUs")
        try:
            with self._write_connection() as conn:
                grant = self._grant(
                    conn, user, groups, account, kind, holder, npus, profile,
                    device_type, default_account, wanted, place,
                )
        except CapacityError as e:
            if e.transient:  # someone who could get NPUs later is waiting for them
                self.waiting.refused(user)
            raise
        except quota.LedgerError:
            raise  # refused before anything was remembered
        except BaseException:
            self._forget()  # what this transaction remembered did not happen
            raise
        self.waiting.granted(user)
        return grant

    def _grant(
        self, conn: Connection, user, groups, account, kind, holder, npus, profile,
        device_type, default_account, wanted=None, place=True,
    ) -> Grant:
        now = clock.utcnow()
        charged = quota.choose_account(user, groups, account, default_account)
        versions = store.bump(conn, store.HOLDINGS)
        self._hours.begin(versions.holdings)
        snapshot = self._free.valid(versions)
        returned: list[int] = []
        records = open_records(conn, user, charged)
        replaced = {
            r.id for r in records if (r.user, r.kind, r.holder) == (user, kind, holder)
        }
        for old in sorted(replaced):  # rare: remember no hours a refusal could roll back
            self._hours.forget()
            returned += self._close(conn, old, "replaced", now)
        limits = self.policies.limits(conn, user, groups, charged, versions.policies)
        current = self.policies.holdings(
            conn, user, groups, charged, limits, now,
            closed_hours=self._hours.closed_hours,
            records=[r for r in records if r.id not in replaced],
        )
        quota.check(npus, limits, current, profile=profile)
        if snapshot is not None:
            snapshot = snapshot.returned(returned)
        chosen: list[tuple[str, int]] = []
        if npus and place:
            if snapshot is None:  # another writer came between: read the devices again
                topology = self.inventory.topology(conn, versions.inventory)
                snapshot = free.load(conn, topology, versions.holdings)
            views = snapshot.node_views()
            if wanted is None:
                chosen = placement.place(views, npus, device_type) or []
            else:  # a scheduler chose: each must be free now (and of the type asked)
                free_now = {
                    (v.name, i) for v in views
                    if device_type is None or v.type == device_type for i in v.free
                }
                chosen = wanted if all(ref in free_now for ref in wanted) else []
            if not chosen:
                raise self._refusal(npus, device_type, user, snapshot)
        alloc_id = fastpath.execute(
            conn,
            _INSERT,
            {
                "user": user, "account": charged, "kind": kind, "holder": holder,
                "profile": profile, "npus": npus, "started": now, "state": "active",
                "devices": [[name, index] for name, index in chosen],
            },
        ).inserted_primary_key[0]
        if chosen:
            ids = [snapshot.topology.ids.get(ref) for ref in chosen]
            if None in ids:  # placement proposed a device that does not exist
                raise self._refusal(npus, device_type, user, snapshot)
            params = {f"d{i}": device_id for i, device_id in enumerate(ids)}
            held = fastpath.execute(
                conn, _hold(len(ids)), {**params, "alloc": alloc_id, "now": now}
            ).rowcount
            if held != len(ids):  # the belt: someone else got there first
                self._forget()
                raise self._refusal(npus, device_type, user, snapshot)
            snapshot = snapshot.taken(chosen)
        if snapshot is not None:
            self._free.install(snapshot, versions.holdings)
        self._hours.done(versions.holdings)
        topology = snapshot.topology if snapshot is not None else None
        return Grant(
            allocation_id=alloc_id,
            account=charged,
            devices=tuple((name, index, topology.path(name, index)) for name, index in chosen),
        )

    def _refusal(self, npus, device_type, user, snapshot: free.FreeDevices) -> CapacityError:
        return capacity.refusal(
            npus,
            device_type,
            snapshot.node_views(),
            snapshot.in_service_count(device_type),
            self.waiting.count(exclude=user),
        )

    def capacity_message(
        self, npus: int, device_type: str | None = None, user: str | None = None
    ) -> str:
        """Why `npus` NPUs cannot be had now, in English (the reason a queued job shows)."""
        with self._read() as session:
            conn = session.connection()
            versions = store.read(conn)
            topology = self.inventory.topology(conn, versions.inventory)
            snapshot = free.load(conn, topology, versions.holdings)
        return str(self._refusal(npus, device_type, user, snapshot))

    def free_views(self) -> list[placement.NodeView]:
        """What placement sees now: every node and its free devices (for a scheduler)."""
        with self._read() as session:
            conn = session.connection()
            versions = store.read(conn)
            topology = self.inventory.topology(conn, versions.inventory)
            return free.load(conn, topology, versions.holdings).node_views()

    def hold_granted(self, allocation_id: int, node: str, indices) -> list[tuple[str, int]]:
        """Write the devices another placer (Slurm) granted into an allocation made with
        ``place=False`` and hold them in the device table, so `npuhub devices` shows them
        with their holder and :meth:`release` frees them. A device the inventory does not
        know, or that another allocation holds, is logged and not taken (the allocation
        still names it)."""
        wanted = sorted({int(i) for i in indices})
        granted = [(str(node), i) for i in wanted]
        try:
            with self._write() as s:
                store.bump(s.connection(), store.HOLDINGS)
                alloc = s.get(Allocation, allocation_id)
                if alloc is None or alloc.state != "active":
                    return []
                alloc.devices = [[n, i] for n, i in granted]
                now = clock.utcnow()
                for d in s.scalars(
                    select(Device).join(Node).where(Node.name == str(node),
                                                    Device.index.in_(wanted))
                ):
                    if d.allocation_id not in (None, allocation_id):
                        log.warning("%s:%s granted by Slurm is held by allocation %s in the "
                                    "ledger", node, d.index, d.allocation_id)
                        continue
                    d.allocation_id, d.since = allocation_id, now
            return granted
        finally:
            self._forget()  # the free devices changed behind this process's memory

    # ------------------------------------------------------------------ release

    def release(self, allocation_id: int, reason: str = "stopped") -> bool:
        """Give the devices back and close the usage record. False if there was nothing
        to release (unknown, or already released): calling it twice is harmless."""
        try:
            with self._write_connection() as conn:
                return bool(self._released(conn, [allocation_id], reason))
        except BaseException:
            self._forget()
            raise

    def _forget(self) -> None:
        self._free.forget()
        self._hours.forget()

    def _released(self, conn: Connection, ids: list[int], reason: str) -> list[int]:
        """Close the active allocations among `ids` and count it; what this process
        remembers follows. The ids closed."""
        now = clock.utcnow()
        closed = []
        for alloc_id in ids:
            params = {"alloc": alloc_id, "now": now, "reason": reason}
            row = fastpath.execute(conn, _CLOSE, params).first()
            if row is not None:
                closed.append((alloc_id, row))
        if not closed:
            return []
        versions = store.bump(conn, store.HOLDINGS)
        self._hours.begin(versions.holdings)
        snapshot = self._free.valid(versions)
        returned: list[int] = []
        for alloc_id, row in closed:
            self._hours.closed(row.account, row.user, row.npus, row.started, row.ended)
            given = fastpath.execute(conn, _GIVE_BACK, {"alloc": alloc_id, "now": now})
            returned += [device_id for (device_id,) in given]
        if snapshot is not None:
            self._free.install(snapshot.returned(returned), versions.holdings)
        self._hours.done(versions.holdings)
        return [alloc_id for alloc_id, _ in closed]

    def _close(self, conn: Connection, alloc_id: int, reason: str, now: datetime) -> list[int]:
        """Close one record inside a grant (its hours counted); the device ids it held."""
        params = {"alloc": alloc_id, "now": now, "reason": reason}
        row = fastpath.execute(conn, _CLOSE, params).first()
        if row is None:
            return []
        self._hours.closed(row.account, row.user, row.npus, row.started, row.ended)
        given = fastpath.execute(conn, _GIVE_BACK, {"alloc": alloc_id, "now": now})
        return [device_id for (device_id,) in given]

    def reconcile(
        self,
        live: set[tuple[str, str, str]],
        *,
        kind: str | None = None,
        grace_seconds: float = 0.0,
    ) -> list[int]:
        """Release (reason "reconciled") every active allocation whose (user, kind, holder)
        is not in `live`, the set of what really runs. `kind` limits this to servers or
        jobs (when `live` only lists those); allocations younger than `grace_seconds` are
        spared (a server still starting). Returns the released ids."""
        try:
            with self._write() as s:
                now = clock.utcnow()
                query = select(_A.c.id, _A.c.user, _A.c.kind, _A.c.holder).where(
                    _A.c.state == "active"
                )
                if kind is not None:
                    query = query.where(_A.c.kind == kind)
                if grace_seconds:
                    query = query.where(_A.c.started <= now - timedelta(seconds=grace_seconds))
                conn = s.connection()
                gone = [
                    row.id
                    for row in conn.execute(query.order_by(_A.c.id))
                    if (row.user, row.kind, row.holder) not in live
                ]
                return self._released(conn, gone, "reconciled") if gone else []
        except BaseException:
            self._forget()
            raise

    # ------------------------------------------------------------------ batch jobs

    def charge_job(
        self,
        *,
        user: str,
        account: str,
        job_id: int,
        npus: int,
        profile: str | None = None,
        started: datetime | None = None,
    ) -> int:
        """A usage record of `npus` NPUs with no local devices (a Slurm job runs on the
        cluster's): NPU-hours are charged to `account` from `started` until the record is
        released (:meth:`release_job`). Idempotent: an open record of this job is reused."""
        with self._write() as s:
            conn = s.connection()
            holder = {"user": user, "kind": "job", "holder": str(job_id)}
            found = conn.execute(_FIND_ACTIVE, holder).first()
            if found is not None:
                return found.id
            return conn.execute(
                _INSERT,
                {
                    **holder, "account": account, "profile": profile, "npus": npus,
                    "devices": [], "started": started or clock.utcnow(), "state": "active",
                },
            ).inserted_primary_key[0]

    def release_job(self, user: str, job_id: int, reason: str = "job ended") -> bool:
        """Release what job `job_id` of `user` holds or is charged (devices of a local
        job, the record of a Slurm job); False if it holds nothing."""
        try:
            with self._write() as s:
                conn = s.connection()
                found = conn.execute(
                    _FIND_ACTIVE, {"user": user, "kind": "job", "holder": str(job_id)}
                )
                ids = [row.id for row in found]
                return bool(ids) and bool(self._released(conn, ids, reason))
        except BaseException:
            self._forget()
            raise
