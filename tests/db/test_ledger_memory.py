"""What a ledger remembers between grants (the topology, the free devices, the policies,
the closed NPU-hours) stays true when another process writes: two ledgers on two
engines, as the hub and the service are, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from npuhub.hub import db
from npuhub.hub.ledger import CapacityError, Ledger, NodeSpec, QuotaError
from tests.db.helpers import alloc, held


@pytest.fixture
def other(migrated_url, ledger):
    """A second ledger on its own engine (another process)."""
    engine = db.make_engine(migrated_url)
    yield Ledger(db.session_factory(engine))
    engine.dispose()


def test_devices_granted_elsewhere_are_not_granted_again(ledger, other):
    first = alloc(ledger, "ana", npus=4, device_type="simulated")  # warms what ledger remembers
    second = alloc(other, "ben", npus=4, device_type="simulated")
    assert {d[:2] for d in first.devices}.isdisjoint(d[:2] for d in second.devices)
    with pytest.raises(CapacityError, match="All 8 simulated NPUs are in use"):
        alloc(ledger, "cy", npus=1, device_type="simulated")
    other.release(second.allocation_id)
    again = alloc(ledger, "cy", npus=4, device_type="simulated")
    assert {d[:2] for d in again.devices} == {d[:2] for d in second.devices}


def test_a_drain_elsewhere_is_seen_at_the_next_grant(ledger, other):
    ledger.release(alloc(ledger, "ana", npus=1, device_type="simulated").allocation_id)
    other.inventory.drain("sim", 0)
    grant = alloc(ledger, "ben", npus=1, device_type="simulated")
    assert grant.devices[0][:2] != ("sim", 0)
    assert ("sim", 0) not in held(ledger)


def test_a_node_added_elsewhere_is_used(ledger, other):
    alloc(ledger, "ana", npus=1, device_type="simulated")
    other.inventory.add_node(NodeSpec("p1", "Ascend310P", ((0, 1),), "/dev", "file"))
    grant = alloc(ledger, "ben", npus=2, device_type="Ascend310P")
    assert [d[:2] for d in grant.devices] == [("p1", 0), ("p1", 1)]
    assert grant.devices[0][2] == "/dev/davinci0"


def test_a_policy_set_elsewhere_applies_at_the_next_grant(ledger, other):
    ledger.release(alloc(ledger, "ana", npus=2, groups=["lab"]).allocation_id)
    other.policies.set("lab", max_npus_per_server=1)
    with pytest.raises(QuotaError, match="at most 1 per server"):
        alloc(ledger, "ana", npus=2, groups=["lab"])


def test_hours_recorded_elsewhere_count_against_the_budget(ledger, other, fake_clock):
    ledger.policies.set("lab", npu_hours=3, period="week")
    ledger.release(alloc(ledger, "ana", npus=1, groups=["lab"]).allocation_id)  # 0 hours
    grant = alloc(other, "ben", npus=2, groups=["lab"])
    fake_clock.advance(hours=2)
    other.release(grant.allocation_id)  # 4 NPU-hours, recorded by the other process
    with pytest.raises(QuotaError, match="Group lab has used 4 of 3 NPU-hours this week"):
        alloc(ledger, "ana", npus=1, groups=["lab"])
