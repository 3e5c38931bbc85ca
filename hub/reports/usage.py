"""Usage over a range of time, for tables, plots and CSV: NPU-hours per account and per
user, the cluster's utilization per step (held, drained, free NPU-hours) and the top
holders. Read from the usage records (allocations) and the devices when asked.

The cluster's size over time is today's devices, and today's drained devices count as
drained over the whole range (the ledger keeps no history of nodes and drains). A step's
held hours are the NPU-hours of the records inside it, capped at the NPUs in service.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from npuhub.hub import clock
from npuhub.hub.ledger import quota
from npuhub.hub.ledger.usage import usage_records
from npuhub.hub.orm import Allocation, Device

MAX_STEPS = 24 * 62  # a range is cut into at most this many steps
TOP = 10


@dataclass(frozen=True)
class Range:
    start: datetime
    end: datetime
    step: timedelta

    def steps(self) -> list[datetime]:
        out, t = [], self.start
        while t < self.end:
            out.append(t)
            t += self.step
        return out


def day(value: str, name: str) -> datetime:
    """'2026-11-03' → that midnight UTC; the message names the field."""
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a date like 2026-11-03, got {value!r:.40}") from None


def choose_range(
    period: str | None = None,
    since: str | None = None,
    until: str | None = None,
    now: datetime | None = None,
) -> Range:
    """The current day, week or month (`period`), or the days [since, until] (until
    inclusive, default today). Hourly steps up to two days, daily beyond."""
    now = now or clock.utcnow()
    if since is not None:
        start = day(since, "since")
        end = day(until, "until") + timedelta(days=1) if until else quota.period_end("day", now)
        if end <= start:
            raise ValueError("until must not be before since")
        if end - start > timedelta(days=MAX_STEPS):
            raise ValueError(f"a range is at most {MAX_STEPS} days")
    else:
        period = period or "week"
        if period not in quota.PERIODS:
            raise ValueError(f"period must be one of {', '.join(quota.PERIODS)}, not {period!r}")
        start, end = quota.period_start(period, now), quota.period_end(period, now)
    step = timedelta(hours=1) if end - start <= timedelta(days=2) else timedelta(days=1)
    return Range(start, end, step)


def by_use(hours: dict[str, float]) -> list[tuple[str, float]]:
    """(name, NPU-hours) pairs, the most used first (ties by name)."""
    return sorted(hours.items(), key=lambda kv: (-kv[1], kv[0]))


@dataclass
class UsageReport:
    range: Range
    now: datetime
    accounts: list[str] | None  # None: all
    by_account: dict[str, float] = field(default_factory=dict)
    by_user: dict[str, float] = field(default_factory=dict)
    # per step: (start, held, drained, free) NPU-hours
    utilization: list[tuple[datetime, float, float, float]] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(self.by_account.values())

    def top_users(self, n: int = TOP) -> list[tuple[str, float]]:
        return by_use(self.by_user)[:n]

    def average_utilization(self) -> float | None:
        """Held over in-service (not drained) NPU-hours of the steps so far, 0..1."""
        held = sum(h for _, h, _, _ in self.utilization)
        service = sum(h + f for _, h, _, f in self.utilization)
        return held / service if service else None

    def as_dict(self) -> dict:
        r = lambda x: round(x, 6)  # noqa: E731
        return {
            "start": self.range.start.isoformat(),
            "end": self.range.end.isoformat(),
            "step_hours": self.range.step.total_seconds() / 3600,
            "npu_hours": r(self.total),
            "by_account": {k: r(v) for k, v in sorted(self.by_account.items())},
            "by_user": {k: r(v) for k, v in sorted(self.by_user.items())},
            "top_users": [{"user": u, "npu_hours": r(h)} for u, h in self.top_users()],
            "utilization": [
                {"start": t.isoformat(), "held": r(h), "drained": r(d), "free": r(f)}
                for t, h, d, f in self.utilization
            ],
            "average_utilization": self.average_utilization(),
        }


def usage_report(
    s: Session, rng: Range, accounts: list[str] | None = None, now: datetime | None = None
) -> UsageReport:
    """NPU-hours of `accounts` (None: every account) inside `rng` until `now`, and
    the utilization per step (of the whole cluster, or of `accounts`' holdings)."""
    now = now or clock.utcnow()
    rep = UsageReport(rng, now, accounts)
    end = min(rng.end, now)
    if end <= rng.start:
        return rep
    for account, user, hours in usage_records(s, rng.start, end, None, None):
        if accounts is not None and account not in accounts:
            continue
        rep.by_account[account] = rep.by_account.get(account, 0.0) + hours
        rep.by_user[user] = rep.by_user.get(user, 0.0) + hours
    rep.utilization = _utilization(s, rng, end, accounts)
    return rep


def _overlap_hours(a0: datetime, a1: datetime, b0: datetime, b1: datetime) -> float:
    return max((min(a1, b1) - max(a0, b0)).total_seconds(), 0.0) / 3600


def _utilization(s: Session, rng: Range, end: datetime, accounts) -> list[tuple]:
    q = select(Allocation.account, Allocation.started, Allocation.ended, Allocation.npus).where(
        Allocation.npus > 0, Allocation.started < end
    )
    records = [
        (started, ended or end, npus)
        for account, started, ended, npus in s.execute(q)
        if (ended is None or ended > rng.start) and (accounts is None or account in accounts)
    ]
    states = list(s.scalars(select(Device.state)))
    out = []
    for t0 in rng.steps():
        t1 = min(t0 + rng.step, end)
        if t1 <= t0:
            break
        span = (t1 - t0).total_seconds() / 3600
        drained = states.count("drained") * span
        capacity = len(states) * span
        held = sum(npus * _overlap_hours(a, b, t0, t1) for a, b, npus in records)
        held = min(held, capacity - drained) if accounts is None else held
        free = max(capacity - drained - held, 0.0) if accounts is None else 0.0
        out.append((t0, held, drained if accounts is None else 0.0, free))
    return out


def _cell(name: str) -> str:
    """A name as a CSV cell that no spreadsheet runs as a formula."""
    return "'" + name if name[:1] in ("=", "+", "-", "@", "\t", "\r") else name


def to_csv(rep: UsageReport) -> str:
    """Two tables in one CSV: NPU-hours per (account | user), then utilization per step."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["kind", "name", "npu_hours"])
    for name, hours in sorted(rep.by_account.items()):
        w.writerow(["account", _cell(name), f"{hours:.6f}"])
    for name, hours in sorted(rep.by_user.items()):
        w.writerow(["user", _cell(name), f"{hours:.6f}"])
    w.writerow([])
    w.writerow(["step_start", "held_npu_hours", "drained_npu_hours", "free_npu_hours"])
    for t, h, d, f in rep.utilization:
        w.writerow([t.isoformat(), f"{h:.6f}", f"{d:.6f}", f"{f:.6f}"])
    return buf.getvalue()
