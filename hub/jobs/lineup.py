"""The local queue's line: what :func:`npuhub.hub.scheduling.plan` is asked, read from
the platform database, and why a job that plan did not start is still waiting.

:func:`snapshot` gathers the inputs: the ledger's free devices, every open allocation
(notebook servers and jobs; a job is expected to end at its start plus its time limit, a
server at an unknown time), the queued jobs as requests, and each account's recent NPU
use (NPU-seconds of its allocations, decayed with ``c.JobsConfig.fairshare_half_life``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from npuhub.hub import db
from npuhub.hub.orm import Allocation
from npuhub.hub.placement import NodeView
from npuhub.hub.scheduling import Request, Running, decayed_usage

from .models import Job

#: allocations that ended longer ago than this many half-lives count for nothing (< 0.1%)
HORIZON_HALF_LIVES = 10


@dataclass
class Snapshot:
    now: float
    nodes: list[NodeView]
    waiting: list[Request]
    running: list[Running]
    usage: dict[str, float]


def request(job: Job) -> Request:
    return Request(
        id=job.id,
        account=job.account,
        npus=job.npus,
        submitted=job.created.timestamp(),
        limit_s=float(job.time_limit),
        device_type=job.device_type,
        priority=job.priority,
    )


def snapshot(
    ledger, queued: list[Job], active: list[Job], now: datetime, half_life_s: float
) -> Snapshot:
    """The inputs of plan at `now` (blocking: run it in an executor). `active`: the local
    jobs that hold devices or may (starting, running), for their time limits."""
    limits = {str(j.id): j.time_limit for j in active}
    nodes = ledger.free_views()
    t = now.timestamp()
    since = now - timedelta(seconds=HORIZON_HALF_LIVES * half_life_s)
    running: list[Running] = []
    usage: dict[str, float] = {}
    with db.transaction(ledger.session_factory) as s:
        rows = s.execute(
            select(Allocation).where(
                Allocation.npus > 0, or_(Allocation.ended.is_(None), Allocation.ended > since)
            )
        ).scalars()
        for a in rows:
            start = a.started.timestamp()
            end = a.ended.timestamp() if a.ended is not None else None
            usage[a.account] = usage.get(a.account, 0.0) + decayed_usage(
                a.npus, start, end, t, half_life_s
            )
            if a.state == "active" and a.devices:
                limit = limits.get(a.holder) if a.kind == "job" else None
                running.append(
                    Running(
                        a.id,
                        a.account,
                        tuple((str(n), int(i)) for n, i in a.devices),
                        start + limit if limit is not None else None,
                    )
                )
    return Snapshot(t, nodes, [request(j) for j in queued], running, usage)
