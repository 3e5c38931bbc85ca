"""The ledger's grant and release as they were before the topology and the free devices
were remembered between grants (npuhub before issue 11), kept here as the baseline of
``benchmarks/allocator.py``: every grant reads every free device and builds the
placement views again, reads the three policy rows, sums holdings in two queries and
the hours with statements built per call, and records through the ORM.

It runs only on a benchmark's own database: it does not count its writes in
``ledger_state``, so a current Ledger on the same database would not see them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, literal, or_, select, update
from sqlalchemy.orm import Session

from npuhub.hub import clock, db, placement
from npuhub.hub.ledger import CapacityError, Grant, Ledger, capacity, quota
from npuhub.hub.ledger.policies import _row_limits
from npuhub.hub.ledger.quota import DEFAULT_ACCOUNT, Holdings
from npuhub.hub.ledger.topology import device_path
from npuhub.hub.orm import Allocation, Device, Node, QuotaPolicy, UserQuota, UTCDateTime


def _npu_hours(s: Session, start, end, *, account=None, user=None) -> float:
    dialect = s.get_bind().dialect.name
    lo = func.max if dialect == "sqlite" else func.greatest
    hi = func.min if dialect == "sqlite" else func.least
    t_start, t_end = literal(start, UTCDateTime), literal(end, UTCDateTime)
    first = lo(Allocation.started, t_start)
    last = hi(func.coalesce(Allocation.ended, t_end), t_end)
    if dialect == "sqlite":
        seconds = (func.julianday(last) - func.julianday(first)) * 86400.0
    else:
        seconds = func.extract("epoch", last - first)
    q = select(func.sum(Allocation.npus * seconds)).where(
        Allocation.npus > 0,
        Allocation.started < end,
        or_(Allocation.ended.is_(None), Allocation.ended > start),
    )
    if account is not None:
        q = q.where(Allocation.account == account)
    if user is not None:
        q = q.where(Allocation.user == user)
    return max(float(s.scalar(q) or 0.0), 0.0) / 3600


class BaselineLedger(Ledger):
    """allocate and release of the old ledger (the rest is the current one)."""

    def _limits(self, s: Session, user, groups, account):
        default = quota.merge_layers(
            _row_limits(QuotaPolicy.find(s, DEFAULT_ACCOUNT)), self.policies.default_limits
        )
        group_row = (
            None if quota.is_personal(user, groups, account) else QuotaPolicy.find(s, account)
        )
        return quota.effective_limits(
            _row_limits(UserQuota.find(s, user)), _row_limits(group_row), default
        )

    @staticmethod
    def _holdings(s: Session, user, groups, account, limits, now) -> Holdings:
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
                _npu_hours(s, start, now, account=account) if limits.npu_hours is not None else 0.0
            ),
            user_hours=(
                _npu_hours(s, start, now, user=user) if limits.user_npu_hours is not None else 0.0
            ),
            member_hours=(
                _npu_hours(s, start, now, user=user, account=account)
                if limits.npu_hours_per_member is not None
                else 0.0
            ),
            personal=quota.is_personal(user, groups, account),
            now=now,
        )

    @staticmethod
    def _views(s: Session):
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
                name=n.name, type=n.type, rings=tuple(tuple(r) for r in n.rings),
                free=frozenset(free[n.id]),
            )
            for n in nodes
        ]
        return views, by_ref, {n.name: (n.type, n.device_dir) for n in nodes}

    def _capacity_error(self, s: Session, npus, device_type, user, views) -> CapacityError:
        query = select(func.count(Device.id)).join(Node).where(Device.state == "available")
        if device_type is not None:
            query = query.where(Node.type == device_type)
        return capacity.refusal(  # coded since issue 11's refusals: the same decision
            npus, device_type, views, s.scalar(query) or 0, self.waiting.count(exclude=user)
        )

    def allocate(self, *, user: str, groups: Iterable[str], account=None, kind: str,
                 holder: str, npus: int, profile=None, device_type=None,
                 default_account=None) -> Grant:
        groups = sorted(set(groups))
        holder = str(holder)
        with db.transaction(self.session_factory, write=True, lock=db.LEDGER_LOCK) as s:
            now = clock.utcnow()
            charged = quota.choose_account(user, groups, account, default_account)
            for old in Allocation.find_active(s, user, kind, holder):
                self._close_orm(s, old, "replaced", now)
            limits = self._limits(s, user, groups, charged)
            current = self._holdings(s, user, groups, charged, limits, now)
            quota.check(npus, limits, current, profile=profile)
            alloc = Allocation(user=user, account=charged, kind=kind, holder=holder,
                               profile=profile, npus=npus, devices=[], started=now,
                               state="active")
            chosen, by_ref, nodes = [], {}, {}
            if npus:
                views, by_ref, nodes = self._views(s)
                chosen = placement.place(views, npus, device_type) or []
                if not chosen:
                    raise self._capacity_error(s, npus, device_type, user, views)
            alloc.devices = [[name, index] for name, index in chosen]
            s.add(alloc)
            s.flush()
            if chosen:
                ids = [by_ref[ref] for ref in chosen]
                result = s.execute(
                    update(Device)
                    .where(Device.id.in_(ids), Device.allocation_id.is_(None),
                           Device.state == "available")
                    .values(allocation_id=alloc.id, since=now)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount != len(ids):
                    raise self._capacity_error(s, npus, device_type, user, self._views(s)[0])
            return Grant(alloc.id, alloc.account, tuple(
                (name, index, device_path(*nodes[name], index)) for name, index in chosen))

    def release(self, allocation_id: int, reason: str = "stopped") -> bool:
        with db.transaction(self.session_factory, write=True, lock=db.LEDGER_LOCK) as s:
            alloc = s.get(Allocation, allocation_id)
            if alloc is None or alloc.state != "active":
                return False
            self._close_orm(s, alloc, reason, clock.utcnow())
            return True

    @staticmethod
    def _close_orm(s: Session, alloc: Allocation, reason: str, now: datetime) -> None:
        alloc.state = "released"
        alloc.ended = max(now, alloc.started)
        alloc.reason = reason
        s.execute(
            update(Device)
            .where(Device.allocation_id == alloc.id)
            .values(allocation_id=None, since=now)
            .execution_options(synchronize_session=False)
        )
