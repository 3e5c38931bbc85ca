"""The platform's Prometheus metrics, collected from the database at scrape time."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from npuhub.hub.jobs.queue import JobQueue
from npuhub.hub.reports.metrics import device_state, exposition, histogram, registry


def scrape(ledger) -> dict:
    """{(sample name, frozenset(labels)): value} of one scrape."""
    text = exposition(registry(ledger.session_factory)).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


def test_device_state():
    assert device_state("available", None) == "free"
    assert device_state("available", 3) == "held"
    assert device_state("drained", None) == "drained"
    assert device_state("drained", 3) == "held"  # held until released


def test_histogram_is_cumulative():
    rows, total = histogram([0.5, 7, 7, 4000], buckets=(1, 10, 3600))
    assert rows == [("1.0", 1), ("10.0", 3), ("3600.0", 3), ("+Inf", 4)]
    assert total == 4014.5


def test_scrape_devices_allocations_jobs_and_hours(ledger, fake_clock):
    ledger.allocate(user="ana", groups=["lab"], account="lab", kind="server", holder="", npus=2)
    ledger.allocate(user="bob", groups=[], kind="job", holder="7", npus=1)
    ledger.inventory.drain("n910", 5)
    queue = JobQueue(ledger.session_factory)
    job = queue.submit(
        user="bob", groups=[], account="bob", name="t", source="t.py", npus=1,
        image="npuhub/base:latest", time_limit=60, backend="local",
    )  # fmt: skip
    queue.claim(job["id"])
    fake_clock.advance(seconds=42)
    queue.move(job["id"], ["starting"], "running", started=fake_clock(), reason="running")
    fake_clock.advance(hours=1, seconds=-42)

    m = scrape(ledger)
    held = sum(value(m, "npuhub_devices", node=n, state="held") for n in ("sim", "n910"))
    assert held == 3
    assert value(m, "npuhub_devices", node="n910", state="drained") == 1
    free = sum(value(m, "npuhub_devices", node=n, state="free") for n in ("sim", "n910"))
    assert free == 16 - 3 - 1
    assert value(m, "npuhub_allocations", kind="server", account="lab") == 1
    assert value(m, "npuhub_allocations", kind="job", account="bob") == 1
    assert value(m, "npuhub_allocated_npus", kind="server", account="lab") == 2
    assert value(m, "npuhub_jobs", state="running") == 1
    assert value(m, "npuhub_jobs", state="queued") == 0
    assert abs(value(m, "npuhub_npu_hours_total", account="lab") - 2.0) < 1e-6
    assert abs(value(m, "npuhub_npu_hours_total", account="bob") - 1.0) < 1e-6
    assert value(m, "npuhub_job_start_duration_seconds_count") == 1
    assert value(m, "npuhub_job_start_duration_seconds_sum") == 42
    assert value(m, "npuhub_job_start_duration_seconds_bucket", le="30.0") == 0
    assert value(m, "npuhub_job_start_duration_seconds_bucket", le="60.0") == 1

    # the counter grows while NPUs are held, and keeps its value once released
    fake_clock.advance(hours=1)
    assert abs(value(scrape(ledger), "npuhub_npu_hours_total", account="lab") - 4.0) < 1e-6
    server = ledger.usage.active(user="ana")[0]["id"]
    ledger.release(server)
    fake_clock.advance(hours=3)
    m = scrape(ledger)
    assert abs(value(m, "npuhub_npu_hours_total", account="lab") - 4.0) < 1e-6
    assert ("npuhub_allocations", frozenset({("kind", "server"), ("account", "lab")})) not in m


def test_dashboard_queries_only_metrics_the_platform_exposes(ledger):
    import json
    import re
    from pathlib import Path

    dash = json.loads((Path(__file__).parents[2] / "grafana" / "npuhub.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\bnpuhub_[a-z_]+", e)}
    ledger.allocate(user="ana", groups=[], kind="server", holder="", npus=1)
    exposed = {name for name, _ in scrape(ledger)}
    assert used and used <= exposed, used - exposed
    assert dash["templating"]["list"][0]["name"] == "PROMETHEUS_DS"


def test_scrape_the_line(ledger, fake_clock):
    queue = JobQueue(ledger.session_factory)
    for user in ("ana", "bob"):
        queue.submit(
            user=user, groups=[], account=user, name="t", source="t.py", npus=1,
            image="npuhub/base:latest", time_limit=60, backend="local",
        )  # fmt: skip
        fake_clock.advance(seconds=20)
    m = scrape(ledger)
    assert value(m, "npuhub_line_length", kind="job") == 2
    assert value(m, "npuhub_line_wait_seconds_count") == 2
    assert value(m, "npuhub_line_wait_seconds_sum") == 40 + 20
    assert value(m, "npuhub_line_wait_seconds_bucket", le="30.0") == 1
