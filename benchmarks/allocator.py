"""The NPU ledger under load: allocations per second on SQLite and PostgreSQL, and how
the cost of placing a request grows with the cluster.

Every measurement runs twice, side by side: `before` is the ledger's old grant and release
(``benchmarks/ledger_baseline.py``: every grant reads every free device), `after` the
current one (the topology, the free devices and the policies remembered per version).

Measured, not asserted. Run on demand from the repository root:

    .venv/bin/python benchmarks/allocator.py [--pairs 2000] [--backends sqlite postgres]

Throughput: 1,000 devices (125 nodes of 8, two HCCS rings of 4 each), 10,000 users in
100 groups (the accounts), every account under an NPU-hours budget (so each grant also
sums the account's usage records of the week), 20,000 closed usage records of earlier
this week. The cluster is first filled to 90% with requests of 1, 2, 4 and 8 NPUs
(60/15/15/10%); then each pair releases a random active allocation and allocates for a
random user a request of a random size, by one client, then by 4 threads at once.

Growth: clusters of 10, 100, 1,000 and 10,000 devices, half of them held at random.
`place` is the pure policy call on NodeViews; `allocate` is the ledger's grant on SQLite
(reading the free devices, placing, the compare-and-set update, the usage record), and
`release` gives the devices back.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.pool import NullPool
from tabulate import tabulate

from npuhub.hub import clock, db
from npuhub.hub.ledger import CapacityError, Ledger, NodeSpec, QuotaError
from npuhub.hub.orm import Allocation
from npuhub.hub.placement import NodeView, place

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ledger_baseline import BaselineLedger  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
VERSIONS = {"before": BaselineLedger, "after": Ledger}
RINGS_8 = ((0, 1, 2, 3), (4, 5, 6, 7))
SIZES = (1, 2, 4, 8)
SIZE_WEIGHTS = (60, 15, 15, 10)


# ---------------------------------------------------------------- databases


@contextmanager
def database(backend: str):
    if backend == "sqlite":
        folder = tempfile.mkdtemp(prefix="npuhub-bench-")
        try:
            yield f"sqlite:///{folder}/bench.sqlite"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    base = subprocess.run(
        [str(REPO / "scripts" / "start-postgres")], check=True, capture_output=True, text=True
    ).stdout.split()[-1]
    name = f"npuhub_test_{os.getpid()}_bench{uuid.uuid4().hex[:6]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def nodes(devices: int, prefix: str = "node") -> list[NodeSpec]:
    out = []
    for n in range((devices + 7) // 8):
        size = min(8, devices - 8 * n)
        rings = RINGS_8 if size == 8 else (tuple(range(size)),)
        out.append(NodeSpec(f"{prefix}{n:05d}", "Ascend910B", rings, "/dev", "config"))
    return out


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


# ---------------------------------------------------------------- throughput


class Load:
    """Users, groups and the active allocations one benchmark run shares."""

    def __init__(self, ledger: Ledger, users: int, seed: int):
        self.ledger = ledger
        self.users = users
        self.rng = random.Random(seed)
        self.active: list[int] = []
        self.lock = threading.Lock()
        self.refused = {"capacity": 0, "quota": 0}
        self.alloc_s: list[float] = []
        self.release_s: list[float] = []

    def allocate(self, rng: random.Random) -> None:
        u = rng.randrange(self.users)
        npus = rng.choices(SIZES, SIZE_WEIGHTS)[0]
        t0 = time.perf_counter()
        try:
            grant = self.ledger.allocate(
                user=f"user{u:05d}",
                groups=[f"group{u % 100:03d}"],
                kind="server",
                holder=uuid.uuid4().hex[:8],
                npus=npus,
            )
        except CapacityError:
            kind = "capacity"
        except QuotaError:
            kind = "quota"
        else:
            kind = None
        dt = time.perf_counter() - t0
        with self.lock:
            self.alloc_s.append(dt)
            if kind:
                self.refused[kind] += 1
            else:
                self.active.append(grant.allocation_id)

    def release(self, rng: random.Random) -> None:
        with self.lock:
            if not self.active:
                return
            alloc_id = self.active.pop(rng.randrange(len(self.active)))
        t0 = time.perf_counter()
        self.ledger.release(alloc_id)
        with self.lock:
            self.release_s.append(time.perf_counter() - t0)


def history(engine, records: int, users: int, seed: int) -> None:
    """Closed usage records spread over the current week until now."""
    rng = random.Random(seed)
    now = clock.utcnow()
    week = now - timedelta(days=now.weekday(), hours=now.hour, minutes=now.minute)
    span = max((now - week).total_seconds(), 3600.0)
    rows = []
    for _ in range(records):
        u = rng.randrange(users)
        start = week + timedelta(seconds=rng.uniform(0, span - 60))
        end = min(start + timedelta(seconds=rng.uniform(60, 4 * 3600)), now)
        npus = rng.choices(SIZES, SIZE_WEIGHTS)[0]
        rows.append(
            {
                "user": f"user{u:05d}",
                "account": f"group{u % 100:03d}",
                "kind": "server",
                "holder": "",
                "npus": npus,
                "devices": [],
                "started": start,
                "ended": end,
                "state": "released",
                "reason": "stopped",
            }
        )
    with db.transaction(db.session_factory(engine), write=True) as s:
        s.execute(insert(Allocation), rows)


def throughput(
    backend: str, version: str, pairs: int, users: int, devices: int, records: int
) -> list[dict]:
    results = []
    with database(backend) as url:
        db.upgrade(url)
        engine = db.make_engine(url, pool_size=8)
        ledger = VERSIONS[version](db.session_factory(engine))
        ledger.inventory.sync(nodes(devices))
        ledger.policies.set("*", max_npus=8, max_npus_per_server=8, npu_hours=1e9, period="week")
        history(engine, records, users, seed=1)
        load = Load(ledger, users, seed=2)
        target = int(devices * 0.9)
        rng = random.Random(3)
        t0 = time.perf_counter()
        tries = 0
        while sum(a["npus"] for a in ledger.usage.active()) < target and tries < 5 * devices:
            for _ in range(50):
                load.allocate(rng)
            tries += 50
        fill_s = time.perf_counter() - t0
        for threads in (1, 4):
            load.alloc_s.clear()
            load.release_s.clear()
            load.refused = {"capacity": 0, "quota": 0}
            per = pairs // threads

            def work(seed: int, n: int = per) -> None:
                r = random.Random(seed)
                for _ in range(n):
                    load.release(r)
                    load.allocate(r)

            workers = [threading.Thread(target=work, args=(10 + i,)) for i in range(threads)]
            t0 = time.perf_counter()
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            elapsed = time.perf_counter() - t0
            held = sum(a["npus"] for a in ledger.usage.active())
            results.append(
                {
                    "backend": backend,
                    "ledger": version,
                    "clients": threads,
                    "pairs": per * threads,
                    "pairs/s": per * threads / elapsed,
                    "allocate p50 ms": statistics.median(load.alloc_s) * 1000,
                    "allocate p95 ms": pct(load.alloc_s, 0.95) * 1000,
                    "release p50 ms": statistics.median(load.release_s) * 1000,
                    "refused (capacity/quota)": f"{load.refused['capacity']}/"
                    f"{load.refused['quota']}",
                    "held at end": f"{held}/{devices}",
                    "fill s": fill_s,
                }
            )
        engine.dispose()
    return results


# ---------------------------------------------------------------- growth


def hold(engine, views: list[NodeView]) -> None:
    """Mark every device not free in `views` as held, one job allocation per node."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from npuhub.hub.orm import Node

    now = clock.utcnow()
    with db.transaction(db.session_factory(engine), write=True) as s:
        by_name = {n.name: n for n in s.scalars(select(Node).options(selectinload(Node.devices)))}
        for view in views:
            node = by_name[view.name]
            busy = [d for d in node.devices if d.index not in view.free]
            if not busy:
                continue
            alloc = Allocation(
                user=f"filler-{view.name}",
                account="filler",
                kind="job",
                holder=view.name,
                npus=len(busy),
                devices=[[view.name, d.index] for d in busy],
                started=now,
                state="active",
            )
            s.add(alloc)
            s.flush()
            for d in busy:
                d.allocation_id, d.since = alloc.id, now


