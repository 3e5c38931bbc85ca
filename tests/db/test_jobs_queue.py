"""The batch queue in the database (SQLite and PostgreSQL): submit, order, a job claimed
once and ended once under concurrency; the line's inputs (lineup) that scheduling.plan
reads (the charges of jobs are the ledger's: tests/db/test_ledger.py)."""

from __future__ import annotations

import threading

import pytest

from npuhub.hub import clock
from npuhub.hub.jobs import lineup
from npuhub.hub.jobs.queue import JobQueue, check_quota
from npuhub.hub.ledger import CapacityError, QuotaError
from npuhub.hub.scheduling import plan


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


# ---------------------------------------------------------------- the line's inputs


def hold(ledger, user, npus, devices, kind="server", holder=""):
    return ledger.allocate(
        user=user, groups=[], kind=kind, holder=holder, npus=npus, devices=devices
    )


def test_line_inputs_from_the_ledger_and_the_plan_over_them(queue, ledger, fake_clock):
    # ana's notebook holds sim 0-3 (no known end); bob's job holds n910 0-1 for at most 1 h
    hold(ledger, "ana", 4, [("sim", d) for d in range(4)])
    job = submit(queue, "bob", npus=2, time_limit=3600)
    assert queue.claim(job["id"])
    hold(ledger, "bob", 2, [("n910", 0), ("n910", 1)], kind="job", holder=str(job["id"]))
    assert queue.move(job["id"], ["starting"], "running", started=fake_clock.now)
    started = fake_clock.now.timestamp()
    fake_clock.advance(minutes=30)
    big = submit(queue, "cleo", npus=8, time_limit=7200, device_type="Ascend910B")
    fake_clock.advance(seconds=1)
    long_ = submit(queue, "dan", npus=4, time_limit=7200)
    fake_clock.advance(seconds=1)
    mid = submit(queue, "dan", npus=2, time_limit=3600)
    fake_clock.advance(seconds=1)
    short = submit(queue, "eve", npus=1, time_limit=600)
    snap = lineup.snapshot(
        ledger,
        queue.in_state(["queued"], "local"),
        queue.in_state(["starting", "running"], "local"),
        clock.utcnow(),
        7 * 86400,
    )
    assert snap.now == fake_clock.now.timestamp()
    assert {n.name: sorted(n.free) for n in snap.nodes} == {
        "n910": [2, 3, 4, 5, 6, 7],
        "sim": [4, 5, 6, 7],
    }
    ends = {r.account: (sorted(r.devices), r.ends) for r in snap.running}
    assert ends == {
        "ana": ([("sim", d) for d in range(4)], None),
        "bob": ([("n910", 0), ("n910", 1)], started + 3600),
    }
    assert [(r.id, r.npus, r.limit_s) for r in snap.waiting] == [
        (big["id"], 8, 7200.0),
        (long_["id"], 4, 7200.0),
        (mid["id"], 2, 3600.0),
        (short["id"], 1, 600.0),
    ]
    # 30 minutes of 4 and 2 NPUs, barely decayed (a week's half-life)
    assert snap.usage["ana"] == pytest.approx(4 * 1803, rel=2e-3)
    assert snap.usage["bob"] == pytest.approx(2 * 1803, rel=2e-3)
    # cleo's 8 need all of n910: reserved from the end of bob's job (in 30 min). dan's 4
    # run 2 h on sim, off the reservation; dan's 2 would run past it on n910: they wait;
    # eve's 1 ends in 10 min, before it, and backfills on n910
    starts = dict(plan(snap.now, snap.nodes, snap.waiting, snap.running, snap.usage))
    assert starts == {
        long_["id"]: [("sim", 4), ("sim", 5), ("sim", 6), ("sim", 7)],
        short["id"]: [("n910", 2)],
    }


def test_ledger_holds_the_devices_a_plan_chose(ledger):
    grant = hold(ledger, "ana", 2, [("n910", 6), ("n910", 7)], kind="job", holder="1")
    assert [d[:2] for d in grant.devices] == [("n910", 6), ("n910", 7)]
    with pytest.raises(CapacityError):  # already held
        hold(ledger, "bob", 1, [("n910", 7)], kind="job", holder="2")
    with pytest.raises(CapacityError):  # no such device
        hold(ledger, "bob", 1, [("nowhere", 0)], kind="job", holder="3")
    with pytest.raises(ValueError):
        hold(ledger, "bob", 2, [("n910", 0)], kind="job", holder="4")
    assert {n.name: len(n.free) for n in ledger.free_views()} == {"n910": 6, "sim": 8}


def test_model_matches_migration(db_engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from npuhub.hub.orm import Base

    def include(obj, name, type_, reflected, compare_to):
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is None or table.name == "jobs"

    with db_engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include}
        )
        assert compare_metadata(ctx, Base.metadata) == []
