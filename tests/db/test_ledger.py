"""The NPU ledger on SQLite and PostgreSQL: the schema, grants, releases, capacity
refusals, reconciliation, charges of Slurm jobs, and no device ever held twice under
concurrency (its stores have their own files: test_ledger_inventory, _policies, _usage)."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from npuhub.hub import db
from npuhub.hub.ledger import (
    CapacityError,
    Ledger,
    QuotaError,
    free,
)
from npuhub.hub.orm import Allocation, Device
from tests.db.helpers import alloc, held

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


def test_capacity_refusals(ledger):
    ledger.policies.set("*", max_npus=16, max_npus_per_server=16)
    for i in range(3):
        alloc(ledger, f"u{i}", npus=2, device_type="simulated")  # 6 of 8 held

    def refusal(user, npus, device_type):
        with pytest.raises(CapacityError) as e:
            alloc(ledger, user, npus=npus, device_type=device_type)
        return str(e.value), e.value.transient

    assert refusal("small", 4, "simulated") == (
        "Only 2 of 8 simulated NPUs are free; you asked for 4", True
    )
    assert refusal("big", 9, "simulated") == (
        "You asked for 9 simulated NPUs, but the platform has only 8 in service", False
    )
    assert refusal("big", 1, "nvidia") == (
        "There are no nvidia NPUs in service on this platform", False
    )
    # a request that can never fit is refused, but its user is not "waiting"
    assert ledger.waiting.count() == 1
    ledger.release(ledger.usage.active(user="u0")[0]["id"])  # sim 0,1 free, 6,7 free: two rings
    assert refusal("cy", 4, "simulated") == (
        "4 of 8 simulated NPUs are free, but not 4 together inside one HCCS ring "
        "(the most free on one node is 4); ask for fewer or try again later (1 user waiting)",
        True,
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


# ---------------------------------------------------------------- batch jobs


def test_slurm_job_charges_are_ledger_records(ledger, fake_clock):
    charge = dict(user="ana", account="ana", job_id=7, npus=3, profile="base")
    alloc_id = ledger.charge_job(**charge)
    assert ledger.charge_job(**charge) == alloc_id  # idempotent
    a = ledger.usage.allocation(alloc_id)
    assert (a["kind"], a["holder"], a["npus"], a["devices"]) == ("job", "7", 3, [])
    assert held(ledger) == {}  # no local device is held
    assert ledger.policies.limits_for("ana", [])[2].user_npus == 3  # counts against the quota
    fake_clock.advance(hours=2)
    assert ledger.release_job("ana", 7) is True
    assert ledger.release_job("ana", 7) is False  # nothing left to release
    assert ledger.usage.report(user="ana")["npu_hours"] == pytest.approx(6.0)


def test_a_local_job_is_released_by_its_id(ledger):
    grant = alloc(ledger, "ana", npus=2, kind="job", holder="8")
    assert ledger.release_job("ana", 8, reason="job ended") is True
    assert ledger.usage.allocation(grant.allocation_id)["reason"] == "job ended"
    assert held(ledger) == {}


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


def test_slurm_places_a_server_the_ledger_counts_and_holds(ledger):
    """Cluster mode: the quota counts the NPUs before Slurm places them; once Slurm grants
    devices they are held (a local grant cannot take them) and a release frees them."""
    ledger.policies.set("*", max_npus=2)
    grant = alloc(ledger, "ana", npus=2, holder="slurm", place=False)
    assert grant.devices == () and held(ledger) == {}
    with pytest.raises(QuotaError):  # the two NPUs count before any device is known
        alloc(ledger, "ana", npus=1, holder="other")
    assert ledger.hold_granted(grant.allocation_id, "sim", [1, 0]) == [("sim", 0), ("sim", 1)]
    assert {ref: h["user"] for ref, h in held(ledger).items()} == {
        ("sim", 0): "ana", ("sim", 1): "ana"}
    other = alloc(ledger, "ben", npus=2, device_type="simulated")
    assert not {d[:2] for d in other.devices} & {("sim", 0), ("sim", 1)}
    assert ledger.release(grant.allocation_id) is True
    assert set(held(ledger)) == {d[:2] for d in other.devices}
