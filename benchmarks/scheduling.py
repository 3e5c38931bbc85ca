"""Replay the OpenB trace through npuhub's line (``scheduling.plan``) and today's behaviour.

Measured, not asserted. Run on demand from the repository root:

    .venv/bin/python benchmarks/scheduling.py [OUT] [--days D] [--nodes N] [--seed S] [--trace DIR]

Workload: a deterministic sample of OpenB's nodes (``--nodes``, as in
``benchmarks/placement.py``, whose loading this reuses) and requests drawn from OpenB's
tasks (size and run time together, run time capped at 4 h), arriving as a Poisson process
whose rate asks for 0.9 and 1.1 times the sample's capacity (device-hours of work per
hour). Each request belongs to one of eight accounts, which submit in Zipf proportions
(1, 1/2, …, 1/8) and have equal shares. A share of the requests (``--sessions``) are
interactive sessions: they work for the task's run time, then some of them
(``--idle-tail-share``) stay open idle (exponential, mean ``--idle-tail-mean-h``) until
their user stops them or their session limit (``--session-limit-h``) ends them. Batch
jobs ask for a time limit of 1.5 times their run time rounded up to 30 min, 1, 2 or 4 h;
sessions' limit is the session limit.

Policies:

- ``today``: what npuhub does now: a FIFO line with backfill (at every event the waiting
  requests are tried in arrival order and whatever fits starts), ``placement.best_fit``,
  idle sessions keep their devices until their user stops them.
- ``plan``: :func:`npuhub.hub.scheduling.plan` at every event (fair share with usage
  decayed by a 7-day half-life, waiting time, EASY backfill with a reservation for the
  head, npuhub's placement), and idle reclaim: a session idle for 30 min is stopped.

Reported per load and policy over the measured window (after a one-day warm-up): share of
the capacity's device-hours allocated and held by idle sessions; p95 wait overall and by
request size (requests still waiting at the end count with the wait they have had so
far); Jain's fairness index of each account's NPU-hours over its entitlement, the
max-min fair share of the NPU-hours allocated given what each account asked for. Writes
``scheduling.png`` into OUT (default ``benchmarks/out/``, not versioned).
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from placement import RINGS_8, Node, load_nodes, load_tasks, pct, sample_nodes
from placement_baselines import best_fit

from npuhub.hub.placement import NodeView
from npuhub.hub.scheduling import (
    DEFAULT_HALF_LIFE_S,
    Policy,
    Request,
    Running,
    decay,
    decayed_usage,
    plan,
)

REPO = Path(__file__).resolve().parents[1]
TRACES = [REPO.parent / "shared" / "data" / "openb", REPO.parents[1] / "shared" / "data" / "openb"]
DEFAULT_OUT = REPO / "benchmarks" / "out"
HOUR, DAY = 3600.0, 86400.0
CAP_S = 4 * HOUR
LIMITS = (0.5 * HOUR, HOUR, 2 * HOUR, 4 * HOUR)
ACCOUNTS = [f"lab{k}" for k in range(1, 9)]
SIZES = (1, 2, 4, 8)
POLICIES = ("today", "plan", "plan+size")


@dataclass
class Req:
    seq: int
    account: str
    npus: int
    arrival: float
    work: float  # seconds of real use
    tail: float  # seconds left open idle after the work (sessions)
    limit: float  # the time limit the scheduler is told
    session: bool
    start: float | None = None
    end: float | None = None
    placement: list = field(default_factory=list)


def workload(tasks, devices: int, load: float, horizon: float, args, rng) -> list[Req]:
    """Poisson arrivals asking for `load` times `devices` of work, sampled from `tasks`."""
    pool = [(t.count, min(max(t.duration, 60.0), CAP_S)) for t in tasks]
    mean_hold = sum(c * d for c, d in pool) / len(pool)
    weights = [1 / k for k in range(1, len(ACCOUNTS) + 1)]
    rate = load * devices / mean_hold  # requests per second
    out, t = [], 0.0
    while True:
        t += rng.expovariate(rate)
        if t >= horizon:
            return out
        npus, hold = rng.choice(pool)
        session = rng.random() < args.sessions
        work, tail = hold, 0.0
        if session:
            limit_s = args.session_limit_h * HOUR
            if rng.random() < args.idle_tail_share:  # stopped working part way, left it open
                work = hold * rng.random()
                tail = hold - work
        else:
            limit_s = next((x for x in LIMITS if x >= 1.5 * hold), LIMITS[-1])
        account = rng.choices(ACCOUNTS, weights)[0]
        out.append(Req(len(out), account, npus, t, work, tail, limit_s, session))


class Cluster:
    def __init__(self, nodes: list[Node]):
        self.nodes = nodes
        self.index = {n.name: i for i, n in enumerate(nodes)}
        self.free = {n.name: set(range(n.size)) for n in nodes}
        self.views = [NodeView(n.name, n.model, n.rings, frozenset(range(n.size))) for n in nodes]

    def _refresh(self, names) -> None:
        for nm in names:
            n = self.nodes[self.index[nm]]
            self.views[self.index[nm]] = NodeView(nm, n.model, n.rings, frozenset(self.free[nm]))

    def take(self, placement) -> None:
        for nm, d in placement:
            self.free[nm].remove(d)
        self._refresh({nm for nm, _ in placement})

    def give(self, placement) -> None:
        for nm, d in placement:
            self.free[nm].add(d)
        self._refresh({nm for nm, _ in placement})


@dataclass
class Result:
    load: float
    policy: str
    devices: int
    window: float
    allocated: float = 0.0  # device-seconds in the window
    idle: float = 0.0  # device-seconds held by idle sessions in the window
    waits: list[float] = field(default_factory=list)
    waits_by_size: dict[int, list[float]] = field(default_factory=dict)
    per_account: dict[str, float] = field(default_factory=dict)
    demand: dict[str, float] = field(default_factory=dict)
    unstarted: int = 0
    bins_alloc: list[float] = field(default_factory=list)
    bins_idle: list[float] = field(default_factory=list)
    plan_ms: list[float] = field(default_factory=list)
    jain: float = 0.0


def held_until(r: Req, reclaim: float | None) -> float:
    """When a started request gives its devices back."""
    tail = r.tail if reclaim is None else min(r.tail, reclaim)
    return r.start + r.work + tail


def simulate(policy: str, nodes, reqs: list[Req], horizon, warmup, args) -> Result:
    for r in reqs:
        r.start = r.end = None
        r.placement = []
    cluster = Cluster(nodes)
    devices = sum(n.size for n in nodes)
    res = Result(0.0, policy, devices, horizon - warmup)
    planned = policy.startswith("plan")
    reclaim = args.reclaim_min * 60 if planned else None
    weights = Policy(
        fairshare=args.fairshare_weight,
        age=args.age_weight,
        max_age_s=args.max_age_h * HOUR,
        size=args.size_weight if policy == "plan+size" else 0.0,
    )
    ends: list[tuple[float, int]] = []
    waiting: dict[int, Req] = {}  # insertion (arrival) order
    running: dict[int, Running] = {}
    requests = {r.seq: Request(r.seq, r.account, r.npus, r.arrival, r.limit) for r in reqs}
    usage = dict.fromkeys(ACCOUNTS, 0.0)
    held = dict.fromkeys(ACCOUNTS, 0)  # NPUs held now per account
    usage_t = 0.0
    nbins = int(math.ceil(horizon / (6 * HOUR)))
    res.bins_alloc, res.bins_idle = [0.0] * nbins, [0.0] * nbins

    def start(r: Req, placement, now: float) -> None:
        cluster.take(placement)
        r.start, r.placement = now, placement
        r.end = held_until(r, reclaim)
        heapq.heappush(ends, (r.end, r.seq))
        held[r.account] += r.npus
        running[r.seq] = Running(r.seq, r.account, tuple(placement), now + r.limit)
        del waiting[r.seq]

    def schedule_today(now: float) -> None:
        blocked: set[int] = set()
        for r in list(waiting.values()):
            if r.npus in blocked:
                continue
            p = best_fit(cluster.views, r.npus)
            if p is None:
                blocked.add(r.npus)
            else:
                start(r, p, now)

    def schedule_plan(now: float) -> None:
        t0 = time.perf_counter()
        line = [requests[s] for s in waiting]
        chosen = plan(now, cluster.views, line, list(running.values()), usage, policy=weights)
        res.plan_ms.append((time.perf_counter() - t0) * 1000)
        for seq, p in chosen:
            start(waiting[seq], p, now)

    schedule = schedule_plan if planned else schedule_today
    i, now = 0, 0.0
    while True:
        nxt = min(reqs[i].arrival if i < len(reqs) else math.inf, ends[0][0] if ends else math.inf)
        if nxt >= horizon:
            break
        if planned:  # decayed usage up to nxt
            for a in usage:
                usage[a] = decay(usage[a], nxt - usage_t, DEFAULT_HALF_LIFE_S) + decayed_usage(
                    held[a], usage_t, nxt, nxt, DEFAULT_HALF_LIFE_S
                )
            usage_t = nxt
        now = nxt
        while ends and ends[0][0] == now:
            _, seq = heapq.heappop(ends)
            r = reqs[seq]
            cluster.give(r.placement)
            held[r.account] -= r.npus
            del running[seq]
        while i < len(reqs) and reqs[i].arrival == now:
            waiting[reqs[i].seq] = reqs[i]
            i += 1
        if waiting:
            schedule(now)
    measure(res, reqs, horizon, warmup, reclaim)
    return res


def _clip(a: float, b: float, lo: float, hi: float) -> float:
    return max(0.0, min(b, hi) - max(a, lo))


def _add_bins(bins: list[float], a: float, b: float, weight: float, width: float) -> None:
    while a < b:
        k = int(a // width)
        edge = min(b, (k + 1) * width)
        if k < len(bins):
            bins[k] += weight * (edge - a)
        a = edge


def measure(res: Result, reqs: list[Req], horizon: float, warmup: float, reclaim) -> None:
    width = 6 * HOUR
    for r in reqs:
        if r.arrival < warmup:
            continue
        wait = (r.start if r.start is not None else horizon) - r.arrival
        res.waits.append(wait)
        res.waits_by_size.setdefault(r.npus, []).append(wait)
        want = r.work + (r.tail if reclaim is None else min(r.tail, reclaim))
        res.demand[r.account] = res.demand.get(r.account, 0.0) + r.npus * want
        res.unstarted += r.start is None
    for r in reqs:
        if r.start is None:
            continue
        end = min(r.end, horizon)
        res.allocated += r.npus * _clip(r.start, end, warmup, horizon)
        res.per_account[r.account] = res.per_account.get(r.account, 0.0) + r.npus * _clip(
            r.start, end, warmup, horizon
        )
        idle_from = r.start + r.work
        res.idle += r.npus * _clip(idle_from, end, warmup, horizon)
        _add_bins(res.bins_alloc, r.start, end, r.npus, width)
        _add_bins(res.bins_idle, min(idle_from, end), end, r.npus, width)
    res.jain = jain(res.per_account, res.demand)


def entitlements(demand: dict[str, float], total: float) -> dict[str, float]:
    """Max-min fair split of `total` among accounts asking for `demand` (equal shares):
    nobody is entitled to more than they asked; what they leave is shared by the rest."""
    out, left, rest = {}, total, sorted(demand, key=lambda a: demand[a])
    while rest:
        level = left / len(rest)
        a = rest[0]
        if demand[a] <= level:
            out[a] = demand[a]
            left -= demand[a]
            rest.pop(0)
        else:
            for b in rest:
                out[b] = level
            break
    return out


def jain(received: dict[str, float], demand: dict[str, float]) -> float:
    """Jain's index of received / entitled over the accounts that asked for anything."""
    accounts = [a for a in demand if demand[a] > 0]
    ent = entitlements({a: demand[a] for a in accounts}, sum(received.values()))
    x = [received.get(a, 0.0) / ent[a] for a in accounts if ent[a] > 0]
    if not x or not any(x):
        return 0.0
    return sum(x) ** 2 / (len(x) * sum(v * v for v in x))


