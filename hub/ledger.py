"""The NPU ledger: which devices exist, who holds which, and what it cost.

Every method is a short synchronous database transaction (callers on an event loop run
them in an executor). Writers are serialized — SQLite: ``BEGIN IMMEDIATE``;
PostgreSQL: a transaction-scoped advisory lock — and a grant additionally marks its
devices with a compare-and-set update, so no device is ever held twice, across threads
and processes. Policy (accounts, limits, placement) is pure code in :mod:`.quota` and
:mod:`.placement`; this module gathers the numbers and records the outcome.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, literal, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from . import clock, db, placement, quota
from .orm import (
    ALLOCATION_KINDS,
    Allocation,
    Device,
    Node,
    QuotaPolicy,
    UserQuota,
    UTCDateTime,
)
from .quota import (
    DEFAULT_ACCOUNT,
    LIMIT_FIELDS,
    PERIODS,
    USER_LIMIT_FIELDS,
    Holdings,
    LedgerError,
    Limits,
    QuotaError,
)

__all__ = [
    "CapacityError",
    "Grant",
    "Ledger",
    "LedgerError",
    "NodeSpec",
    "QuotaError",
]

WAIT_WINDOW_S = 600  # a user refused for capacity counts as waiting this long (or until granted)
MANAGED_ELSEWHERE = ("file",)  # nodes declared with `npuhub apply`: sync_inventory leaves them


class CapacityError(LedgerError):
    """Not enough free NPUs (the message says how many are free and in use).
    ``transient`` is False when the request can never fit (more than are in service)."""

    def __init__(self, message: str, transient: bool = True):
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class NodeSpec:
    name: str
    type: str
    rings: tuple[tuple[int, ...], ...]
    device_dir: str
    source: str

    @property
    def indices(self) -> list[int]:
        return sorted({i for ring in self.rings for i in ring})


@dataclass(frozen=True)
class Grant:
    allocation_id: int
    account: str
    devices: tuple[tuple[str, int, str], ...]  # (node, index, device path)


def device_path(node_type: str, device_dir: str, index: int) -> str:
    prefix = "nvidia" if node_type == "nvidia" else "davinci"
    return f"{device_dir.rstrip('/')}/{prefix}{index}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class Ledger:
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

    # ------------------------------------------------------------------ inventory

    def sync_inventory(self, specs: list[NodeSpec]) -> None:
        """Make the devices match `specs`: new nodes and devices appear, changed nodes are
        updated, devices no longer present are drained (never deleted: a holder keeps
        its device until release, and the history stays). Nodes declared with
        `npuhub apply` (source "file") are left alone when absent from `specs`."""
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"node names must be unique: {sorted(names)}")
        now = clock.utcnow()
        with self._write() as s:
            for spec in specs:
                self._upsert_node(s, spec, now)
            gone = s.scalars(
                select(Node).where(Node.name.not_in(names), Node.source.not_in(MANAGED_ELSEWHERE))
            )
            for node in gone:
                for device in node.devices:
                    self._mark_missing(device)

    def add_node(self, spec: NodeSpec) -> None:
        """Add or update one node (``npuhub apply`` of a Node), leaving the others."""
        with self._write() as s:
            self._upsert_node(s, spec, clock.utcnow())

    @staticmethod
    def _mark_missing(device: Device) -> None:
        if device.state == "available":
            device.state, device.drain_reason = "drained", "inventory"

    def _upsert_node(self, s: Session, spec: NodeSpec, now: datetime) -> Node:
        rings = [list(r) for r in spec.rings]
        node = Node.find(s, spec.name)
        if node is None:
            node = Node(name=spec.name, created=now, devices=[])
            s.add(node)
        node.type, node.rings, node.device_dir, node.source = (
            spec.type,
            rings,
            spec.device_dir,
            spec.source,
        )
        present = set(spec.indices)
        for device in node.devices:
            if device.index in present:
                if device.drain_reason == "inventory":
                    device.state, device.drain_reason = "available", None
            else:
                self._mark_missing(device)
        known = {d.index for d in node.devices}
        for index in sorted(present - known):
            node.devices.append(Device(index=index, state="available", since=now))
        return node

    def drain(self, node: str, index: int) -> dict:
        """Never hand this device out again (until undrain); its holder keeps it."""
        with self._write() as s:
            device = self._device(s, node, index)
            if device.drain_reason != "inventory":
                device.state, device.drain_reason = "drained", "admin"
            return self._device_dict(device)

    def undrain(self, node: str, index: int) -> dict:
        with self._write() as s:
            device = self._device(s, node, index)
            if device.drain_reason == "inventory":
                raise LedgerError(
                    f"{node}:{index} is no longer present on its node, so it stays drained"
                )
            device.state, device.drain_reason = "available", None
            return self._device_dict(device)

    @staticmethod
    def _device(s: Session, node: str, index: int) -> Device:
        device = Device.find(s, node, index)
        if device is None:
            raise LedgerError(f"There is no device {node}:{index} (see `npuhub devices`)")
        return device

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
    ) -> Grant:
        """Charge `account`, check the quota, place `npus` devices and hold them, in one
        transaction. An active allocation of the same (user, kind, holder) — a server
        that was never released — is closed first with reason "replaced". Raises
        QuotaError or CapacityError with a message for the person."""
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
        self, s: Session, alloc: Allocation, device_type: str | None, now: datetime
    ) -> Grant:
        chosen: list[tuple[str, int]] = []
        by_ref: dict[tuple[str, int], int] = {}
        nodes: dict[str, tuple[str, str]] = {}
        if alloc.npus:
            views, by_ref, nodes = self._views(s)
            chosen = placement.place(views, alloc.npus, device_type) or []
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

    # ------------------------------------------------------------------ capacity

    def waiting(self, exclude: str | None = None) -> int:
        """Users refused for lack of NPUs in the last 10 minutes and not granted since
        (as seen by this process)."""
        horizon = time.monotonic() - WAIT_WINDOW_S
        with self._waiting_lock:
            for user in [u for u, t in self._waiting.items() if t < horizon]:
                del self._waiting[user]
            return sum(1 for u in self._waiting if u != exclude)

    def capacity_message(
        self, npus: int, device_type: str | None = None, *, user: str | None = None
    ) -> str:
        """Why `npus` NPUs cannot be had now (or how many are free, if they can)."""
        with self._read() as s:
            return self._capacity_text(s, npus, device_type, user=user)

    def _capacity_error(self, s, npus, device_type, user, views=None) -> CapacityError:
        text, transient = self._capacity(s, npus, device_type, user=user, views=views)
        return CapacityError(text, transient=transient)

    def _capacity_text(self, s: Session, npus: int, device_type: str | None, **kw) -> str:
        return self._capacity(s, npus, device_type, **kw)[0]

    def _capacity(
        self,
        s: Session,
        npus: int,
        device_type: str | None,
        *,
        user: str | None = None,
        views: list[placement.NodeView] | None = None,
    ) -> tuple[str, bool]:
        if views is None:
            views = self._views(s)[0]
        if device_type is not None:
            views = [v for v in views if v.type == device_type]
        query = select(func.count(Device.id)).join(Node).where(Device.state == "available")
        if device_type is not None:
            query = query.where(Node.type == device_type)
        total = s.scalar(query) or 0
        free = sum(len(v.free) for v in views)
        what = f"{device_type} NPUs" if device_type else "NPUs"
        waiting = self.waiting(exclude=user)
        queue = f" ({_plural(waiting, 'user')} waiting)" if waiting else ""
        if total == 0:
            return f"There are no {what} in service on this platform", False
        if npus > total:
            return (
                f"You asked for {npus} {what}, but the platform has only {total} in service",
                False,
            )
        if free == 0:
            return f"All {total} {what} are in use{queue}", True
        if free < npus:
            return f"Only {free} of {total} {what} are free; you asked for {npus}{queue}", True
        largest = max((len(v.free) for v in views), default=0)
        if largest >= npus:
            where = "inside one HCCS ring"
        else:
            where = "on one node"
        return (
            f"{free} of {total} {what} are free, but not {npus} together {where} "
            f"(the most free on one node is {largest}); ask for fewer or try again later{queue}",
            True,
        )

    # ------------------------------------------------------------------ quota

    def _default_layer(self, s: Session) -> dict[str, Any]:
        row = QuotaPolicy.find(s, DEFAULT_ACCOUNT)
        return quota.merge_layers(_row_limits(row), self.default_limits)

    def _limits(self, s: Session, user: str, groups: list[str], account: str) -> Limits:
        group_row = (
            None if quota.is_personal(user, groups, account) else QuotaPolicy.find(s, account)
        )
        return quota.effective_limits(
            _row_limits(UserQuota.find(s, user)), _row_limits(group_row), self._default_layer(s)
        )

    def _holdings(
        self, s: Session, user: str, groups: list[str], account: str, limits: Limits, now: datetime
    ) -> Holdings:
        def active_npus(*where) -> int:
            q = select(func.coalesce(func.sum(Allocation.npus), 0)).where(
                Allocation.state == "active", *where
            )
            return int(s.scalar(q) or 0)

        start = quota.period_start(limits.period, now)
        return Holdings(
            account=account,
            user_npus=active_npus(Allocation.user == user),
            account_npus=active_npus(Allocation.account == account),
            account_hours=(
                self._hours(s, start, now, account=account) if limits.npu_hours is not None else 0.0
            ),
            user_hours=(
                self._hours(s, start, now, user=user) if limits.user_npu_hours is not None else 0.0
            ),
            personal=quota.is_personal(user, groups, account),
            now=now,
        )

    def limits_for(
        self, user: str, groups: Iterable[str], account: str | None = None
    ) -> tuple[str, Limits, Holdings]:
        """The account `user` would be charged, its limits and the current holdings (for
        the spawn form and /me). Raises QuotaError if the account must be chosen."""
        groups = sorted(set(groups))
        with self._read() as s:
            now = clock.utcnow()
            charged = quota.choose_account(user, groups, account)
            limits = self._limits(s, user, groups, charged)
            return charged, limits, self._holdings(s, user, groups, charged, limits, now)

    def summary(self, user: str, groups: Iterable[str]) -> dict:
        """The user's standing (accounts, limits, usage, allocations): see
        :func:`npuhub.hub.summary.summary`."""
        from .summary import summary

        return summary(self, user, sorted(set(groups)))

    @staticmethod
    def _hours(
        s: Session,
        start: datetime,
        end: datetime,
        *,
        account: str | None = None,
        user: str | None = None,
    ) -> float:
        """NPU-hours of the records of `account` (or `user`) inside [start, end), summed
        by the database where it can (one row back, however many records)."""
        dialect = s.get_bind().dialect.name
        if dialect not in ("sqlite", "postgresql"):
            return sum(hours for _, _, hours in Ledger._records(s, start, end, account, user))
        lo = func.max if dialect == "sqlite" else func.greatest
        hi = func.min if dialect == "sqlite" else func.least
        t_start, t_end = literal(start, UTCDateTime), literal(end, UTCDateTime)
        first = lo(Allocation.started, t_start)
        last = hi(func.coalesce(Allocation.ended, t_end), t_end)
        if dialect == "sqlite":
            seconds = (func.julianday(last) - func.julianday(first)) * 86400.0
        else:
            seconds = func.extract("epoch", last - first)
        q = select(func.sum(Allocation.npus * seconds)).where(*_overlaps(start, end))
        if account is not None:
            q = q.where(Allocation.account == account)
        if user is not None:
            q = q.where(Allocation.user == user)
        return max(float(s.scalar(q) or 0.0), 0.0) / 3600

    @staticmethod
    def _records(s: Session, start: datetime, end: datetime, account, user):
        """(account, user, NPU-hours inside [start, end)) of every overlapping record."""
        q = select(
            Allocation.account,
            Allocation.user,
            Allocation.started,
            Allocation.ended,
            Allocation.npus,
        ).where(*_overlaps(start, end))
        if account is not None:
            q = q.where(Allocation.account == account)
        if user is not None:
            q = q.where(Allocation.user == user)
        for acc, usr, started, ended, npus in s.execute(q):
            lo, hi = max(started, start), min(ended or end, end)
            yield acc, usr, max((hi - lo).total_seconds(), 0.0) / 3600 * npus

    def set_policy(self, group: str, **limits: Any) -> dict:
        """Set some limits of a group's policy (others unchanged; None = inherit the
        default). Group "*" is the deployment default."""
        _validate(limits, LIMIT_FIELDS)
        with self._write() as s:
            row = QuotaPolicy.find(s, group)
            if row is None:
                row = QuotaPolicy(group=group)
                s.add(row)
            _assign(row, limits)
            s.flush()
            return self._policy_dict(s, row, group)

    def get_policy(self, group: str) -> dict | None:
        """A group's policy as stored (None if it has none); for "*", the effective
        default (the stored row over the built-in one)."""
        with self._read() as s:
            row = QuotaPolicy.find(s, group)
            if row is None and group != DEFAULT_ACCOUNT:
                return None
            return self._policy_dict(s, row, group)

    def policies(self) -> list[dict]:
        """Every group's policy, the default ("*") first."""
        with self._read() as s:
            rows = s.scalars(
                select(QuotaPolicy)
                .where(QuotaPolicy.group != DEFAULT_ACCOUNT)
                .order_by(QuotaPolicy.group)
            ).all()
            default = self._policy_dict(s, QuotaPolicy.find(s, DEFAULT_ACCOUNT), DEFAULT_ACCOUNT)
            return [default] + [self._policy_dict(s, r, r.group) for r in rows]

    def _policy_dict(self, s: Session, row: QuotaPolicy | None, group: str) -> dict:
        if group == DEFAULT_ACCOUNT:
            merged = self._default_layer(s)
            values = {k: merged[k] for k in LIMIT_FIELDS}
            values["period"] = values["period"] or "week"
        else:
            values = _row_limits(row) or {}
        return {
            "group": group,
            **values,
            "updated": row.updated if row is not None else None,
        }

    def set_user_quota(self, user: str, **limits: Any) -> dict:
        """Set some of a user's own overrides (others unchanged; None = inherit)."""
        if "group_max_npus" in limits:
            raise ValueError("group_max_npus is a group's cap: set it on the group's policy")
        _validate(limits, USER_LIMIT_FIELDS)
        with self._write() as s:
            row = UserQuota.find(s, user)
            if row is None:
                row = UserQuota(user=user)
                s.add(row)
            _assign(row, limits)
            s.flush()
            return {"user": user, **(_row_limits(row) or {}), "updated": row.updated}

    def get_user_quota(self, user: str) -> dict | None:
        with self._read() as s:
            row = UserQuota.find(s, user)
            if row is None:
                return None
            return {"user": user, **(_row_limits(row) or {}), "updated": row.updated}

    def user_quotas(self) -> list[dict]:
        with self._read() as s:
            return [
                {"user": r.user, **(_row_limits(r) or {}), "updated": r.updated}
                for r in s.scalars(select(UserQuota).order_by(UserQuota.user))
            ]

    # ------------------------------------------------------------------ reports

    def devices(self) -> list[dict]:
        """Every device: node, index, type, state, holder (or None), since, path."""
        with self._read() as s:
            rows = s.scalars(select(Device).join(Node).order_by(Node.name, Device.index)).all()
            allocs = {
                a.id: a
                for a in s.scalars(
                    select(Allocation).where(
                        Allocation.id.in_({d.allocation_id for d in rows if d.allocation_id})
                    )
                )
            }
            return [self._device_dict(d, allocs.get(d.allocation_id)) for d in rows]

    @staticmethod
    def _device_dict(d: Device, alloc: Allocation | None = None) -> dict:
        if alloc is None and d.allocation_id is not None:
            alloc = d.allocation
        holder = None
        if alloc is not None:
            holder = {
                "user": alloc.user,
                "kind": alloc.kind,
                "holder": alloc.holder,
                "account": alloc.account,
                "allocation_id": alloc.id,
            }
        return {
            "node": d.node.name,
            "index": d.index,
            "type": d.node.type,
            "state": d.state,
            "drain_reason": d.drain_reason,
            "holder": holder,
            "since": d.since,
            "path": device_path(d.node.type, d.node.device_dir, d.index),
        }

    def active(self, user: str | None = None, kind: str | None = None) -> list[dict]:
        """The open allocations, oldest first."""
        with self._read() as s:
            q = select(Allocation).where(Allocation.state == "active")
            if user is not None:
                q = q.where(Allocation.user == user)
            if kind is not None:
                q = q.where(Allocation.kind == kind)
            return [_allocation_dict(a) for a in s.scalars(q.order_by(Allocation.id))]

    def allocation(self, allocation_id: int) -> dict | None:
        with self._read() as s:
            a = s.get(Allocation, allocation_id)
            return _allocation_dict(a) if a is not None else None

    def usage(
        self,
        *,
        account: str | None = None,
        user: str | None = None,
        period: str = "week",
        now: datetime | None = None,
    ) -> dict:
        """NPU-hours in the current `period` (open records count until now), in total and
        by account and by user; with an `account`, also its budget and what remains."""
        if period not in PERIODS:
            raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
        now = now or clock.utcnow()
        start, end = quota.period_start(period, now), quota.period_end(period, now)
        by_account: dict[str, float] = {}
        by_user: dict[str, float] = {}
        with self._read() as s:
            for acc, usr, hours in self._records(s, start, min(now, end), account, user):
                by_account[acc] = by_account.get(acc, 0.0) + hours
                by_user[usr] = by_user.get(usr, 0.0) + hours
            budget = None
            if account is not None:
                group_row = QuotaPolicy.find(s, account) if account != DEFAULT_ACCOUNT else None
                limits = quota.effective_limits(
                    None, _row_limits(group_row), self._default_layer(s)
                )
                budget = limits.npu_hours if limits.period == period else None
            active = s.scalar(
                select(func.coalesce(func.sum(Allocation.npus), 0)).where(
                    Allocation.state == "active",
                    *([Allocation.account == account] if account is not None else []),
                    *([Allocation.user == user] if user is not None else []),
                )
            )
        total = sum(by_account.values())
        out: dict[str, Any] = {
            "account": account,
            "user": user,
            "period": period,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "npu_hours": round(total, 6),
            "active_npus": int(active or 0),
        }
        if account is not None:
            out["budget_npu_hours"] = budget
            out["remaining_npu_hours"] = (
                None if budget is None else round(max(budget - total, 0.0), 6)
            )
        out["by_account"] = {k: round(v, 6) for k, v in sorted(by_account.items())}
        out["by_user"] = {k: round(v, 6) for k, v in sorted(by_user.items())}
        return out


