"""Random sequences of allocate, release, crash, drain, undrain, inventory changes and
time passing, against a model kept alongside: no device is ever held twice, a drained
device is never handed out, every grant is what the placement policy chooses on the
model's view, refusals are the ones the quota predicts, and the NPU-hours summed from the
usage records match the model's."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete, update

from npuhub.hub import db, placement
from npuhub.hub.ledger import CapacityError, Ledger, LedgerError, NodeSpec, QuotaError, quota
from npuhub.hub.orm import Allocation, Device, Node, QuotaPolicy, UserQuota

START = datetime(2025, 3, 3, 0, 0, tzinfo=UTC)  # a Monday; runs stay inside March
SIM = NodeSpec("sim", "simulated", ((0, 1, 2, 3), (4, 5, 6, 7)), "/sim", "simulated")
N310 = NodeSpec("n310", "Ascend310P", ((0, 1, 2, 3),), "/dev", "config")
DEVICES = [(n.name, i) for n in (SIM, N310) for i in n.indices]
USERS = ["ana", "ben", "cy", "dee"]


class Clock:
    def __init__(self):
        self.now = START

    def __call__(self):
        return self.now


@dataclass
class Alloc:
    user: str
    kind: str
    holder: str
    npus: int
    devices: list[tuple[str, int]]
    start: datetime
    end: datetime | None = None

    def hours(self, lo: datetime, hi: datetime) -> float:
        a, b = max(self.start, lo), min(self.end or hi, hi)
        return max((b - a).total_seconds(), 0.0) / 3600 * self.npus


@dataclass
class Dev:
    reason: str | None = None  # None (in service), "admin" or "inventory"
    holder: int | None = None


@dataclass
class World:
    devices: dict[tuple[str, int], Dev] = field(default_factory=dict)
    allocs: dict[int, Alloc] = field(default_factory=dict)
    n310_present: bool = True


def reset(engine) -> None:
    with db.transaction(db.session_factory(engine), write=True, lock=db.LEDGER_LOCK) as s:
        s.execute(update(Device).values(allocation_id=None))
        for table in (Allocation, Device, Node, QuotaPolicy, UserQuota):
            s.execute(delete(table))


def machine(engine, clock: Clock):
    class LedgerMachine(RuleBasedStateMachine):
        allocations = Bundle("allocations")

        @initialize()
        def setup(self):
            reset(engine)
            clock.now = START
            self.ledger = Ledger(db.session_factory(engine))
            self.ledger.inventory.sync([SIM, N310])
            # budgets too large to refuse, so that every grant also sums the hours
            self.ledger.policies.set("*", npu_hours=1e9)
            for user in USERS:
                self.ledger.policies.set_user(user, npu_hours=1e9)
            self.w = World(devices={d: Dev() for d in DEVICES})

        # ------------------------------------------------------------ model helpers

        def active(self):
            return {i: a for i, a in self.w.allocs.items() if a.end is None}

        def views(self, freed: set[tuple[str, int]]):
            out = []
            for spec in (SIM, N310):
                free = frozenset(
                    i
                    for i in spec.indices
                    if self.w.devices[(spec.name, i)].reason is None
                    and (self.w.devices[(spec.name, i)].holder is None or (spec.name, i) in freed)
                )
                out.append(placement.NodeView(spec.name, spec.type, spec.rings, free))
            return out

        def close(self, alloc_id: int):
            a = self.w.allocs[alloc_id]
            a.end = clock.now
            for d in a.devices:
                if self.w.devices[d].holder == alloc_id:
                    self.w.devices[d].holder = None

        # ------------------------------------------------------------ rules

        @rule(
            target=allocations,
            user=st.sampled_from(USERS),
            npus=st.integers(0, 5),
            device_type=st.sampled_from([None, "simulated", "Ascend310P"]),
            kind=st.sampled_from(["server", "job"]),
            holder=st.sampled_from(["", "big"]),
        )
        def allocate(self, user, npus, device_type, kind, holder):
            old = [
                i
                for i, a in self.active().items()
                if (a.user, a.kind, a.holder) == (user, kind, holder)
            ]
            freed = {d for i in old for d in self.w.allocs[i].devices}
            held = sum(a.npus for i, a in self.active().items() if a.user == user and i not in old)
            limits = quota.DEFAULT_LIMITS
            if npus > limits.max_npus_per_server or held + npus > limits.max_npus:
                expected: object = QuotaError
            elif npus == 0:
                expected = []
            else:
                expected = placement.place(self.views(freed), npus, device_type) or CapacityError
            try:
                grant = self.ledger.allocate(
                    user=user,
                    groups=[],
                    kind=kind,
                    holder=holder,
                    npus=npus,
                    device_type=device_type,
                )
            except (QuotaError, CapacityError) as e:
                assert type(e) is expected, (e, expected)
                return -1
            assert isinstance(expected, list), (grant, expected)
            got = [(node, index) for node, index, _ in grant.devices]
            assert got == expected
            for d in got:
                assert self.w.devices[d].reason is None, f"drained {d} handed out"
                assert self.w.devices[d].holder is None or d in freed, f"{d} held twice"
            for i in old:
                self.close(i)
                assert self.ledger.usage.allocation(i)["reason"] == "replaced"
            self.w.allocs[grant.allocation_id] = Alloc(user, kind, holder, npus, got, clock.now)
            for d in got:
                self.w.devices[d].holder = grant.allocation_id
            return grant.allocation_id

        @rule(alloc_id=allocations, crash=st.booleans())
        def release(self, alloc_id, crash):
            expected = alloc_id in self.active()
            reason = "crashed" if crash else "stopped"
            assert self.ledger.release(alloc_id, reason=reason) is expected
            if expected:
                self.close(alloc_id)
                assert self.ledger.usage.allocation(alloc_id)["reason"] == reason

        @rule(device=st.sampled_from(DEVICES))
        def drain(self, device):
            self.ledger.inventory.drain(*device)
            dev = self.w.devices[device]
            if dev.reason != "inventory":
                dev.reason = "admin"

        @rule(device=st.sampled_from(DEVICES))
        def undrain(self, device):
            dev = self.w.devices[device]
            if dev.reason == "inventory":
                with pytest.raises(LedgerError):
                    self.ledger.inventory.undrain(*device)
            else:
                self.ledger.inventory.undrain(*device)
                dev.reason = None

        @rule()
        def toggle_n310(self):
            present = not self.w.n310_present
            self.ledger.inventory.sync([SIM, N310] if present else [SIM])
            self.w.n310_present = present
            for (node, _), dev in self.w.devices.items():
                if node != "n310":
                    continue
                if present and dev.reason == "inventory":
                    dev.reason = None
                elif not present and dev.reason is None:
                    dev.reason = "inventory"

        @rule(minutes=st.integers(0, 300))
        def time_passes(self, minutes):
            clock.now += timedelta(minutes=minutes)

        # ------------------------------------------------------------ invariants

        @invariant()
        def devices_match(self):
            if not hasattr(self, "ledger"):
                return
            seen = {}
            for d in self.ledger.inventory.devices():
                ref = (d["node"], d["index"])
                dev = self.w.devices[ref]
                assert d["state"] == ("available" if dev.reason is None else "drained"), ref
                assert d["drain_reason"] == dev.reason, ref
                holder = d["holder"]["allocation_id"] if d["holder"] else None
                assert holder == dev.holder, ref
                seen[ref] = holder
            active = self.ledger.usage.active()
            assert {a["id"] for a in active} == set(self.active())
            listed = [tuple(x) for a in active for x in a["devices"]]
            assert len(listed) == len(set(listed)), "a device in two active allocations"
            for a in active:
                assert all(seen[tuple(x)] == a["id"] for x in a["devices"])

        @invariant()
        def hours_match(self):
            if not hasattr(self, "ledger"):
                return
            for period in ("month", "week"):
                lo = quota.period_start(period, clock.now)
                expected: dict[str, float] = {}
                for a in self.w.allocs.values():
                    h = a.hours(lo, clock.now)
                    if a.npus and a.start < clock.now and (a.end is None or a.end > lo):
                        expected[a.user] = expected.get(a.user, 0.0) + h
                got = self.ledger.usage.report(period=period)["by_user"]
                assert got == pytest.approx(expected, abs=1e-4), period
            # what the quota check sees (summed by the database), per user and account
            for user in USERS:
                _, limits, held = self.ledger.policies.limits_for(user, [])
                assert limits.period == "week"
                assert held.user_hours == pytest.approx(expected.get(user, 0.0), abs=1e-4)
                assert held.account_hours == pytest.approx(held.user_hours, abs=1e-4)
                assert held.user_npus == sum(
                    a.npus for a in self.active().values() if a.user == user
                )

    return LedgerMachine


@pytest.mark.parametrize(
    "backend, examples, steps",
    [
        pytest.param("sqlite", 30, 30, id="sqlite"),
        pytest.param("postgres", 6, 25, id="postgres", marks=pytest.mark.postgres),
    ],
)
def test_ledger_state_machine(backend, examples, steps, request, tmp_path, monkeypatch):
    from tests.conftest_db import fresh_database

    clock = Clock()
    monkeypatch.setattr("npuhub.hub.clock.utcnow", clock)
    with fresh_database(backend, request, tmp_path) as url:
        db.upgrade(url)
        engine = db.make_engine(url)
        try:
            run_state_machine_as_test(
                machine(engine, clock),
                settings=settings(
                    max_examples=examples,
                    stateful_step_count=steps,
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow],
                    database=None,
                ),
            )
        finally:
            engine.dispose()
