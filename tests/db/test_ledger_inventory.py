"""The ledger's inventory on SQLite and PostgreSQL: drains and the inventory sync."""

from __future__ import annotations

import pytest

from npuhub.hub.ledger import CapacityError, LedgerError, NodeSpec
from tests.conftest_db import simulated_inventory
from tests.db.helpers import alloc, held


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
