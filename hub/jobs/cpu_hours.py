"""CPU-hours of batch jobs without NPUs: a job's cores × the hours it ran (running jobs
up to now), within the period of the limit (day, week from Monday, month; UTC). NPU jobs
are charged in NPU-hours by the ledger; these are the CPU-only jobs that would otherwise
be unmetered. Checked in the transaction that queues a job (JobQueue.submit)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select

from npuhub.hub.ledger.quota import period_start
from npuhub.hub.refusals import Refusal

from .models import Job


@dataclass(frozen=True)
class CpuBudget:
    cores: float  # of each job's container (c.JobsConfig.cpu_limit)
    per_user: float = 0.0  # 0: no limit
    per_account: dict[str, float] = field(default_factory=dict)
    period: str = "week"


def used(s, cores: float, since: datetime, now: datetime, **who) -> float:
    """CPU-hours of the CPU-only jobs of `who` (user= or account=) since `since`."""
    (key, value), = who.items()
    q = select(Job.started, Job.finished).where(
        getattr(Job, key) == value, Job.npus == 0, Job.started.is_not(None),
        or_(Job.finished.is_(None), Job.finished > since))
    seconds = 0.0
    for started, finished in s.execute(q):
        seconds += max(0.0, ((finished or now) - max(started, since)).total_seconds())
    return cores * seconds / 3600


def check(s, budget: CpuBudget, user: str, account: str, now: datetime) -> None:
    """Refusal `cpu_hours_spent` if the user or the account has used its CPU-hours."""
    since = period_start(budget.period, now)
    limits = [("user", user, budget.per_user)]
    if account in budget.per_account:
        limits.append(("account", account, budget.per_account[account]))
    for key, who, limit in limits:
        if not limit:
            continue
        spent = used(s, budget.cores, since, now, **{key: who})
        if spent >= limit:
            raise Refusal("cpu_hours_spent", name=who, used=round(spent, 1), limit=limit,
                          period=budget.period)
