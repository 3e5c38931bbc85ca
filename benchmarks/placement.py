"""Replay a production GPU-cluster trace against npuhub's placement policy and two baselines.

Measured, not asserted. Run on demand from the repository root:

    .venv/bin/python benchmarks/placement.py [--tasks N] [--nodes N] [--out DIR] [--trace DIR]

The trace is Alibaba's OpenB (cluster-trace-gpu-v2023, see its README.md): every node
becomes an accelerator node with ``gpu`` devices (nodes of 8 as two HCCS rings of 4, the
others one group), every task with ``num_gpu >= 1`` a request for that many whole
devices, arriving at ``creation_time`` and holding its devices for
``deletion_time - scheduled_time`` (its run time in production, without the wait it had
there). An event-driven simulation keeps a FIFO queue with simple backfill: at every
event the waiting requests are tried in arrival order and any that fits starts (a later,
smaller request may overtake a larger one that does not fit). The same trace runs on the
full cluster and on a deterministic sample of it (``--nodes``), small enough that
requests have to wait.

Prints a table and writes ``placement.png`` (utilization and waiting requests over time,
per policy) into ``--out`` (default ``benchmarks/out/``, not versioned).
"""

from __future__ import annotations

import argparse
import csv
import heapq
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from npuhub.hub.placement import NodeView, place

sys.path.insert(0, str(Path(__file__).resolve().parent))
from placement_baselines import best_fit, first_fit, stranded  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TRACE = REPO.parent / "shared" / "data" / "openb"
DEFAULT_OUT = REPO / "benchmarks" / "out"
RINGS_8 = ((0, 1, 2, 3), (4, 5, 6, 7))
DAY = 86400.0

Policy = Callable[[Sequence[NodeView], int], "list[tuple[str, int]] | None"]
POLICIES: dict[str, Policy] = {"npuhub": place, "first_fit": first_fit, "best_fit": best_fit}


@dataclass(frozen=True)
class Node:
    name: str
    model: str
    size: int

    @property
    def rings(self) -> tuple[tuple[int, ...], ...]:
        return RINGS_8 if self.size == 8 else (tuple(range(self.size)),)


@dataclass(frozen=True)
class Task:
    seq: int
    name: str
    count: int
    arrival: float
    duration: float


@dataclass
class TraceInfo:
    rows: int = 0
    used: int = 0
    cpu_only: int = 0
    never_scheduled: int = 0
    fractional: int = 0


def load_nodes(trace: Path) -> list[Node]:
    with open(trace / "openb_node_list_gpu_node.csv", newline="") as f:
        return [
            Node(r["sn"], r["model"], int(r["gpu"])) for r in csv.DictReader(f) if int(r["gpu"]) > 0
        ]


def load_tasks(trace: Path, limit: int | None) -> tuple[list[Task], TraceInfo]:
    info = TraceInfo()
    kept = []
    with open(trace / "openb_pod_list_default.csv", newline="") as f:
        for r in csv.DictReader(f):
            info.rows += 1
            count = int(r["num_gpu"])
            if count == 0:
                info.cpu_only += 1
                continue
            if not (r["creation_time"] and r["scheduled_time"] and r["deletion_time"]):
                info.never_scheduled += 1
                continue
            shared = 0 < int(r["gpu_milli"] or 0) < 1000
            created, scheduled = float(r["creation_time"]), float(r["scheduled_time"])
            duration = float(r["deletion_time"]) - scheduled
            kept.append((created, r["name"], count, max(duration, 0.0), shared))
    kept.sort()
    if limit is not None:
        kept = kept[:limit]
    info.used = len(kept)
    info.fractional = sum(1 for k in kept if k[4])
    return [Task(i, name, c, t, d) for i, (t, name, c, d, _) in enumerate(kept)], info


def sample_nodes(nodes: list[Node], n: int) -> list[Node]:
    """``n`` nodes spread evenly over the list sorted by (size, model, name): the sample
    keeps the cluster's mix of node sizes and models, and is the same at every run. It is
    returned in the trace's order (the order first_fit walks), as the full cluster is."""
    if n >= len(nodes):
        return list(nodes)
    ordered = sorted(nodes, key=lambda x: (x.size, x.model, x.name))
    chosen = {ordered[int((k + 0.5) * len(ordered) / n)].name for k in range(n)}
    return [x for x in nodes if x.name in chosen]


