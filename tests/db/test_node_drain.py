"""A whole node drained and undrained (`npuhub devices drain|undrain NODE`, POST
/api/v1/nodes/{node}/drain|undrain) in single-host mode: the ledger only, holders keep
their chips, a chip gone from the node stays drained; an unknown node is refused."""

from __future__ import annotations

import pytest

from npuhub.hub.ledger import CapacityError, NodeSpec
from npuhub.hub.node_drain import set_node
from npuhub.hub.refusals import Refusal
from npuhub.hub.settings import NPUHub
from tests.conftest_db import simulated_inventory
from tests.db.helpers import alloc, held


def states(ledger, node: str) -> list[str]:
    return [d["state"] for d in sorted(ledger.inventory.devices(), key=lambda d: d["index"])
            if d["node"] == node]


def test_a_node_drained_whole_keeps_its_holders_and_comes_back(ledger, tmp_path):
    single_host = NPUHub()
    grant = alloc(ledger, "ana", npus=1, device_type="Ascend910B")  # n910:0
    assert set_node(ledger, single_host, "n910", True, "maintenance") == {
        "node": "n910", "state": "drained", "devices": 8, "slurm": False}
    assert states(ledger, "n910") == ["drained"] * 8
    assert held(ledger)[("n910", 0)]["allocation_id"] == grant.allocation_id
    with pytest.raises(CapacityError):
        alloc(ledger, "ben", device_type="Ascend910B")
    assert set(states(ledger, "sim")) == {"available"}  # the other node untouched

    # half the node gone meanwhile: undrain brings back only what is present
    sim_only = [s for s in simulated_inventory(tmp_path / "devices") if s.name == "sim"]
    ledger.inventory.sync([*sim_only, NodeSpec("n910", "Ascend910B", ((0, 1, 2, 3),),
                                               "/dev", "config")])
    assert set_node(ledger, single_host, "n910", False)["state"] == "available"
    assert states(ledger, "n910") == ["available"] * 4 + ["drained"] * 4
    assert alloc(ledger, "ben", device_type="Ascend910B").devices[0][0] == "n910"

    with pytest.raises(Refusal) as e:
        set_node(ledger, single_host, "nowhere", True)
    assert (e.value.code, e.value.status) == ("no_node", 404)
    assert e.value.message("zh_CN") == "没有节点 nowhere（参见 `npuhub devices`）"
