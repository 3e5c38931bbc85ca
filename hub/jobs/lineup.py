"""The line's inputs: what :func:`npuhub.hub.scheduling.plan` is asked, read from the
platform database.

:func:`snapshot` gathers them: the ledger's free devices, every open allocation
(notebook servers and jobs; a job is expected to end at its start plus its time limit, a
server at its start plus its session limit: the quota's ``max_session_hours``, else
``c.NPUHub.line_session_limit``), the queued jobs and the servers waiting in the line
(:mod:`npuhub.hub.line`) as requests, and each account's recent NPU use (NPU-seconds of
its allocations, decayed with ``c.JobsConfig.fairshare_half_life``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from npuhub.hub import db
from npuhub.hub.line.models import LineRequest
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
    servers: dict[str, LineRequest] = field(default_factory=dict)  # request id → its row


def server_id(row: LineRequest) -> str:
    """The id of a waiting server in plan's line (jobs are their int ids)."""
    return f"server:{row.id}"


def server_request(row: LineRequest) -> Request:
    return Request(
        id=server_id(row),
        account=row.account,
        npus=row.npus,
        submitted=row.submitted.timestamp(),
        limit_s=row.limit_s,
        device_type=row.device_type,
    )


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
    ledger,
    queued: list[Job],
    active: list[Job],
    now: datetime,
    half_life_s: float,
    servers: Sequence[LineRequest] = (),
    session_limit_s: float | None = None,
) -> Snapshot:
    """The inputs of plan at `now` (blocking: run it in an executor). `active`: the local
    jobs that hold devices or may (starting, running), for their time limits; `servers`:
    the line's waiting servers; `session_limit_s`: a server's expected length where its
    quota sets no max_session_hours (None: unknown, it may run for ever)."""
    limits = {str(j.id): j.time_limit for j in active}
    nodes = ledger.free_views()
    t = now.timestamp()
    since = now - timedelta(seconds=HORIZON_HALF_LIVES * half_life_s)
    running: list[Running] = []
    usage: dict[str, float] = {}
    sessions: dict[tuple[str, str], float | None] = {}
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
                if a.kind == "job":
                    limit = limits.get(a.holder)
                else:
                    key = (a.user, a.account)
                    if key not in sessions:
                        sessions[key] = session_limit(ledger, s, *key, session_limit_s)
                    limit = sessions[key]
                running.append(
                    Running(
                        a.id,
                        a.account,
                        tuple((str(n), int(i)) for n, i in a.devices),
                        start + limit if limit is not None else None,
                    )
                )
    waiting = [request(j) for j in queued] + [server_request(r) for r in servers]
    return Snapshot(t, nodes, waiting, running, usage, {server_id(r): r for r in servers})


def session_limit(ledger, s, user: str, account: str, default_s: float | None) -> float | None:
    """Seconds a server of `user` charging `account` is expected to run: the quota's
    max_session_hours (the enforcer stops it then), else `default_s`."""
    groups = [] if account == user else [account]
    hours = ledger.policies.limits(s, user, groups, account).max_session_hours
    return hours * 3600.0 if hours else default_s