def growth(sizes: list[int], calls: int) -> list[dict]:
    rows = []
    for devices in sizes:
        specs = nodes(devices)
        rng = random.Random(devices)
        views = []
        for spec in specs:
            indices = spec.indices
            free = frozenset(i for i in indices if rng.random() < 0.5)
            views.append(NodeView(spec.name, spec.type, spec.rings, free))
        place_us = {}
        for k in (1, 4):
            samples = []
            for _ in range(calls):
                t0 = time.perf_counter()
                place(views, k)
                samples.append(time.perf_counter() - t0)
            place_us[k] = statistics.median(samples) * 1e6
        with database("sqlite") as url:
            db.upgrade(url)
            engine = db.make_engine(url)
            Ledger(db.session_factory(engine)).inventory.sync(specs)
            hold(engine, views)
            alloc_ms = {v: [] for v in VERSIONS}
            release_ms = {v: [] for v in VERSIONS}
            for version, cls in VERSIONS.items():  # before first: it counts no versions
                ledger = cls(db.session_factory(engine))
                for n in range(max(20, calls // 10)):
                    t0 = time.perf_counter()
                    g = ledger.allocate(user=f"u{n}", groups=[], kind="server", holder="", npus=1)
                    t1 = time.perf_counter()
                    ledger.release(g.allocation_id)
                    t2 = time.perf_counter()
                    alloc_ms[version].append((t1 - t0) * 1000)
                    release_ms[version].append((t2 - t1) * 1000)
            engine.dispose()
        rows.append(
            {
                "devices": devices,
                "nodes": len(specs),
                "place 1 p50 us": place_us[1],
                "place 4 p50 us": place_us[4],
                "allocate p50 ms before": statistics.median(alloc_ms["before"]),
                "allocate p50 ms after": statistics.median(alloc_ms["after"]),
                "release p50 ms before": statistics.median(release_ms["before"]),
                "release p50 ms after": statistics.median(release_ms["after"]),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=2000, help="allocate+release pairs per run")
    p.add_argument("--users", type=int, default=10_000)
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--records", type=int, default=20_000, help="closed records this week")
    p.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    p.add_argument("--sizes", nargs="+", type=int, default=[10, 100, 1000, 10_000])
    p.add_argument("--calls", type=int, default=200, help="place() calls per size")
    args = p.parse_args(argv)

    rows = []
    for backend in args.backends:
        print(f"throughput on {backend} ...", file=sys.stderr, flush=True)
        for version in VERSIONS:
            rows += throughput(
                backend, version, args.pairs, args.users, args.devices, args.records
            )
    print(
        f"Allocate+release pairs: {args.devices} devices, {args.users} users in 100 accounts "
        f"with an NPU-hours budget, {args.records} earlier records, 90% held"
    )
    print(tabulate(rows, headers="keys", floatfmt=".1f"))
    print()
    print("growth ...", file=sys.stderr, flush=True)
    print("Placement as the cluster grows (half of the devices held)")
    print(tabulate(growth(args.sizes, args.calls), headers="keys", floatfmt=".1f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
