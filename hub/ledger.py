"""The NPU ledger: which devices exist, who holds which, and what it cost.

Every method is a short synchronous database transaction (callers on an event loop run
them in an executor). Writers are serialized — SQLite: ``BEGIN IMMEDIATE``;
PostgreSQL: a transaction-scoped advisory lock — and a grant additionally marks its
devices with a compare-and-set update, so no device is ever held twice, across threads
and processes. Policy (accounts, limits, placement) is pure code in :mod:`.quota` and
:mod:`.placement`; the ledger gathers the numbers and records the outcome.

This module holds the :class:`Ledger`'s core (its transactions) and allocation (grant,
release, reconcile); the rest of the class comes from mixins, each in a module named for
what it holds: :mod:`.devices` (nodes, devices, drains), :mod:`.capacity` (refusals for
lack of NPUs, who is waiting), :mod:`.quota_policies` (stored policies and user
overrides, the limits and holdings of a request) and :mod:`.usage_reports` (open
allocations, NPU-hours). The public names of those modules are importable from here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from . import clock, db, placement, quota
from .capacity import WAIT_WINDOW_S, CapacityError, CapacityMixin
from .devices import MANAGED_ELSEWHERE, InventoryMixin, NodeSpec, device_path
from .orm import ALLOCATION_KINDS, Allocation, Device, Node
from .quota import LedgerError, Limits, QuotaError
from .quota_policies import QuotaPolicyMixin
from .usage_reports import UsageReportsMixin

__all__ = [
    "MANAGED_ELSEWHERE",
    "WAIT_WINDOW_S",
    "CapacityError",
    "Grant",
    "Ledger",
    "LedgerError",
    "NodeSpec",
    "QuotaError",
    "device_path",
]


@dataclass(frozen=True)
class Grant:
    allocation_id: int
    account: str
    devices: tuple[tuple[str, int, str], ...]  # (node, index, device path)


class Ledger(InventoryMixin, CapacityMixin, QuotaPolicyMixin, UsageReportsMixin):
    """The NPU ledger of one platform database (the module docstring says which part
    of it lives where)."""

    def __init__(
        self, session_factory: sessionmaker[Session], default_limits: Limits | None = None
    ):
        self.session_factory = session_factory
        self.default_limits = default_limits or quota.DEFAULT_LIMITS
        self._waiting: dict[str, float] = {}  # user -> monotonic time of capacity refusal
        self._waiting_lock = threading.Lock()

    # ------------------------------------------------------------------ transactions

    def _write(self):
        return db.transaction(self.session_factory, write=True, lock=db.LEDGER_LOCK)

    def _read(self):
        return db.transaction(self.session_factory)

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
    ) -> Grant:
        """Charge `account`, check the quota, place `npus` devices and hold them, in one
        transaction. An active allocation of the same (user, kind, holder) — a server
        that was never released — is closed first with reason "replaced". `devices`:
        these (node, index) instead of placing (a scheduler's plan); CapacityError if one
        is not free. Raises QuotaError or CapacityError with a message for the person."""
        if kind not in ALLOCATION_KINDS:
            raise ValueError(f"kind must be one of {', '.join(ALLOCATION_KINDS)}, not {kind!r}")
        groups = sorted(set(groups))
        holder = str(holder)
        try:
            with self._write() as s:
                now = clock.utcnow()
                charged = quota.choose_account(user, groups, account, default_account)
                for old in Allocation.find_active(s, user, kind, holder):
                    self._close(s, old, "replaced", now)
                limits = self._limits(s, user, groups, charged)
                current = self._holdings(s, user, groups, charged, limits, now)
                quota.check(npus, limits, current, profile=profile)
                grant = self._place_and_hold(
                    s,
                    Allocation(
                        user=user,
                        account=charged,
                        kind=kind,
                        holder=holder,
                        profile=profile,
                        npus=npus,
                        devices=[],
                        started=now,
                        state="active",
                    ),
                    device_type,
                    now,
                    None if devices is None else sorted(devices),
                )
        except CapacityError as e:
            if e.transient:  # someone who could get NPUs later is waiting for them
                with self._waiting_lock:
                    self._waiting[user] = time.monotonic()
            raise
        with self._waiting_lock:
            self._waiting.pop(user, None)
        return grant

    def _place_and_hold(
        self,
        s: Session,
        alloc: Allocation,
        device_type: str | None,
        now: datetime,
        devices: list[tuple[str, int]] | None = None,
    ) -> Grant:
        chosen: list[tuple[str, int]] = []
        by_ref: dict[tuple[str, int], int] = {}
        nodes: dict[str, tuple[str, str]] = {}
        if devices is not None and len(set(devices)) != alloc.npus:
            raise ValueError(f"{len(devices)} devices given for {alloc.npus} NPUs")
        if alloc.npus:
            views, by_ref, nodes = self._views(s)
            if devices is None:
                chosen = placement.place(views, alloc.npus, device_type) or []
            elif device_type is None or all(
                nodes.get(n, ("",))[0] == device_type for n, _ in devices
            ):
                chosen = [(str(n), int(i)) for n, i in devices]
            if not chosen:
                raise self._capacity_error(s, alloc.npus, device_type, alloc.user, views)
        alloc.devices = [[name, index] for name, index in chosen]
        s.add(alloc)
        s.flush()
        if chosen:
            ids = [by_ref.get(ref) for ref in chosen]
            if None in ids:  # placement proposed a device that is not free
                raise self._capacity_error(s, alloc.npus, device_type, alloc.user)
            result = s.execute(
                update(Device)
                .where(
                    Device.id.in_(ids),
                    Device.allocation_id.is_(None),
                    Device.state == "available",
                )
                .values(allocation_id=alloc.id, since=now)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != len(ids):  # the belt: someone else got there first
                raise self._capacity_error(s, alloc.npus, device_type, alloc.user)
        return Grant(
            allocation_id=alloc.id,
            account=alloc.account,
            devices=tuple(
                (name, index, device_path(*nodes[name], index)) for name, index in chosen
            ),
        )

    @staticmethod
    def _views(s: Session):
        """NodeViews of every node (free: available, not held), the device id of each
        (node, index), and each node's (type, device_dir)."""
        nodes = s.execute(select(Node.id, Node.name, Node.type, Node.rings, Node.device_dir)).all()
        free: dict[int, set[int]] = {n.id: set() for n in nodes}
        names = {n.id: n.name for n in nodes}
        by_ref: dict[tuple[str, int], int] = {}
        rows = s.execute(
            select(Device.id, Device.node_id, Device.index).where(
                Device.state == "available", Device.allocation_id.is_(None)
            )
        )
        for device_id, node_id, index in rows:
            free[node_id].add(index)
            by_ref[(names[node_id], index)] = device_id
        views = [
            placement.NodeView(
                name=n.name,
                type=n.type,
                rings=tuple(tuple(r) for r in n.rings),
                free=frozenset(free[n.id]),
            )
            for n in nodes
        ]
        return views, by_ref, {n.name: (n.type, n.device_dir) for n in nodes}

    def free_views(self) -> list[placement.NodeView]:
        """What placement sees now: every node and its free devices (for a scheduler)."""
        with self._read() as s:
            return self._views(s)[0]

    def release(self, allocation_id: int, reason: str = "stopped") -> bool:
        """Give the devices back and close the usage record. False if there was nothing
        to release (unknown, or already released): calling it twice is harmless."""
        with self._write() as s:
            alloc = s.get(Allocation, allocation_id)
            if alloc is None or alloc.state != "active":
                return False
            self._close(s, alloc, reason, clock.utcnow())
            return True

    @staticmethod
    def _close(s: Session, alloc: Allocation, reason: str, now: datetime) -> None:
        alloc.state = "released"
        alloc.ended = max(now, alloc.started)
        alloc.reason = reason
        s.execute(
            update(Device)
            .where(Device.allocation_id == alloc.id)
            .values(allocation_id=None, since=now)
            .execution_options(synchronize_session=False)
        )

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
        released = []
        with self._write() as s:
            now = clock.utcnow()
            query = select(Allocation).where(Allocation.state == "active")
            if kind is not None:
                query = query.where(Allocation.kind == kind)
            if grace_seconds:
                query = query.where(Allocation.started <= now - timedelta(seconds=grace_seconds))
            for alloc in s.scalars(query.order_by(Allocation.id)).all():
                if (alloc.user, alloc.kind, alloc.holder) not in live:
                    self._close(s, alloc, "reconciled", now)
                    released.append(alloc.id)
        return released