# ---------------------------------------------------------------------- helpers


def _overlaps(start: datetime, end: datetime) -> tuple:
    """Records with NPUs whose time overlaps [start, end)."""
    return (
        Allocation.npus > 0,
        Allocation.started < end,
        or_(Allocation.ended.is_(None), Allocation.ended > start),
    )


def _allocation_dict(a: Allocation) -> dict:
    return {
        "id": a.id,
        "user": a.user,
        "account": a.account,
        "kind": a.kind,
        "holder": a.holder,
        "profile": a.profile,
        "npus": a.npus,
        "devices": [list(d) for d in a.devices],
        "started": a.started,
        "ended": a.ended,
        "state": a.state,
        "reason": a.reason,
    }


def _row_limits(row: QuotaPolicy | UserQuota | None) -> dict[str, Any] | None:
    if row is None:
        return None
    names = LIMIT_FIELDS if isinstance(row, QuotaPolicy) else USER_LIMIT_FIELDS
    return {name: getattr(row, name) for name in names}


def _validate(limits: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(limits) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown limit(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    period = limits.get("period")
    if period is not None and period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    profiles = limits.get("profiles")
    if profiles is not None and (
        isinstance(profiles, str) or not all(isinstance(p, str) for p in profiles)
    ):
        raise ValueError("profiles must be a list of profile slugs, or None")
    for name in ("max_npus_per_server", "max_npus", "group_max_npus"):
        value = limits.get(name)
        if value is not None and (isinstance(value, bool) or int(value) != value or value < 0):
            raise ValueError(f"{name} must be a whole number >= 0, or None")
    for name in ("npu_hours", "max_session_hours"):
        value = limits.get(name)
        if value is not None and (isinstance(value, bool) or float(value) < 0):
            raise ValueError(f"{name} must be a number >= 0, or None")


def _assign(row: QuotaPolicy | UserQuota, limits: Mapping[str, Any]) -> None:
    for name, value in limits.items():
        if value is not None:
            if name in ("max_npus_per_server", "max_npus", "group_max_npus"):
                value = int(value)
            elif name in ("npu_hours", "max_session_hours"):
                value = float(value)
            elif name == "profiles":
                value = list(value)
        setattr(row, name, value)
    row.updated = clock.utcnow()
