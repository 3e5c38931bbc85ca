"""The line as people see it: each waiting request's position and estimated start.
Pure (no I/O, no clock): the same inputs as :func:`npuhub.hub.scheduling.plan`.

:func:`forecast` replays the future with ``plan`` itself: what it starts now starts now;
then time moves to the next expected end (from the time limits of what runs: a job's,
a session's), those devices come back, and ``plan`` is asked again, until every request
has a start or nothing more is expected to end (no estimate: ``None``). A request that
could never fit gets ``None`` too. The estimate is only as good as the limits: work that
ends early brings starts forward.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

from npuhub.hub.placement import NodeView
from npuhub.hub.scheduling import DEFAULT_POLICY, Policy, Request, Running, order, plan

#: at most this many waiting requests are replayed (later ones get no estimate)
MAX_FORECAST = 500


@dataclass(frozen=True)
class Place:
    """One waiting request's place: 1-based ``position`` in the line (among requests
    that wait for NPUs) and its estimated start (None: not known)."""

    id: Hashable
    position: int
    estimated_start: float | None


def forecast(
    now: float,
    nodes: Sequence[NodeView],
    waiting: Sequence[Request],
    running: Sequence[Running],
    usage: Mapping[str, float] = {},  # noqa: B006 - read only
    shares: Mapping[str, float] = {},  # noqa: B006 - read only
    *,
    policy: Policy = DEFAULT_POLICY,
) -> dict[Hashable, float | None]:
    """Each waiting request's expected start (``now`` for those plan starts at once;
    None when it cannot be told)."""
    left = {r.id: r for r in list(waiting)[:MAX_FORECAST]}
    out: dict[Hashable, float | None] = {r.id: None for r in waiting}
    free = {n.name: set(n.free) for n in nodes}
    known = {(n.name, d) for n in nodes for ring in n.rings for d in ring} | {
        (n.name, d) for n in nodes for d in n.free
    }
    run = [Running(r.id, r.account, tuple(r.devices), r.ends) for r in running]
    t = now
    while left:
        views = [NodeView(n.name, n.type, n.rings, frozenset(free[n.name])) for n in nodes]
        for rid, devices in plan(t, views, list(left.values()), run, usage, shares,
                                 policy=policy):
            req = left.pop(rid)
            out[rid] = t
            for name, d in devices:
                free[name].discard(d)
            ends = t + req.limit_s if req.limit_s is not None else None
            run.append(Running(rid, req.account, tuple(devices), ends))
        ends = [r.ends for r in run if r.ends is not None]
        if not left or not ends:
            break
        t = max(t, min(ends))
        still = []
        for r in run:
            if r.ends is not None and r.ends <= t:
                for name, d in r.devices:
                    if (name, d) in known:
                        free[name].add(d)
            else:
                still.append(r)
        run = still
    return out


def places(
    now: float,
    nodes: Sequence[NodeView],
    waiting: Sequence[Request],
    running: Sequence[Running],
    usage: Mapping[str, float] = {},  # noqa: B006 - read only
    shares: Mapping[str, float] = {},  # noqa: B006 - read only
    *,
    policy: Policy = DEFAULT_POLICY,
) -> list[Place]:
    """The line, first to last, of the requests that wait for NPUs (those without NPUs
    never wait), with their estimated starts."""
    line = [
        r for r in order(now, nodes, waiting, running, usage, shares, policy=policy)
        if r.npus > 0
    ]
    starts = forecast(now, nodes, line, running, usage, shares, policy=policy)
    return [Place(r.id, i, starts.get(r.id)) for i, r in enumerate(line, 1)]