def fmt_h(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds < 2 * HOUR else f"{seconds / HOUR:.1f} h"


def table(results: list[Result]) -> str:
    head = ["load", "policy", "allocated %", "idle-held %", "in use %", "p95 wait"]
    head += [f"p95 {c}-NPU (n)" for c in SIZES] + ["waiting at end", "Jain"]
    rows = [head]
    for r in results:
        row = [
            f"{r.load:.1f}",
            r.policy,
            f"{100 * r.allocated / (r.devices * r.window):.1f}",
            f"{100 * r.idle / (r.devices * r.window):.1f}",
            f"{100 * (r.allocated - r.idle) / (r.devices * r.window):.1f}",
            fmt_h(pct(r.waits, 0.95)),
        ]
        for c in SIZES:
            w = r.waits_by_size.get(c, [])
            row.append(f"{fmt_h(pct(w, 0.95))} ({len(w)})" if w else "-")
        row += [str(r.unstarted), f"{r.jain:.3f}"]
        rows.append(row)
    widths = [max(len(row[k]) for row in rows) for k in range(len(head))]
    lines = []
    for j, row in enumerate(rows):
        cells = [f"{v:<{widths[k]}}" if k < 2 else f"{v:>{widths[k]}}" for k, v in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


STYLE = {
    "today": {"color": "tab:orange"},
    "plan": {"color": "tab:blue"},
    "plan+size": {"color": "tab:green"},
}


def plot(results: list[Result], path: Path, warmup: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loads = sorted({r.load for r in results})
    fig, axes = plt.subplots(len(loads), 3, figsize=(17, 4.6 * len(loads)), squeeze=False)
    for row, load in enumerate(loads):
        ax_t, ax_w, ax_f = axes[row]
        group = [r for r in results if r.load == load]
        for r in group:
            days = [(k + 0.5) / 4 for k in range(len(r.bins_alloc))]
            cap = r.devices * 6 * HOUR
            ax_t.plot(
                days,
                [100 * b / cap for b in r.bins_alloc],
                label=f"{r.policy}: allocated",
                **STYLE[r.policy],
            )
            ax_t.plot(
                days,
                [100 * b / cap for b in r.bins_idle],
                linestyle="--",
                label=f"{r.policy}: held idle",
                **STYLE[r.policy],
            )
        ax_t.axvline(warmup / DAY, color="grey", linewidth=0.8)
        ax_t.set_title(f"load {load:.1f} x capacity: devices (6 h means)")
        ax_t.set_ylabel("% of devices")
        ax_t.set_xlabel("day")
        ax_t.legend(fontsize=8)
        width = 0.8 / len(group)
        labels = ["all", *[f"{c} NPU" for c in SIZES]]
        for k, r in enumerate(group):
            values = [pct(r.waits, 0.95)] + [pct(r.waits_by_size.get(c, []), 0.95) for c in SIZES]
            xs = [j + (k - (len(group) - 1) / 2) * width for j in range(len(labels))]
            ax_w.bar(xs, [v / 60 for v in values], width, label=r.policy, **STYLE[r.policy])
        ax_w.set_xticks(range(len(labels)), labels)
        ax_w.set_yscale("symlog", linthresh=15)
        ax_w.axhline(15, color="grey", linewidth=0.8, linestyle=":")
        ax_w.set_ylabel("p95 wait, minutes")
        ax_w.set_title("p95 wait by request size")
        ax_w.legend(fontsize=8)
        for k, r in enumerate(group):
            ent = entitlements(r.demand, sum(r.per_account.values()))
            ratio = [r.per_account.get(a, 0.0) / ent[a] if ent.get(a) else 0 for a in ACCOUNTS]
            xs = [j + (k - (len(group) - 1) / 2) * width for j in range(len(ACCOUNTS))]
            ax_f.bar(xs, ratio, width, label=f"{r.policy} (Jain {r.jain:.3f})", **STYLE[r.policy])
        ax_f.set_xticks(range(len(ACCOUNTS)), ACCOUNTS, fontsize=8)
        ax_f.axhline(1, color="grey", linewidth=0.8)
        ax_f.set_ylabel("NPU-hours / entitlement")
        ax_f.set_title("accounts (submitting 1 : 1/2 : ... : 1/8)")
        ax_f.legend(fontsize=8)
    fig.suptitle("OpenB sample, Poisson arrivals: today's FIFO + backfill vs scheduling.plan")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT, help="folder for plots")
    ap.add_argument("--trace", type=Path, default=None, help="OpenB csv folder")
    ap.add_argument("--nodes", type=int, default=10, help="sampled nodes (default 10)")
    ap.add_argument("--days", type=float, default=6.0, help="simulated days (default 6)")
    ap.add_argument("--warmup-days", type=float, default=1.0)
    ap.add_argument("--loads", type=float, nargs="+", default=[0.9, 1.1])
    ap.add_argument("--sessions", type=float, default=0.3, help="share of sessions")
    ap.add_argument("--idle-tail-share", type=float, default=0.5)
    ap.add_argument("--session-limit-h", type=float, default=8.0)
    ap.add_argument("--reclaim-min", type=float, default=30.0, help="plan: idle timeout")
    ap.add_argument("--fairshare-weight", type=float, default=1000.0)
    ap.add_argument("--age-weight", type=float, default=1000.0)
    ap.add_argument("--max-age-h", type=float, default=1.0)
    ap.add_argument(
        "--size-weight", type=float, default=3000.0, help="plan+size: weight of the size factor"
    )
    ap.add_argument("--seed", type=int, default=14)
    args = ap.parse_args(argv)

    trace = args.trace or next((t for t in TRACES if t.exists()), TRACES[0])
    if not (trace / "openb_pod_list_default.csv").exists():
        print(f"no OpenB trace in {trace} (use --trace DIR)", file=sys.stderr)
        return 2
    nodes = sample_nodes(load_nodes(trace), args.nodes)
    tasks, _ = load_tasks(trace, None)
    devices = sum(n.size for n in nodes)
    horizon, warmup = args.days * DAY, args.warmup_days * DAY
    sizes = ", ".join(f"{sum(1 for n in nodes if n.size == s)} x {s}" for s in (8, 4, 2, 1))
    print(
        f"trace {trace}: {len(tasks)} tasks; {len(nodes)} sampled nodes ({sizes} devices;"
        f" 8-device nodes as two rings {RINGS_8}), {devices} devices; {args.days:g} days,"
        f" measured after day {args.warmup_days:g}; {100 * args.sessions:.0f}% sessions,"
        f" {100 * args.idle_tail_share:.0f}% of them idle after a uniform part of their time"
        f" (session limit {args.session_limit_h:g} h)"
    )
    results = []
    t0 = time.perf_counter()
    for load in args.loads:
        reqs = workload(tasks, devices, load, horizon, args, random.Random(args.seed))
        for policy in POLICIES:
            res = simulate(policy, nodes, reqs, horizon, warmup, args)
            res.load = load
            results.append(res)
    elapsed = time.perf_counter() - t0
    print()
    print(table(results))
    calls = [ms for r in results for ms in r.plan_ms]
    print(
        f"\nallocated %, idle-held %: of the capacity's device-hours in the window;"
        f" waits in the window, p95 (requests of that size); plan call p50"
        f" {pct(calls, 0.5):.2f} ms, p95 {pct(calls, 0.95):.2f} ms"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    png = args.out / "scheduling.png"
    plot(results, png, warmup)
    print(f"simulated in {elapsed:.1f} s; plot: {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
