"""The batch queue in the database (SQLite and PostgreSQL): submit, order, a job claimed
once and ended once under concurrency; and the scheduling pass (the charges of jobs are
the ledger's: tests/db/test_ledger.py)."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest

from npuhub.hub.jobs.common import run_pass
from npuhub.hub.jobs.models import Job
from npuhub.hub.jobs.queue import JobQueue, check_quota
from npuhub.hub.ledger import QuotaError


@pytest.fixture
def queue(ledger):
    return JobQueue(ledger.session_factory)


def submit(queue, user="ana", npus=1, priority=0, **kw) -> dict:
    fields = dict(
        user=user, groups=[], account=user, name="t", source="t.ipynb", npus=npus,
        image="npuhub/base:latest", time_limit=60, backend="local", priority=priority,
    )  # fmt: skip
    fields.update(kw)
    return queue.submit(**fields)


def test_submit_list_get(queue, fake_clock):
    a = submit(queue, "ana")
    fake_clock.advance(seconds=1)
    b = submit(queue, "bob", parameters={"lr": 0.1})
    assert (
        a["state"] == "queued" and a["phase"] == "queued" and a["output_dir"] == f"jobs/{a['id']}"
    )
    assert [j["id"] for j in queue.list()] == [b["id"], a["id"]]
    assert [j["id"] for j in queue.list("ana")] == [a["id"]]
    assert queue.get(b["id"]).parameters == {"lr": 0.1}
    assert queue.get(12345) is None
    assert queue.active_count("ana") == 1


def test_order_priority_then_submission(queue, fake_clock):
    ids = []
    for prio in (0, 5, 0, 5):
        ids.append(submit(queue, priority=prio)["id"])
        fake_clock.advance(seconds=1)
    order = [j.id for j in queue.in_state(["queued"], "local")]
    assert order == [ids[1], ids[3], ids[0], ids[2]]


def test_states_move_forward_once(queue):
    job = submit(queue)
    assert queue.claim(job["id"]) and not queue.claim(job["id"])
    assert queue.get(job["id"]).as_dict()["state"] == "queued"  # starting shows as queued
    assert queue.move(job["id"], ["starting"], "running", reason="running")
    assert queue.finish(job["id"], "succeeded", "completed", 0)
    assert not queue.finish(job["id"], "failed", "late")
    got = queue.get(job["id"])
    assert (got.state, got.reason, got.exit_code) == ("succeeded", "completed", 0)
    assert got.finished is not None
    with pytest.raises(ValueError):
        queue.finish(job["id"], "running", "no")


@pytest.mark.parametrize("what", ["claim", "finish"])
def test_one_winner_among_threads(queue, what):
    job = submit(queue)
    if what == "finish":
        queue.claim(job["id"])
    wins = []
    barrier = threading.Barrier(8)

    def race(i):
        barrier.wait()
        ok = (
            queue.claim(job["id"]) if what == "claim" else queue.finish(job["id"], "failed", str(i))
        )
        if ok:
            wins.append(i)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1


def test_quota_at_submit_and_at_start(ledger):
    ledger.allocate(user="ana", groups=[], kind="server", holder="", npus=4)
    # at submit: only what can never fit
    assert check_quota(ledger, user="ana", groups=[], account=None, npus=2, holding=False) == "ana"
    with pytest.raises(QuotaError, match="at most 4 per server"):
        check_quota(ledger, user="ana", groups=[], account=None, npus=5, holding=False)
    # at start: what the user holds counts
    with pytest.raises(QuotaError, match="You already hold 4 of your 4 NPUs"):
        check_quota(ledger, user="ana", groups=[], account=None, npus=1)
    # Slurm jobs handed to sbatch but not started hold nothing yet, and still count
    with pytest.raises(QuotaError, match="You already hold 4 of your 4 NPUs"):
        check_quota(ledger, user="bob", groups=[], account=None, npus=1, pending=(4, 4))
    ledger.policies.set("lab", npu_hours=0)
    with pytest.raises(QuotaError, match="Group lab has used 0 of 0 NPU-hours"):
        check_quota(ledger, user="bob", groups=["lab"], account=None, npus=1, holding=False)


# ---------------------------------------------------------------- the scheduling pass


def jobs(*specs, now):
    """(npus, minutes waited) → Jobs in queue order."""
    return [
        Job(id=i + 1, npus=n, created=now - timedelta(minutes=m)) for i, (n, m) in enumerate(specs)
    ]


def run(queue_jobs, free: int, now, starve=timedelta(minutes=30)):
    asked = []

    async def try_start(job):
        nonlocal free
        asked.append(job.id)
        if job.npus <= free:
            free -= job.npus
            return "started"
        return "capacity"

    outcome = asyncio.run(run_pass(queue_jobs, now, starve, try_start))
    return outcome, asked


def test_pass_backfills_smaller_jobs(fake_clock):
    now = fake_clock.now
    outcome, asked = run(jobs((4, 1), (8, 1), (2, 1), (1, 1), now=now), free=3, now=now)
    assert outcome == {1: "capacity", 2: "capacity", 3: "started", 4: "started"}
    assert asked == [1, 3, 4]  # the 8 is not asked once a 4 was refused


def test_pass_no_backfill_past_a_starving_job(fake_clock):
    now = fake_clock.now
    queue_jobs = jobs((4, 45), (1, 1), (0, 1), (2, 1), now=now)
    outcome, asked = run(queue_jobs, free=3, now=now)
    assert outcome == {1: "capacity", 2: "blocked", 3: "started", 4: "blocked"}
    assert asked == [1, 3]  # a CPU-only job takes no NPU from it and may pass
    # once enough is free, it starts first
    outcome, _ = run(queue_jobs, free=5, now=now)
    assert outcome == {1: "started", 2: "started", 3: "started", 4: "capacity"}


def test_model_matches_migration(db_engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from npuhub.hub.orm import Base

    def include(obj, name, type_, reflected, compare_to):
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is None or table.name == "jobs"

    with db_engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include})
        assert compare_metadata(ctx, Base.metadata) == []
