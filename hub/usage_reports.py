"""The ledger's usage records: open allocations, NPU-hours per account and user.

An allocation is also its usage record: NPU-hours are its NPUs times the part of
[started, ended) inside the period asked (an open record counts until now).
:class:`UsageReportsMixin` is part of :class:`~npuhub.hub.ledger.Ledger` (it uses the
ledger's ``_read`` transaction and the account limits of
:class:`~npuhub.hub.quota_policies.QuotaPolicyMixin`); :func:`npu_hours` is what the
quota check counts against a budget.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, or_, select
from sqlalchemy.orm import Session

from . import clock, quota
from .orm import Allocation, UTCDateTime
from .quota import PERIODS


def npu_hours(
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
        return sum(hours for _, _, hours in usage_records(s, start, end, account, user))
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


def usage_records(s: Session, start: datetime, end: datetime, account, user):
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


class UsageReportsMixin:
    """Allocations and NPU-hours of the :class:`~npuhub.hub.ledger.Ledger`."""

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
            for acc, usr, hours in usage_records(s, start, min(now, end), account, user):
                by_account[acc] = by_account.get(acc, 0.0) + hours
                by_user[usr] = by_user.get(usr, 0.0) + hours
            budget = None
            if account is not None:
                limits = self._account_limits(s, account)
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

    def summary(self, user: str, groups: Iterable[str]) -> dict:
        """The user's standing (accounts, limits, usage, allocations): see
        :func:`npuhub.hub.summary.summary`."""
        from .summary import summary

        return summary(self, user, sorted(set(groups)))