@dataclass
class Result:
    scenario: str
    policy: str
    devices: int
    utilization: float = 0.0
    utilization_busy: float = 0.0
    placed: int = 0
    waited: int = 0
    waits: list[float] = field(default_factory=list)
    waits_by_size: dict[int, list[float]] = field(default_factory=dict)
    never: int = 0
    split: int = 0
    stranded_samples: list[int] = field(default_factory=list)
    call_us: list[float] = field(default_factory=list)
    series_t: list[float] = field(default_factory=list)
    series_busy: list[int] = field(default_factory=list)
    series_waiting: list[int] = field(default_factory=list)


def is_split(placement: list[tuple[str, int]], count: int, largest: int, by_name) -> bool:
    """A placement spread wider than npuhub's rules allow: over several nodes although one
    node could hold it, or a 1/2/4-chip job over two HCCS rings."""
    names = {n for n, _ in placement}
    if len(names) > 1:
        return count <= largest
    if count in (1, 2, 4):
        rings = by_name[next(iter(names))].rings
        if max(map(len, rings)) >= count:
            devices = {d for _, d in placement}
            return not any(devices <= set(r) for r in rings)
    return False


def simulate(
    scenario: str, nodes: list[Node], tasks: list[Task], name: str, busy_from: float = 0.0
) -> Result:
    policy = POLICIES[name]
    res = Result(scenario, name, sum(n.size for n in nodes))
    by_name = {n.name: n for n in nodes}
    index = {n.name: i for i, n in enumerate(nodes)}
    free = {n.name: set(range(n.size)) for n in nodes}
    views = [NodeView(n.name, n.model, n.rings, frozenset(free[n.name])) for n in nodes]
    largest = max(n.size for n in nodes)

    def refresh(names):
        for nm in names:
            node = by_name[nm]
            views[index[nm]] = NodeView(nm, node.model, node.rings, frozenset(free[nm]))

    queue: dict[int, deque[Task]] = {}
    releases: list[tuple[float, int, list[tuple[str, int]]]] = []
    busy = 0
    busy_time = 0.0
    busy_time_window = 0.0  # from busy_from on
    perf = time.perf_counter_ns

    def try_start(task: Task, now: float) -> bool:
        nonlocal busy
        t0 = perf()
        placement = policy(views, task.count)
        res.call_us.append((perf() - t0) / 1000)
        if placement is None:
            return False
        for nm, d in placement:
            free[nm].remove(d)
        refresh({nm for nm, _ in placement})
        busy += task.count
        heapq.heappush(releases, (now + task.duration, task.seq, placement))
        res.placed += 1
        if now > task.arrival:
            res.waited += 1
            res.waits.append(now - task.arrival)
            res.waits_by_size.setdefault(task.count, []).append(now - task.arrival)
        if is_split(placement, task.count, largest, by_name):
            res.split += 1
        return True

    def scan(now: float, blocked: set[int]) -> None:
        # Failing to place c devices stays true while devices are only taken (every policy
        # here is monotone), so each size is tried at most once per failure: a scan costs
        # O(starts + distinct sizes), not O(queue).
        while True:
            head = None
            for c, dq in queue.items():
                if dq and c not in blocked and (head is None or dq[0].seq < head.seq):
                    head = dq[0]
            if head is None:
                return
            if try_start(head, now):
                queue[head.count].popleft()
            else:
                blocked.add(head.count)

    i = 0
    start = now = tasks[0].arrival if tasks else 0.0
    while i < len(tasks) or releases:
        nxt = min(
            tasks[i].arrival if i < len(tasks) else float("inf"),
            releases[0][0] if releases else float("inf"),
        )
        busy_time += busy * (nxt - now)
        busy_time_window += busy * max(0.0, nxt - max(now, busy_from))
        now = nxt
        released = False
        while releases and releases[0][0] == now:
            _, _, placement = heapq.heappop(releases)
            for nm, d in placement:
                free[nm].add(d)
            refresh({nm for nm, _ in placement})
            busy -= len(placement)
            released = True
        # requests already waiting still fail if nothing was released
        blocked = set() if released else {c for c, dq in queue.items() if dq}
        while i < len(tasks) and tasks[i].arrival == now:
            queue.setdefault(tasks[i].count, deque()).append(tasks[i])
            i += 1
        scan(now, blocked)
        waiting = [c for c, dq in queue.items() if dq]
        res.stranded_samples.append(stranded(views, waiting) if waiting else 0)
        res.series_t.append(now)
        res.series_busy.append(busy)
        res.series_waiting.append(sum(len(dq) for dq in queue.values()))
    res.never = sum(len(dq) for dq in queue.values())
    makespan = now - start
    res.utilization = busy_time / (res.devices * makespan) if makespan > 0 else 0.0
    window = now - max(start, busy_from)
    res.utilization_busy = busy_time_window / (res.devices * window) if window > 0 else 0.0
    return res


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


