"""The NPU ledger on SQLite and PostgreSQL: grants, usage records, drains, inventory,
reconciliation, refusals, and no device ever held twice under concurrency."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from npuhub.hub import db
from npuhub.hub.ledger import (
    CapacityError,
    Grant,
    Ledger,
    LedgerError,
    NodeSpec,
    QuotaError,
    free,
)
from npuhub.hub.orm import Allocation, Device
from tests.conftest_db import simulated_inventory


def alloc(ledger, user="ana", npus=1, groups=(), holder="", kind="server", **kw) -> Grant:
    return ledger.allocate(
        user=user, groups=list(groups), kind=kind, holder=holder, npus=npus, **kw
    )


def held(ledger) -> dict[tuple[str, int], dict]:
    return {(d["node"], d["index"]): d["holder"] for d in ledger.inventory.devices() if d["holder"]}


# ---------------------------------------------------------------- schema


def test_migrations_are_idempotent_and_concurrent(db_url):
    errors = []

    def up():
        try:
            db.upgrade(db_url)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=up) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db.upgrade(db_url)
    assert db.current_heads(db_url) == db.script_heads()


def test_model_matches_migrations(db_engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from npuhub.hub import orm

    ledger_tables = {
        "nodes", "devices", "allocations", "quota_policies", "user_quotas", "ledger_state"
    }

    def include_name(name, type_, parent_names):
        if type_ == "schema":
            return True
        if type_ == "table":
            return name in ledger_tables
        return parent_names.get("table_name", name) in ledger_tables

    def include_object(obj, name, type_, reflected, compare_to):
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in ledger_tables

    with db_engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": include_name,
                "include_object": include_object,
            },
        )
        assert compare_metadata(ctx, orm.Base.metadata) == []


# ---------------------------------------------------------------- grants


def test_allocate_and_release(ledger, fake_clock, tmp_path):
    grant = alloc(ledger, "ana", npus=2, device_type="simulated")
    assert grant.account == "ana"  # in no group: a personal account
    assert grant.devices == (
        ("sim", 0, f"{tmp_path}/devices/davinci0"),
        ("sim", 1, f"{tmp_path}/devices/davinci1"),
    )
    holder = {
        "user": "ana",
        "kind": "server",
        "holder": "",
        "account": "ana",
        "allocation_id": grant.allocation_id,
    }
    assert held(ledger) == {("sim", 0): holder, ("sim", 1): holder}
    [record] = ledger.usage.active()
    assert record["npus"] == 2 and record["devices"] == [["sim", 0], ["sim", 1]]
    assert record["started"] == fake_clock.now and record["ended"] is None

    fake_clock.advance(minutes=30)
    assert ledger.release(grant.allocation_id) is True
    assert ledger.release(grant.allocation_id) is False  # idempotent
    assert ledger.release(999_999) is False
    assert held(ledger) == {}
    assert ledger.usage.active() == []
    closed = ledger.usage.allocation(grant.allocation_id)
    assert (closed["state"], closed["reason"], closed["ended"]) == (
        "released",
        "stopped",
        fake_clock.now,
    )
    since = {(d["node"], d["index"]): d["since"] for d in ledger.inventory.devices()}
    assert since[("sim", 0)] == fake_clock.now


def test_grants_are_distinct_and_ring_aware(ledger):
    a = alloc(ledger, "ana", npus=4, device_type="simulated")
    b = alloc(ledger, "ben", npus=4, device_type="simulated")
    assert [d[:2] for d in a.devices] == [("sim", i) for i in range(4)]
    assert [d[:2] for d in b.devices] == [("sim", i) for i in range(4, 8)]
    with pytest.raises(CapacityError) as e:
        alloc(ledger, "cy", npus=1, device_type="simulated")
    assert str(e.value) == "All 8 simulated NPUs are in use"
    # the other node still has room, for any type
    c = alloc(ledger, "cy", npus=1)
    assert c.devices == (("n910", 0, "/dev/davinci0"),)


def test_zero_npus_is_a_record_without_devices(ledger):
    grant = alloc(ledger, "ana", npus=0)
    assert grant.devices == ()
    assert ledger.usage.active()[0]["npus"] == 0


def test_same_holder_again_replaces_the_old_allocation(ledger):
    first = alloc(ledger, "ana", npus=2, holder="gpu")
    second = alloc(ledger, "ana", npus=1, holder="gpu")
    assert [a["id"] for a in ledger.usage.active()] == [second.allocation_id]
    assert ledger.usage.allocation(first.allocation_id)["reason"] == "replaced"
    # a refused request leaves the old allocation alone (one transaction)
    with pytest.raises(QuotaError):
        alloc(ledger, "ana", npus=5, holder="gpu")
    assert [a["id"] for a in ledger.usage.active()] == [second.allocation_id]


def test_compare_and_set_belt(ledger, monkeypatch):
    """Even on a stale view that shows a held device as free, the grant is refused and
    nothing is recorded."""
    alloc(ledger, "ana", npus=1, device_type="simulated")  # holds sim:0
    with db.session_factory(ledger.session_factory.kw["bind"])() as s:
        sim0 = s.scalar(
            select(Device.id).where(Device.index == 0, Device.allocation_id.is_not(None))
        )
    real_load = free.load

    def stale_load(conn, topology, holdings):  # shows the held sim:0 as free
        return real_load(conn, topology, holdings).returned([sim0])

    monkeypatch.setattr(free, "load", stale_load)
    with pytest.raises(CapacityError):  # a ledger that remembers nothing reads the devices
        alloc(Ledger(ledger.session_factory), "ben", npus=1, device_type="simulated")
    assert [a["user"] for a in ledger.usage.active()] == ["ana"]
    # and a proposal of a device that is not free at all is refused as well
    monkeypatch.setattr("npuhub.hub.placement.place", lambda *a, **k: [("sim", 0)])
    monkeypatch.setattr(free, "load", real_load)
    with pytest.raises(CapacityError):
        alloc(ledger, "ben", npus=1)
    assert [a["user"] for a in ledger.usage.active()] == ["ana"]


def test_unknown_kind_is_a_programming_error(ledger):
    with pytest.raises(ValueError, match="kind must be one of server, job"):
        alloc(ledger, kind="notebook")


# ---------------------------------------------------------------- usage records


def test_npu_hours_from_records(ledger, fake_clock):
    # Wednesday 10:00
    a = alloc(ledger, "ana", npus=2, groups=["lab"])
    fake_clock.advance(hours=3)
    b = alloc(ledger, "ben", npus=1, groups=["lab"], kind="job", holder="17")
    fake_clock.advance(hours=1)  # 14:00: ana 2*4 = 8, ben 1*1 = 1, both open
    u = ledger.usage.report(account="lab")
    assert u["npu_hours"] == pytest.approx(9.0)
    assert u["by_user"] == pytest.approx({"ana": 8.0, "ben": 1.0})
    assert u["active_npus"] == 3
    assert (u["start"], u["end"]) == ("2025-03-03T00:00:00+00:00", "2025-03-10T00:00:00+00:00")
    ledger.release(a.allocation_id)
    fake_clock.advance(hours=2)  # closed records stop counting, open ones go on
    assert ledger.usage.report(account="lab")["npu_hours"] == pytest.approx(11.0)
    assert ledger.usage.report(user="ben")["npu_hours"] == pytest.approx(3.0)
    assert ledger.usage.report(account="lab", period="day")["npu_hours"] == pytest.approx(11.0)
    ledger.release(b.allocation_id, reason="crashed")
    assert ledger.usage.report()["by_account"] == pytest.approx({"lab": 11.0})


def test_hours_are_cut_at_the_period_start(ledger, fake_clock):
    fake_clock.set(datetime(2025, 3, 9, 22, 0, tzinfo=UTC))  # Sunday 22:00
    grant = alloc(ledger, "ana", npus=1)
    fake_clock.advance(hours=5)  # Monday 03:00: a new week
    assert ledger.usage.report(account="ana")["npu_hours"] == pytest.approx(3.0)
    assert ledger.usage.report(account="ana", period="month")["npu_hours"] == pytest.approx(5.0)
    last_week = ledger.usage.report(account="ana", now=datetime(2025, 3, 9, 23, 0, tzinfo=UTC))
    assert last_week["npu_hours"] == pytest.approx(1.0)
    ledger.release(grant.allocation_id)


def test_budget_refuses_once_used_up(ledger, fake_clock):
    ledger.policies.set("cs101", npu_hours=10, group_max_npus=16, max_npus=2)
    grant = alloc(ledger, "ana", npus=2, groups=["cs101"])
    fake_clock.advance(hours=5)
    with pytest.raises(QuotaError) as e:
        alloc(ledger, "ben", npus=1, groups=["cs101"])
    assert str(e.value) == (
        "Group cs101 has used 10 of 10 NPU-hours this week; the budget resets Monday 00:00 UTC"
    )
    ledger.release(grant.allocation_id, reason="budget")
    fake_clock.set(datetime(2025, 3, 10, 0, 0, tzinfo=UTC))  # Monday: a new budget
    alloc(ledger, "ben", npus=1, groups=["cs101"])
    u = ledger.usage.report(account="cs101")
    assert (u["budget_npu_hours"], u["remaining_npu_hours"]) == (10.0, 10.0)


def test_member_share_stops_one_member_not_the_others(ledger, fake_clock):
    ledger.policies.set("cs101", npu_hours=30, npu_hours_per_member=3)
    grant = alloc(ledger, "ana", npus=2, groups=["cs101"])
    other = alloc(ledger, "ana", npus=1, groups=["lab"], holder="research")  # not cs101's
    fake_clock.advance(hours=2)  # ana: 4 NPU-hours in cs101, 2 in lab
    ledger.release(grant.allocation_id)
    ledger.release(other.allocation_id)
    with pytest.raises(QuotaError) as e:
        alloc(ledger, "ana", npus=1, groups=["cs101"])
    assert str(e.value).startswith("You have used 4 of your 3 NPU-hours in cs101 this week")
    _, limits, held = ledger.policies.limits_for("ana", ["cs101"])
    assert held.member_hours == pytest.approx(4.0) and limits.npu_hours_per_member == 3
    alloc(ledger, "ben", npus=1, groups=["cs101"])  # the group still has hours for ben
    alloc(ledger, "ana", npus=0, groups=["cs101"], holder="cpu")  # and ana can use a CPU


# ---------------------------------------------------------------- quotas and accounts


def test_default_policy_refusals(ledger):
    with pytest.raises(QuotaError) as e:
        alloc(ledger, "ana", npus=6)
    assert str(e.value) == "You asked for 6 NPUs; at most 4 per server are allowed for your account"
    alloc(ledger, "ana", npus=3, holder="a")
    with pytest.raises(QuotaError) as e:
        alloc(ledger, "ana", npus=2, holder="b")
    assert str(e.value) == "You hold 3 of your 4 NPUs and asked for 2: at most 1 more"
    alloc(ledger, "ana", npus=1, holder="b")
    with pytest.raises(QuotaError) as e:
        alloc(ledger, "ana", npus=1, holder="c")
    assert str(e.value) == "You already hold 4 of your 4 NPUs"


def test_group_policy_account_and_user_override(ledger):
    ledger.policies.set("cs101", group_max_npus=3, max_npus=2, max_npus_per_server=2)
    with pytest.raises(QuotaError) as e:
        alloc(ledger, "ana", groups=["cs101", "lab"])
    assert str(e.value) == "You are in several groups; choose the account to charge: cs101, lab"
    with pytest.raises(QuotaError) as e:
        alloc(ledger, "ana", groups=["cs101", "lab"], account="physics")
    assert str(e.value) == "physics is not one of your accounts: cs101, lab"
    assert alloc(ledger, "ana", groups=["cs101", "lab"], account="cs101").account == "cs101"
    alloc(ledger, "ben", npus=2, groups=["cs101"])
    with pytest.raises(QuotaError) as e:
        alloc(ledger, "cy", npus=1, groups=["cs101"])
    assert str(e.value) == "Group cs101 holds 3 of its 3 NPUs"
    # the lab has no policy of its own: the default applies there
    assert alloc(ledger, "cy", npus=4, groups=["lab"]).account == "lab"
    ledger.policies.set_user("dee", max_npus_per_server=1)
    with pytest.raises(QuotaError) as e:
        alloc(ledger, "dee", npus=2)
    assert str(e.value) == "You asked for 2 NPUs; at most 1 per server is allowed for your account"


def test_profiles_of_a_group(ledger):
    ledger.policies.set("cs101", profiles=["cs101-env"])
    alloc(ledger, "ana", groups=["cs101"], profile="cs101-env")
    with pytest.raises(QuotaError) as e:
        alloc(ledger, "ben", groups=["cs101"], profile="torch")
    assert str(e.value) == "Profile torch is not available to cs101; allowed: cs101-env"


def test_policies_are_stored_and_merged(ledger):
    assert ledger.policies.get("cs101") is None
    assert ledger.policies.all() == [
        {
            "group": "*",
            "max_npus_per_server": 4,
            "max_npus": 4,
            "group_max_npus": None,
            "npu_hours": None,
            "npu_hours_per_member": None,
            "period": "week",
            "max_session_hours": None,
            "profiles": None,
            "updated": None,
        }
    ]
    ledger.policies.set("cs101", max_npus=1, npu_hours=40, profiles=["a"])
    ledger.policies.set("cs101", period="day")  # partial: the rest stays
    p = ledger.policies.get("cs101")
    assert {k: v for k, v in p.items() if k != "updated"} == {
        "group": "cs101",
        "max_npus_per_server": None,
        "max_npus": 1,
        "group_max_npus": None,
        "npu_hours": 40.0,
        "npu_hours_per_member": None,
        "period": "day",
        "max_session_hours": None,
        "profiles": ["a"],
    }
    ledger.policies.set("*", npu_hours=100)
    assert [p["group"] for p in ledger.policies.all()] == ["*", "cs101"]
    assert ledger.policies.get("*")["npu_hours"] == 100.0
    assert ledger.policies.get("*")["max_npus"] == 4  # still the built-in default
    with pytest.raises(ValueError, match="Unknown limit"):
        ledger.policies.set("cs101", max_gpus=3)
    with pytest.raises(ValueError, match="period must be one of"):
        ledger.policies.set("cs101", period="year")
    with pytest.raises(ValueError, match="group's limit"):
        ledger.policies.set_user("ana", group_max_npus=3)
    with pytest.raises(ValueError, match="group's limit"):
        ledger.policies.set_user("ana", npu_hours_per_member=3)
    ledger.policies.set_user("ana", npu_hours=5)
    assert ledger.policies.get_user("ana")["npu_hours"] == 5.0
    assert [q["user"] for q in ledger.policies.all_users()] == ["ana"]


# ---------------------------------------------------------------- drain and inventory


def test_drained_device_is_never_handed_out(ledger):
    grant = alloc(ledger, "ana", npus=1, device_type="simulated")  # sim:0
    ledger.inventory.drain("sim", 0)  # held: the holder keeps it
    ledger.inventory.drain("sim", 5)
    states = {(d["node"], d["index"]): d["state"] for d in ledger.inventory.devices()}
    assert states[("sim", 0)] == states[("sim", 5)] == "drained"
    assert held(ledger)[("sim", 0)]["user"] == "ana"
    ledger.release(grant.allocation_id)
    got = [alloc(ledger, f"u{i}", device_type="simulated").devices[0][:2] for i in range(6)]
    assert sorted(got) == [("sim", i) for i in (1, 2, 3, 4, 6, 7)]
    with pytest.raises(CapacityError) as e:
        alloc(ledger, "yan", device_type="simulated")
    assert str(e.value) == "All 6 simulated NPUs are in use"
    with pytest.raises(CapacityError) as e:
        alloc(ledger, "zed", device_type="simulated")
    assert str(e.value) == "All 6 simulated NPUs are in use (1 user waiting)"
    assert ledger.waiting.count() == 2
    ledger.inventory.undrain("sim", 5)
    assert alloc(ledger, "zed", device_type="simulated").devices[0][:2] == ("sim", 5)
    with pytest.raises(LedgerError) as e:
        ledger.inventory.drain("sim", 42)
    assert str(e.value) == "There is no device sim:42 (see `npuhub devices`)"


def test_inventory_sync_drains_what_is_gone_and_keeps_holders(ledger, tmp_path):
    grant = alloc(ledger, "ana", npus=1, device_type="Ascend910B")  # n910:0
    ledger.inventory.drain("sim", 1)
    sim_only = [s for s in simulated_inventory(tmp_path / "devices") if s.name == "sim"]
    ledger.inventory.sync(sim_only)
    by = {(d["node"], d["index"]): d for d in ledger.inventory.devices()}
    assert len(by) == 16  # never deleted
    assert {by[("n910", i)]["state"] for i in range(8)} == {"drained"}
    assert by[("n910", 0)]["holder"]["user"] == "ana"
    with pytest.raises(CapacityError):
        alloc(ledger, "ben", device_type="Ascend910B")
    with pytest.raises(LedgerError, match="no longer present"):
        ledger.inventory.undrain("n910", 3)
    # the node comes back, with a smaller ring: only what is present returns
    back = NodeSpec("n910", "Ascend910B", ((0, 1, 2, 3),), "/dev", "config")
    ledger.inventory.sync([*sim_only, back])
    by = {(d["node"], d["index"]): d for d in ledger.inventory.devices()}
    assert [by[("n910", i)]["state"] for i in range(8)] == ["available"] * 4 + ["drained"] * 4
    assert by[("sim", 1)]["state"] == "drained"  # an operator's drain survives a sync
    assert by[("n910", 0)]["holder"]["allocation_id"] == grant.allocation_id
    # nodes declared by `npuhub apply` are managed there, not by the sync
    ledger.inventory.add_node(NodeSpec("filed", "Ascend310P", ((0, 1),), "/dev", "file"))
    ledger.inventory.sync([*sim_only, back])
    assert {d["state"] for d in ledger.inventory.devices() if d["node"] == "filed"} == {"available"}


def test_capacity_messages(ledger):
    for i in range(3):
        alloc(ledger, f"u{i}", npus=2, device_type="simulated")  # 6 of 8 held
    assert ledger.capacity_message(4, "simulated") == (
        "Only 2 of 8 simulated NPUs are free; you asked for 4"
    )
    assert ledger.capacity_message(9, "simulated") == (
        "You asked for 9 simulated NPUs, but the platform has only 8 in service"
    )
    assert ledger.capacity_message(1, "nvidia") == (
        "There are no nvidia NPUs in service on this platform"
    )
    # a request that can never fit is refused, but its user is not "waiting"
    with pytest.raises(CapacityError) as e:
        alloc(ledger, "big", npus=4, device_type="nvidia")
    assert e.value.transient is False
    with pytest.raises(CapacityError) as e:
        alloc(ledger, "small", npus=4, device_type="simulated")
    assert e.value.transient is True
    assert ledger.waiting.count() == 1
    ledger.release(ledger.usage.active(user="u0")[0]["id"])  # sim 0,1 free, 6,7 free: two rings
    assert ledger.capacity_message(4, "simulated") == (
        "4 of 8 simulated NPUs are free, but not 4 together inside one HCCS ring "
        "(the most free on one node is 4); ask for fewer or try again later (1 user waiting)"
    )


# ---------------------------------------------------------------- reconcile


def test_reconcile_releases_what_does_not_run(ledger, fake_clock):
    a = alloc(ledger, "ana", holder="")
    b = alloc(ledger, "ben", holder="big")
    j = alloc(ledger, "ana", kind="job", holder="7")
    # jobs are not in a servers-only view: leave them alone
    assert ledger.reconcile({("ana", "server", "")}, kind="server") == [b.allocation_id]
    assert ledger.usage.allocation(b.allocation_id)["reason"] == "reconciled"
    # a server younger than the grace period is spared
    fake_clock.advance(seconds=90)
    c = alloc(ledger, "cy")
    assert ledger.reconcile(set(), grace_seconds=60) == [a.allocation_id, j.allocation_id]
    assert [x["id"] for x in ledger.usage.active()] == [c.allocation_id]
    assert held(ledger).keys() == {tuple(ledger.usage.active()[0]["devices"][0])}


# ---------------------------------------------------------------- concurrency


def _check_no_double(engine) -> None:
    with db.session_factory(engine)() as s:
        holders = s.scalars(select(Device.allocation_id).where(Device.allocation_id.is_not(None)))
        counts = Counter(holders)
        actives = s.scalars(select(Allocation).where(Allocation.state == "active")).all()
        assert {a.id: a.npus for a in actives} == dict(counts)
        devices = [tuple(d) for a in actives for d in a.devices]
        assert len(devices) == len(set(devices))
        assert s.scalar(select(func.count(Allocation.id))) == len(actives)


def test_twelve_threads_eight_devices(ledger, db_engine):
    barrier = threading.Barrier(12)
    grants, refusals, errors = [], [], []

    def worker(i):
        barrier.wait()
        try:
            grants.append(alloc(ledger, f"t{i}", device_type="simulated"))
        except CapacityError as e:
            refusals.append(str(e))
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert (len(grants), len(refusals)) == (8, 4)
    assert sorted(g.devices[0][:2] for g in grants) == [("sim", i) for i in range(8)]
    assert all(r.startswith("All 8 simulated NPUs are in use") for r in refusals)
    _check_no_double(db_engine)


def _process_worker(url, barrier, results, name):
    engine = db.make_engine(url)  # each process its own engine
    led = Ledger(db.session_factory(engine))
    out = []
    lock = threading.Lock()

    def one(i):
        barrier.wait()
        try:
            g = led.allocate(
                user=f"{name}-{i}",
                groups=[],
                kind="server",
                holder="",
                npus=1,
                device_type="simulated",
            )
            r = ("grant", g.devices[0][0], g.devices[0][1])
        except CapacityError:
            r = ("capacity", "", -1)
        except Exception as e:  # noqa: BLE001
            r = ("error", repr(e), -1)
        with lock:
            out.append(r)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.extend(out)
    engine.dispose()


def test_four_processes_eight_devices(ledger, migrated_url, db_engine):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(12)
        results = manager.list()
        procs = [
            ctx.Process(target=_process_worker, args=(migrated_url, barrier, results, f"p{n}"))
            for n in range(4)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
        assert [p.exitcode for p in procs] == [0, 0, 0, 0]
        results = list(results)
    assert [r for r in results if r[0] == "error"] == []
    grants = sorted((node, index) for kind, node, index in results if kind == "grant")
    assert grants == [("sim", i) for i in range(8)]
    assert sum(1 for r in results if r[0] == "capacity") == 4
    _check_no_double(db_engine)
    assert len(ledger.usage.active()) == 8


def test_summary_shows_a_members_own_share(ledger, fake_clock):
    from npuhub.hub.ledger.summary import summary

    ledger.policies.set("cs101", npu_hours=30, npu_hours_per_member=3)
    grant = alloc(ledger, "ana", npus=1, groups=["cs101"])
    alloc(ledger, "ben", npus=1, groups=["cs101"])
    fake_clock.advance(hours=2)
    ledger.release(grant.allocation_id)
    q = summary(ledger, "ana", ["cs101"])["quotas"][0]
    assert (q["budget_of"], q["npu_hours_budget"], q["account_npu_hours_budget"]) == (
        "member", 3, 30)
    assert q["npu_hours_used"] == pytest.approx(2.0)
    assert q["account_npu_hours_used"] == pytest.approx(4.0)  # ana's and ben's
    plain = summary(ledger, "cy", ["lab"])["quotas"][0]
    assert plain["budget_of"] == "account" and plain["npu_hours_budget"] is None
