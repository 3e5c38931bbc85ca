"""Prometheus metrics of the platform, read from the database at scrape time.

A custom collector (as prometheus_client documents for "metrics from another system"):
each scrape runs a few aggregate queries and yields metric families, so the numbers are
always the ledger's and nothing is kept in parallel. Names follow JupyterHub's own
(``jupyterhub_…`` → ``npuhub_…``, base units, ``_total`` for counters).
Spawn durations are JupyterHub's (``jupyterhub_server_spawn_duration_seconds`` at
/hub/metrics); the platform adds its own jobs' waits and starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from npuhub.hub import clock
from npuhub.hub.idle.models import idle_devices, reclaimed
from npuhub.hub.jobs.models import STATES, Job
from npuhub.hub.orm import Allocation, Device, Node

from .overview import device_state, waiting_requests

DEVICE_STATES = ("free", "held", "drained")
# seconds from submission to start (queue wait) of batch jobs
WAIT_BUCKETS = (1, 5, 10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86400)


def hours_by_account(s: Session, now: datetime) -> dict[str, float]:
    """NPU-hours charged to each account since its first record, open records until
    `now` (grows with time: a Prometheus counter)."""
    out: dict[str, float] = {}
    q = select(Allocation.account, Allocation.started, Allocation.ended, Allocation.npus).where(
        Allocation.npus > 0
    )
    for account, started, ended, npus in s.execute(q):
        seconds = max(((ended or now) - started).total_seconds(), 0.0)
        out[account] = out.get(account, 0.0) + seconds / 3600 * npus
    return out


def histogram(values: list[float], buckets=WAIT_BUCKETS) -> tuple[list, float]:
    """Cumulative Prometheus buckets [(le, count), …, ("+Inf", n)] and the sum."""
    rows = [(str(float(le)), sum(v <= le for v in values)) for le in buckets]
    rows.append(("+Inf", len(values)))
    return rows, float(sum(values))


class PlatformCollector:
    """Yields the platform's metric families from one read transaction per scrape."""

    def __init__(self, session_factory):
        self.session_factory = session_factory

    def describe(self):  # no metric is created at registration time (no query then)
        return []

    def collect(self) -> Iterator:
        now = clock.utcnow()
        with self.session_factory() as s:
            yield from self._devices(s)
            yield from self._allocations(s)
            yield from self._jobs(s)
            yield from self._line(s, now)
            yield from self._reclaimed(s)
            hours = CounterMetricFamily(
                "npuhub_npu_hours",
                "NPU-hours charged to each account (open records count until now)",
                labels=["account"],
            )
            for account, value in sorted(hours_by_account(s, now).items()):
                hours.add_metric([account], value)
            yield hours

    def _devices(self, s: Session):
        g = GaugeMetricFamily(
            "npuhub_devices",
            "NPUs by node and state (free, held, drained)",
            labels=["node", "state"],
        )
        counts: dict[tuple[str, str], int] = {}
        q = select(Node.name, Device.state, Device.allocation_id).join(Node)
        for node, state, alloc in s.execute(q):
            counts.setdefault((node, "free"), 0)
            key = (node, device_state(state, alloc))
            counts[key] = counts.get(key, 0) + 1
        for node in sorted({n for n, _ in counts}):
            for state in DEVICE_STATES:
                g.add_metric([node, state], counts.get((node, state), 0))
        yield g
        idle = GaugeMetricFamily(
            "npuhub_idle_held_npus",
            "Of the held NPUs, those of servers whose NPUs read idle (below "
            "c.NPUHub.npu_idle_threshold), by node",
            labels=["node"],
        )
        by_node: dict[str, int] = dict.fromkeys(sorted({n for n, _ in counts}), 0)
        for node, _ in idle_devices(s, clock.utcnow()):
            by_node[node] = by_node.get(node, 0) + 1
        for node, n in sorted(by_node.items()):
            idle.add_metric([node], n)
        yield idle

    def _allocations(self, s: Session):
        count = GaugeMetricFamily(
            "npuhub_allocations",
            "Open allocations by kind (server, job) and account",
            labels=["kind", "account"],
        )
        npus = GaugeMetricFamily(
            "npuhub_allocated_npus",
            "NPUs held by open allocations, by kind and account",
            labels=["kind", "account"],
        )
        q = (
            select(Allocation.kind, Allocation.account, func.count(), func.sum(Allocation.npus))
            .where(Allocation.state == "active")
            .group_by(Allocation.kind, Allocation.account)
            .order_by(Allocation.kind, Allocation.account)
        )
        for kind, account, n, held in s.execute(q):
            count.add_metric([kind, account], n)
            npus.add_metric([kind, account], held or 0)
        yield count
        yield npus

    def _reclaimed(self, s: Session):
        r = reclaimed(s)
        npus = CounterMetricFamily(
            "npuhub_reclaimed_npus",
            "NPUs taken back from servers stopped because their NPUs stayed idle, by account",
            labels=["account"],
        )
        for account, n in sorted(r["by_account"].items()):
            npus.add_metric([account], n)
        yield npus
        yield CounterMetricFamily(
            "npuhub_reclaimed_servers",
            "Servers stopped because their NPUs stayed idle",
            value=r["servers"],
        )
        yield CounterMetricFamily(
            "npuhub_idle_npu_hours",
            "NPU-hours that servers stopped for idle NPUs had held idle until the stop",
            value=r["idle_npu_hours"],
        )

    def _jobs(self, s: Session):
        g = GaugeMetricFamily("npuhub_jobs", "Batch jobs by state", labels=["state"])
        counts = dict(s.execute(select(Job.state, func.count()).group_by(Job.state)).all())
        for state in STATES:
            g.add_metric([state], counts.get(state, 0))
        yield g
        waits = [
            (started - created).total_seconds()
            for created, started in s.execute(
                select(Job.created, Job.started).where(Job.started.is_not(None))
            )
        ]
        buckets, total = histogram([max(w, 0.0) for w in waits])
        yield HistogramMetricFamily(
            "npuhub_job_start_duration_seconds",
            "Seconds from a batch job's submission to its start (its wait in the queue)",
            buckets=buckets,
            sum_value=total,
        )


    def _line(self, s: Session, now: datetime):
        waiting = waiting_requests(s, now)
        g = GaugeMetricFamily(
            "npuhub_line_length", "Requests waiting in the line, by kind", labels=["kind"]
        )
        kinds = sorted({w["kind"] for w in waiting} | {"job"})
        for kind in kinds:
            g.add_metric([kind], sum(w["kind"] == kind for w in waiting))
        yield g
        buckets, total = histogram([w["waited_seconds"] for w in waiting])
        yield HistogramMetricFamily(
            "npuhub_line_wait_seconds",
            "How long each request in the line now has waited so far",
            buckets=buckets,
            sum_value=total,
        )


def registry(session_factory) -> CollectorRegistry:
    """A registry of its own (no global state) holding the platform collector."""
    r = CollectorRegistry(auto_describe=False)
    r.register(PlatformCollector(session_factory))
    return r


def exposition(reg: CollectorRegistry) -> bytes:
    """The text exposition format of a scrape (runs the queries: call off the loop)."""
    return generate_latest(reg)