COLUMNS = [
    ("cluster", "<", lambda r: r.scenario),
    ("devices", ">", lambda r: f"{r.devices}"),
    ("policy", "<", lambda r: r.policy),
    ("util %", ">", lambda r: f"{100 * r.utilization:.2f}"),
    ("util % busy", ">", lambda r: f"{100 * r.utilization_busy:.2f}"),
    ("placed", ">", lambda r: f"{r.placed}"),
    ("waited", ">", lambda r: f"{r.waited}"),
    ("mean wait h", ">", lambda r: f"{statistics.fmean(r.waits) / 3600:.2f}" if r.waits else "-"),
    ("p95 wait h", ">", lambda r: f"{pct(r.waits, 0.95) / 3600:.2f}" if r.waits else "-"),
    ("never", ">", lambda r: f"{r.never}"),
    ("split", ">", lambda r: f"{r.split}"),
    ("stranded", ">", lambda r: f"{statistics.fmean(r.stranded_samples):.2f}"),
    ("place p50 us", ">", lambda r: f"{pct(r.call_us, 0.5):.0f}"),
    ("place p95 us", ">", lambda r: f"{pct(r.call_us, 0.95):.0f}"),
]


def table(results: list[Result]) -> str:
    cells = [[h for h, _, _ in COLUMNS]] + [[f(r) for _, _, f in COLUMNS] for r in results]
    widths = [max(len(row[k]) for row in cells) for k in range(len(COLUMNS))]
    lines = []
    for j, row in enumerate(cells):
        parts = [f"{v:{COLUMNS[k][1]}{widths[k]}}" for k, v in enumerate(row)]
        lines.append("  ".join(parts).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def wait_table(results: list[Result]) -> str:
    """Requests that waited and their mean wait in hours, by request size."""
    sizes = sorted({c for r in results for c in r.waits_by_size})
    head = ["cluster", "policy"] + [f"{c} dev: waited, mean h" for c in sizes]
    rows = [head]
    for r in results:
        row = [r.scenario, r.policy]
        for c in sizes:
            w = r.waits_by_size.get(c, [])
            row.append(f"{len(w)}, {statistics.fmean(w) / 3600:.2f}" if w else "0, -")
        rows.append(row)
    widths = [max(len(row[k]) for row in rows) for k in range(len(head))]
    lines = []
    for j, row in enumerate(rows):
        cells = [f"{v:<{widths[k]}}" if k < 2 else f"{v:>{widths[k]}}" for k, v in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def binned(t: list[float], v: list[float], start: float, width: float) -> tuple[list, list]:
    """Time-weighted mean of a step function (value v[i] from t[i] to t[i+1]) per bin."""
    if not t:
        return [], []
    nbins = max(1, int((t[-1] - start) // width) + 1)
    acc = [0.0] * nbins
    for i in range(len(t) - 1):
        a, b = max(t[i], start), t[i + 1]
        while a < b:
            k = int((a - start) // width)
            edge = min(b, start + (k + 1) * width)
            acc[k] += v[i] * (edge - a)
            a = edge
    return [(start + (k + 0.5) * width) / DAY for k in range(nbins)], [x / width for x in acc]


STYLE = {
    "npuhub": {"color": "tab:blue", "linewidth": 1.6},
    "first_fit": {"color": "tab:orange", "linewidth": 1.0},
    "best_fit": {"color": "tab:green", "linewidth": 1.0, "linestyle": "--"},
}


def plot(results: list[Result], path: Path, from_t: float, bin_hours: float = 6) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = list(dict.fromkeys(r.scenario for r in results))
    fig, axes = plt.subplots(
        2, len(scenarios), figsize=(6.5 * len(scenarios), 7), sharex=True, squeeze=False
    )
    for col, sc in enumerate(scenarios):
        for r in (r for r in results if r.scenario == sc):
            util = [100 * b / r.devices for b in r.series_busy]
            days, u = binned(r.series_t, util, from_t, bin_hours * 3600)
            _, w = binned(r.series_t, r.series_waiting, from_t, bin_hours * 3600)
            axes[0][col].plot(days, u, label=r.policy, **STYLE[r.policy])
            axes[1][col].plot(days, w, label=r.policy, **STYLE[r.policy])
        devices = next(r.devices for r in results if r.scenario == sc)
        axes[0][col].set_title(f"{sc} ({devices} devices)")
        axes[0][col].set_ylabel(f"devices allocated, % ({bin_hours:g} h mean)")
        axes[1][col].set_ylabel(f"requests waiting ({bin_hours:g} h mean)")
        axes[1][col].set_xlabel("trace day")
        axes[0][col].legend(loc="lower left", fontsize=8)
    fig.suptitle("OpenB trace replayed with FIFO + backfill: npuhub placement vs baselines")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trace", type=Path, default=DEFAULT_TRACE, help="OpenB csv folder")
    ap.add_argument("--tasks", type=int, default=None, help="replay only the first N tasks")
    ap.add_argument(
        "--nodes",
        type=int,
        nargs="*",
        default=[10],
        help="sizes of scaled-down clusters (deterministic samples of the nodes), besides the"
        " full cluster; the trace's demand peaks at 71 devices, so only a sample of about ten"
        " nodes makes requests wait (default: 10; none: full cluster only)",
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the plot")
    args = ap.parse_args(argv)

    if not (args.trace / "openb_pod_list_default.csv").exists():
        print(f"no OpenB trace in {args.trace} (use --trace DIR)", file=sys.stderr)
        return 2
    nodes = load_nodes(args.trace)
    tasks, info = load_tasks(args.trace, args.tasks)
    print(
        f"trace {args.trace}: {len(nodes)} nodes, {sum(n.size for n in nodes)} devices; "
        f"{info.rows} tasks, {info.used} replayed as whole-device requests"
        f" ({info.fractional} of them GPU-sharing tasks, gpu_milli < 1000, counted as one"
        f" whole device)"
    )
    print(
        f"skipped: {info.cpu_only} CPU-only tasks (num_gpu 0), {info.never_scheduled} tasks"
        f" never scheduled in production (no scheduled_time, so no run time)"
    )
    scenarios = [("full", nodes)]
    for n in args.nodes:
        if 0 < n < len(nodes):
            scenarios.append((f"sample-{n}", sample_nodes(nodes, n)))

    # the trace is nearly empty at first (about 20 tasks in its first 100 days): also
    # measure from the arrival of its first percentile of tasks on
    busy_from = pct([t.arrival for t in tasks], 0.01)
    results = []
    t0 = time.perf_counter()
    for scenario, cluster in scenarios:
        for name in POLICIES:
            results.append(simulate(scenario, cluster, tasks, name, busy_from))
    elapsed = time.perf_counter() - t0
    print()
    print(table(results))
    print()
    print(
        "\n".join(
            [
                "util %        device-time allocated / (devices x makespan)",
                f"util % busy   the same from day {busy_from / DAY:.1f} on (first percentile of"
                " arrivals; the trace is nearly empty before)",
                "waited        requests that did not start on arrival; mean/p95 wait over them",
                "never         requests still waiting when everything else is done",
                "split         placements over several nodes although one node could hold them,"
                " or of 1/2/4 devices over two HCCS rings",
                "stranded      free devices that no waiting request could use (by npuhub's"
                " rules), mean over events",
                "place us      time of one policy call, all calls of the replay",
            ]
        )
    )
    print()
    print(wait_table(results))
    args.out.mkdir(parents=True, exist_ok=True)
    png = args.out / "placement.png"
    plot(results, png, busy_from)
    print(f"\nsimulated in {elapsed:.1f} s; plot: {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
