"""A user's job limits (SQLite and PostgreSQL): queued and running jobs at once, and of
them jobs without NPUs (CPU only), checked in the transaction that inserts the job, so a
burst of submissions at once never passes the limit."""

from __future__ import annotations

import threading

import pytest

from npuhub.hub.jobs.queue import JobQueue
from npuhub.hub.refusals import Refusal


@pytest.fixture
def queue(ledger):
    return JobQueue(ledger.session_factory)


def submit(queue, user="ana", npus=0, max_active=20, max_cpu=4) -> dict:
    return queue.submit(
        user=user, groups=[], account=user, name="t", source="t.ipynb", npus=npus,
        image="npuhub/base:latest", time_limit=60, backend="local",
        max_active=max_active, max_cpu=max_cpu,
    )  # fmt: skip


def test_the_fifth_cpu_job_is_refused(queue):
    ids = [submit(queue)["id"] for _ in range(4)]
    with pytest.raises(Refusal) as e:
        submit(queue)
    assert e.value.code == "too_many_cpu_jobs" and e.value.status == 429
    assert e.value.params["active"] == 4
    submit(queue, npus=1)  # a job with NPUs is not a CPU job
    submit(queue, user="bob")  # nor is another user's
    assert queue.finish(ids[0], "cancelled", "cancelled by ana")
    submit(queue)  # one ended: room for one more


def test_all_jobs_limit(queue):
    submit(queue, npus=1, max_active=2)
    submit(queue, npus=0, max_active=2)
    with pytest.raises(Refusal) as e:
        submit(queue, npus=1, max_active=2)
    assert e.value.code == "too_many_jobs" and e.value.params["active"] == 2


@pytest.mark.parametrize("npus", [0, 1])
def test_a_burst_never_passes_the_limit(queue, npus):
    """12 threads submit at once; exactly the limit's worth are queued."""
    n, limit = 12, 4
    barrier = threading.Barrier(n)
    queued, refused, errors = [], [], []

    def one():
        barrier.wait()
        try:
            queued.append(submit(queue, npus=npus, max_active=limit if npus else 20)["id"])
        except Refusal as r:
            refused.append(r.code)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(queued) == limit and len(refused) == n - limit
    assert set(refused) == {"too_many_cpu_jobs" if npus == 0 else "too_many_jobs"}
    assert queue.active_count("ana") == limit


def test_cpu_hours_of_the_period_count_ended_and_running_jobs(queue, monkeypatch):
    """2 cores per job, 10 CPU-hours a week per user, 12 for the account lab-x: what ran
    last week does not count, a running job counts up to now."""
    from datetime import datetime, timedelta

    from npuhub.hub import clock
    from npuhub.hub.jobs.cpu_hours import CpuBudget

    monday = datetime.fromisoformat("2026-11-30T00:00:00+00:00")
    now = monday + timedelta(days=2)
    monkeypatch.setattr(clock, "utcnow", lambda: now)
    budget = CpuBudget(cores=2, per_user=10, per_account={"lab-x": 12}, period="week")

    def run(user, account, start, hours, running=False):
        job = queue.submit(user=user, groups=[account], account=account, name="t",
                           source="t.py", npus=0, image="npuhub/base:latest", time_limit=60,
                           backend="local", cpu_budget=budget)
        queue.move(job["id"], ["queued"], "running", started=start)
        if not running:
            queue.move(job["id"], ["running"], "succeeded", finished=start + hours)

    # last week's 50 hours are gone; this week: 1 h (2 CPU-h) from Sunday's job, 3 h
    run("ana", "lab-x", monday - timedelta(hours=1), timedelta(hours=2))
    run("ana", "lab-x", monday - timedelta(days=3), timedelta(hours=50))
    run("ana", "lab-x", monday + timedelta(hours=1), timedelta(hours=3))
    # 8 CPU-hours so far: one more may be queued; it runs for 1 h up to now (2 more)
    run("ana", "lab-x", now - timedelta(hours=1), None, running=True)
    with pytest.raises(Refusal) as e:
        run("ana", "lab-x", now, timedelta(hours=1))
    assert e.value.code == "cpu_hours_spent" and e.value.status == 429
    assert e.value.params == {"name": "ana", "used": 10.0, "limit": 10, "period": "week"}
    assert e.value.message("en") == (
        "ana has used 10 of 10 CPU-hours of jobs without NPUs this week")
    assert "CPU 小时" in e.value.message("zh_CN")
    # the account: ana's 10 and bob's 2 make 12
    run("bob", "lab-x", monday, timedelta(hours=1))
    with pytest.raises(Refusal) as e:
        run("cai", "lab-x", now, timedelta(hours=1))
    assert e.value.params["name"] == "lab-x" and e.value.params["used"] == 12.0
    run("cai", "cai", now, timedelta(hours=1))  # on their own account: their own hours
    # a job with NPUs is charged in NPU-hours, not here
    queue.submit(user="ana", groups=[], account="lab-x", name="t", source="t.py", npus=1,
                 image="npuhub/base:latest", time_limit=60, backend="local", cpu_budget=budget)
