"""Who starts next: the line of waiting requests, as a pure function (no I/O, no clock).

:func:`plan` is handed a snapshot (free devices per node, the waiting requests, what runs
and when it is expected to end, each account's recent use and share) and answers which
waiting requests start now and on which devices. The caller records those starts (the
ledger, in its own transaction); nothing here reads a clock, a file or a database, so the
policy is tested with literal data and replayed against traces
(``benchmarks/scheduling.py``).

The policy:

1. **Order.** The line is sorted by an administrator's ``priority`` (default 0), then by
   a multifactor score as in Slurm's classic priority plugin:
   ``fairshare * F + age * A + size * Z`` where ``F = 2^(-U/S)``, ``U`` the account's
   share of all recent use (NPU-seconds, decayed with a half-life, see
   :func:`decayed_usage`) and ``S`` its share of the entitlement (equal shares if none
   are given), ``A = min(1, waited / max_age)`` and ``Z`` the request's NPUs over the
   largest node's (weight 0 by default: see :class:`Policy`); then by submission time.
2. **Start what fits, in that order,** placed by :func:`npuhub.hub.placement.place`
   (fewest nodes, HCCS rings, packing).
3. **EASY backfill.** The first request that does not fit is the *head*: it gets a
   reservation, the devices that :func:`~npuhub.hub.placement.place` would give it at the
   earliest time enough is expected to be free (from the running requests' expected
   ends; a request without an end is assumed to end last). Every later request may still
   start now, but only if it does not delay the head: it is expected to end before that
   time, or it stays off the reserved devices. A request that could not fit even on an
   empty cluster (larger than every node of its type together, or its devices drained)
   gets no reservation and blocks nobody.

Times are seconds on any common scale (the callers use POSIX timestamps).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from .placement import NodeView, Placement, place

__all__ = [
    "DEFAULT_HALF_LIFE_S",
    "Policy",
    "Request",
    "Running",
    "decay",
    "decayed_usage",
    "fairshare_factor",
    "order",
    "plan",
    "priority_order",
]

DEFAULT_HALF_LIFE_S = 7 * 86400.0


@dataclass(frozen=True)
class Request:
    """A waiting request: ``npus`` devices for at most ``limit_s`` seconds (``None``: no
    limit known, it may run for ever), submitted at ``submitted``. ``device_type`` keeps
    it to nodes of that type; ``priority`` (an administrator's) goes before fair share."""

    id: Hashable
    account: str
    npus: int
    submitted: float
    limit_s: float | None
    device_type: str | None = None
    priority: int = 0


@dataclass(frozen=True)
class Running:
    """What runs: the ``(node, index)`` devices it holds and when it is expected to end
    (from its time limit; ``None``: unknown)."""

    id: Hashable
    account: str
    devices: Sequence[tuple[str, int]]
    ends: float | None


@dataclass(frozen=True)
class Policy:
    """Weights of the line's order (Slurm's ``PriorityWeightFairshare``,
    ``PriorityWeightAge``, ``PriorityMaxAge`` and ``PriorityWeightJobSize``: the size
    factor is the request's NPUs over the largest node's, at most 1)."""

    fairshare: float = 1000.0
    age: float = 1000.0
    max_age_s: float = 3600.0
    size: float = 0.0


DEFAULT_POLICY = Policy()


def decay(usage: float, elapsed_s: float, half_life_s: float = DEFAULT_HALF_LIFE_S) -> float:
    """``usage`` as it counts ``elapsed_s`` seconds later: halved every ``half_life_s``."""
    if half_life_s <= 0:
        raise ValueError(f"half_life_s must be > 0, got {half_life_s}")
    return usage * 2.0 ** (-max(elapsed_s, 0.0) / half_life_s)


def decayed_usage(
    npus: float,
    start: float,
    end: float | None,
    now: float,
    half_life_s: float = DEFAULT_HALF_LIFE_S,
) -> float:
    """Decayed NPU-seconds, at ``now``, of ``npus`` devices held from ``start`` to ``end``
    (``None``: still held): each second counts ``2^(-age/half_life)``, the integral of
    that over the interval (a second used just now counts 1, a week ago 1/2)."""
    if half_life_s <= 0:
        raise ValueError(f"half_life_s must be > 0, got {half_life_s}")
    stop = now if end is None else min(end, now)
    if stop <= start or npus <= 0:
        return 0.0
    k = math.log(2) / half_life_s
    return npus * (math.exp(-k * (now - stop)) - math.exp(-k * (now - start))) / k


def fairshare_factor(
    usage: Mapping[str, float], shares: Mapping[str, float], accounts: Iterable[str]
) -> dict[str, float]:
    """Slurm's classic factor ``2^(-U/S)`` of each of ``accounts`` (and of every account in
    ``usage`` or ``shares``): ``U`` its part of the total usage, ``S`` its part of the
    total shares (an account without a share has the mean share: equal if none are given).
    1 for everyone while nobody has used anything; an account without share gets 0."""
    names = set(accounts) | set(usage) | set(shares)
    given = [float(v) for v in shares.values() if v > 0]
    default = sum(given) / len(given) if given else 1.0
    share = {a: float(shares[a]) if a in shares else default for a in names}
    total_share = sum(max(s, 0.0) for s in share.values())
    total_use = sum(max(float(usage.get(a, 0.0)), 0.0) for a in names)
    out = {}
    for a in names:
        if total_use <= 0:
            out[a] = 1.0
            continue
        u = max(float(usage.get(a, 0.0)), 0.0) / total_use
        s = max(share[a], 0.0) / total_share if total_share > 0 else 0.0
        out[a] = 2.0 ** (-u / s) if s > 0 else 0.0
    return out


def priority_order(
    now: float,
    waiting: Sequence[Request],
    usage: Mapping[str, float] = {},  # noqa: B006 - read only
    shares: Mapping[str, float] = {},  # noqa: B006 - read only
    policy: Policy = DEFAULT_POLICY,
    accounts: Iterable[str] = (),
    largest: int = 8,
) -> list[Request]:
    """The line: ``waiting`` by priority, then score (fair share, age and size), then age.
    ``accounts``: others to count in the fair share (those running); ``largest``: NPUs of
    the largest node (the size factor's scale)."""
    factor = fairshare_factor(usage, shares, {r.account for r in waiting} | set(accounts))

    def key(r: Request):
        waited = max(now - r.submitted, 0.0)
        age = min(1.0, waited / policy.max_age_s) if policy.max_age_s > 0 else 1.0
        size = min(1.0, r.npus / largest) if largest > 0 else 0.0
        score = policy.fairshare * factor[r.account] + policy.age * age + policy.size * size
        return (-r.priority, -score, r.submitted, str(r.id))

    return sorted(waiting, key=key)


class _Free:
    """Free devices per node, changed as the plan hands them out; the NodeViews of them
    are rebuilt only for the nodes that changed."""

    def __init__(self, nodes: Sequence[NodeView]):
        self.nodes = {n.name: n for n in nodes}
        self.free = {n.name: set(n.free) for n in nodes}
        self.index = {n.name: i for i, n in enumerate(nodes)}
        self._views = list(nodes)

    def views(self, without: frozenset[tuple[str, int]] = frozenset()) -> list[NodeView]:
        if not without:
            return self._views
        out = list(self._views)
        for name in {name for name, _ in without}:
            if name in self.index:
                v = out[self.index[name]]
                out[self.index[name]] = NodeView(
                    name, v.type, v.rings, frozenset(d for d in v.free if (name, d) not in without)
                )
        return out

    def take(self, devices: Placement) -> None:
        for name, d in devices:
            self.free[name].remove(d)
        for name in {name for name, _ in devices}:
            v = self.nodes[name]
            self._views[self.index[name]] = NodeView(
                name, v.type, v.rings, frozenset(self.free[name])
            )


def _reserve(
    head: Request,
    free: _Free,
    ends: list[tuple[float, Sequence[tuple[str, int]]]],
) -> tuple[float, frozenset[tuple[str, int]]] | None:
    """(shadow time, reserved devices) of the head: the earliest expected end after which
    :func:`place` finds it devices, and those devices. None if it would not fit even when
    everything that runs has ended."""
    known = {name: set(d) for name, d in free.free.items()}
    by_end = sorted(ends, key=lambda e: e[0])
    times = sorted({t for t, _ in by_end})

    def placed_at(k: int) -> Placement | None:
        """Placement once everything ending at or before times[k] has ended."""
        avail = {name: set(d) for name, d in known.items()}
        for t, devices in by_end:
            if t > times[k]:
                break
            for name, d in devices:
                if name in avail:
                    avail[name].add(d)
        views = [
            NodeView(n.name, n.type, n.rings, frozenset(d for d in avail[n.name] if _in(n, d)))
            for n in free.nodes.values()
        ]
        return place(views, head.npus, head.device_type)

    if not times or placed_at(len(times) - 1) is None:
        return None
    lo, hi = 0, len(times) - 1  # feasibility only grows as devices come back
    while lo < hi:
        mid = (lo + hi) // 2
        if placed_at(mid) is not None:
            hi = mid
        else:
            lo = mid + 1
    placement = placed_at(lo)
    assert placement is not None
    return times[lo], frozenset(placement)


def _node_size(node: NodeView) -> int:
    return sum(len(r) for r in node.rings) if node.rings else len(node.free)


def _in(node: NodeView, device: int) -> bool:
    """A device a node can hand out again once released (in one of its rings)."""
    return not node.rings or any(device in r for r in node.rings)


def order(
    now: float,
    nodes: Sequence[NodeView],
    waiting: Sequence[Request],
    running: Sequence[Running],
    usage: Mapping[str, float] = {},  # noqa: B006 - read only
    shares: Mapping[str, float] = {},  # noqa: B006 - read only
    *,
    policy: Policy = DEFAULT_POLICY,
) -> list[Request]:
    """The line :func:`plan` goes through, first to last (same arguments)."""
    largest = max((_node_size(n) for n in nodes), default=0)
    accounts = (r.account for r in running)
    return priority_order(now, waiting, usage, shares, policy, accounts, largest)


def plan(
    now: float,
    nodes: Sequence[NodeView],
    waiting: Sequence[Request],
    running: Sequence[Running],
    usage: Mapping[str, float] = {},  # noqa: B006 - read only
    shares: Mapping[str, float] = {},  # noqa: B006 - read only
    *,
    policy: Policy = DEFAULT_POLICY,
) -> list[tuple[Hashable, Placement]]:
    """The requests of ``waiting`` to start now and their devices, in the order they
    should be started (see the module docstring). ``nodes`` hold the free devices now;
    ``running`` what is held and until when; ``usage`` each account's decayed
    NPU-seconds; ``shares`` each account's share (equal if absent)."""
    free = _Free(nodes)
    inf = math.inf
    ends: list[tuple[float, Sequence[tuple[str, int]]]] = [
        (r.ends if r.ends is not None else inf, tuple(r.devices)) for r in running if r.devices
    ]
    line = order(now, nodes, waiting, running, usage, shares, policy=policy)
    started: list[tuple[Hashable, Placement]] = []
    shadow: float | None = None
    reserved: frozenset[tuple[str, int]] = frozenset()
    # place() failing stays true while devices are only taken: each (size, type) fails
    # once per kind of view (all free devices; those off the reservation)
    failed: set[tuple[int, str | None]] = set()
    failed_off: set[tuple[int, str | None]] = set()
    never: set[tuple[int, str | None]] = set()  # no reservation possible for these
    for req in line:
        if req.npus < 0:
            continue
        if req.npus == 0:
            started.append((req.id, []))
            continue
        kind = (req.npus, req.device_type)
        end = now + req.limit_s if req.limit_s is not None else inf
        placement = None
        if kind not in failed:
            placement = place(free.views(), req.npus, req.device_type)
            if placement is None:
                failed.add(kind)
        if shadow is not None and placement is not None:
            # backfill: it must not delay the head
            before = end <= shadow < inf
            if not before and reserved.intersection(placement):
                placement = None
                if kind not in failed_off:
                    placement = place(free.views(reserved), req.npus, req.device_type)
                    if placement is None:
                        failed_off.add(kind)
        if placement is not None:
            free.take(placement)
            started.append((req.id, placement))
            ends.append((end, placement))
            continue
        if shadow is None and kind not in never:
            reservation = _reserve(req, free, ends)
            if reservation is None:
                never.add(kind)
            else:
                shadow, reserved = reservation
    return started
