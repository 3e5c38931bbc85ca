"""What operators see at a glance: devices with state, holder and since; the line of
waiting requests; users' own quota overrides (the operators' page and `npuhub devices`)."""

from __future__ import annotations

from npuhub.hub.jobs.queue import JobQueue
from npuhub.hub.reports import overview


def test_devices_states_holders_and_since(ledger, fake_clock):
    started = fake_clock()
    ledger.allocate(user="ana", groups=["lab"], account="lab", kind="server", holder="", npus=2)
    ledger.allocate(user="bob", groups=[], kind="job", holder="7", npus=1)
    ledger.inventory.drain("n910", 5)
    fake_clock.advance(minutes=90)
    with ledger.session_factory() as s:
        rows = overview.devices(s, fake_clock())
    held = [d for d in rows if d["state"] == "held"]
    assert sorted((d["holder"]["user"], d["holder"]["kind"]) for d in held) == [
        ("ana", "server"), ("ana", "server"), ("bob", "job")]
    assert all(d["since"] == started and d["held_seconds"] == 5400 for d in held)
    assert {overview.holder_label(d["holder"]) for d in held} == {"ana: server", "bob: job 7"}
    drained = [d for d in rows if d["state"] == "drained"]
    assert [(d["node"], d["index"], d["drain_reason"]) for d in drained] == [("n910", 5, "admin")]
    free = [d for d in rows if d["state"] == "free"]
    assert all(d["holder"] is None and d["since"] is None for d in free)
    assert overview.summary_line(d["state"] for d in rows) == "16 devices: 3 held, 12 free, 1 drained"
    assert [n for n, _ in overview.by_node(rows)] == ["n910", "sim"]

    # idleness, where the caller knows it, makes a held device idle-held
    idle = {(held[0]["node"], held[0]["index"]): 600.0}
    with ledger.session_factory() as s:
        rows = overview.devices(s, fake_clock(), idle=idle)
    assert [d["idle_seconds"] for d in rows if d["state"] == "idle-held"] == [600.0]
    assert "1 idle-held" in overview.summary_line(d["state"] for d in rows)


def test_the_line_lists_jobs_not_started_oldest_first(ledger, fake_clock):
    queue = JobQueue(ledger.session_factory)
    ids = []
    for user in ("ana", "bob", "cy"):
        ids.append(queue.submit(
            user=user, groups=[], account=user, name="t", source="t.py", npus=1,
            image="npuhub/base:latest", time_limit=60, backend="local",
        )["id"])  # fmt: skip
        fake_clock.advance(seconds=30)
    queue.claim(ids[2])
    queue.move(ids[2], ["starting"], "running", started=fake_clock(), reason="running")
    with ledger.session_factory() as s:
        line = overview.waiting_requests(s, fake_clock())
    assert [(w["kind"], w["id"], w["user"], w["npus"]) for w in line] == [
        ("job", str(ids[0]), "ana", 1), ("job", str(ids[1]), "bob", 1)]
    assert [w["waited_seconds"] for w in line] == [90, 60]


def test_the_line_lists_waiting_servers_beside_jobs_and_idle_reclaim_counts_them(
        ledger, fake_clock):
    from npuhub.hub.idle.watch import waiting_for_npus
    from npuhub.hub.line.store import Line

    queue = JobQueue(ledger.session_factory)
    job = queue.submit(
        user="ana", groups=[], account="ana", name="t", source="t.py", npus=2,
        image="npuhub/base:latest", time_limit=60, backend="local",
    )["id"]  # fmt: skip
    fake_clock.advance(seconds=30)
    line = Line(ledger.session_factory)
    line.join(user="bob", server="", groups=[], account="bob", npus=1, profile="base",
              limit_s=3600.0)
    fake_clock.advance(seconds=10)
    with ledger.session_factory() as s:
        waiting = overview.waiting_requests(s, fake_clock())
    assert [(w["kind"], w["user"], w["npus"]) for w in waiting] == [
        ("job", "ana", 2), ("server", "bob", 1)]
    assert waiting[0]["id"] == str(job)
    assert [w["waited_seconds"] for w in waiting] == [40, 10]
    assert waiting_for_npus(ledger.session_factory) == 2 == line.waiting_for_npus()


def test_user_overrides_are_listed(ledger):
    assert ledger.policies.users() == []
    ledger.policies.set_user("zoe", max_npus=8)
    ledger.policies.set_user("al", npu_hours=3.5, period="day")
    rows = ledger.policies.users()
    assert [(r["user"], r["max_npus"], r["npu_hours"], r["period"]) for r in rows] == [
        ("al", None, 3.5, "day"), ("zoe", 8, None, None)]


def test_a_dataset_mounted_during_a_session_joins_its_record(ledger):
    a = ledger.allocate(user="ana", groups=[], kind="server", holder="", npus=1)
    ledger.allocate(user="ana", groups=[], kind="job", holder="3", npus=1)
    assert ledger.usage.provenance("ana", "server", "") is None
    assert ledger.usage.set_provenance(a.allocation_id, {"kind": "session", "datasets": []})
    rs = {"name": "rs", "version": "2025.1", "mounted": "2026-12-06T10:00:00+00:00"}
    assert ledger.usage.note_dataset("ana", rs) == 1
    assert ledger.usage.note_dataset("ana", dict(rs, mounted="later")) == 0  # known already
    assert ledger.usage.note_dataset("bob", rs) == 0
    assert ledger.usage.provenance("ana", "server", "")["datasets"] == [rs]
    ledger.release(a.allocation_id)
    assert ledger.usage.provenance("ana", "server", "") is None  # only running sessions
    assert not ledger.usage.set_provenance(a.allocation_id, {"kind": "session"})
