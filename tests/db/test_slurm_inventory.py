"""Cluster mode on SQLite and PostgreSQL: the ledger's inventory follows Slurm's nodes and
GRES (`scontrol show node -o` recorded under tests/data/slurm/). A new node appears with
its chips; chips a node no longer has, or of a node gone from Slurm, are drained as gone
while their holder keeps them; a node DOWN or DRAIN in Slurm is drained and comes back on
resume, but an operator's own drain stays until undrain."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete
from traitlets.config import Config

from npuhub.hub.ledger import CapacityError, LedgerError
from npuhub.hub.ledger.slurm_discovery import node_specs, parse_nodes
from npuhub.hub.node_drain import set_node
from npuhub.hub.orm import Device, Node
from npuhub.hub.settings import NPUHub
from tests.db.helpers import alloc, held

DATA = Path(__file__).resolve().parents[1] / "data" / "slurm"
PARTITIONS = {"npu", "batch"}


def specs(name: str, drop: tuple[str, ...] = ()):
    nodes = parse_nodes((DATA / f"scontrol-show-node-{name}.txt").read_text())
    return node_specs([n for n in nodes if n.name not in drop], PARTITIONS, "/c/devices", True)


def chips(ledger, node: str) -> list[tuple[str, str | None]]:
    return [(d["state"], d["drain_reason"]) for d in ledger.inventory.devices()
            if d["node"] == node]


FREE = ("available", None)


def test_the_inventory_follows_slurm_s_nodes_and_gres(ledger):
    inv = ledger.inventory
    assert inv.sync(specs("test-cluster")) is True
    assert inv.sync(specs("test-cluster")) is False  # nothing changed: nothing bumped
    # the host's own nodes of the fixture are not Slurm's: gone, drained
    assert {d["state"] for d in inv.devices() if d["node"] in ("sim", "n910")} == {"drained"}
    for n in ("n1", "n2", "n3"):
        assert chips(ledger, n) == [FREE] * 4
    assert {d["path"] for d in inv.devices() if d["node"] == "n2"} == {
        f"/c/devices/n2/davinci{i}" for i in range(4)}
    assert {d["type"] for d in inv.devices() if d["node"].startswith("n")} >= {"npu"}
    grant = alloc(ledger, "ana", npus=2, devices=[("n3", 0), ("n2", 3)])
    set_node(ledger, NPUHub(), "n1", True, "maintenance")  # an operator's drain

    # behind npuhub's back: n1 DOWN, n2 down to 2 chips, n3 drained, n4 new
    assert inv.sync(specs("changed")) is True
    assert chips(ledger, "n1") == [("drained", "admin")] * 4
    assert chips(ledger, "n2") == [FREE] * 2 + [("drained", "inventory")] * 2
    assert chips(ledger, "n3") == [("drained", "slurm")] * 4
    assert chips(ledger, "n4") == [FREE] * 4
    holders = held(ledger)  # the holder keeps what it holds
    assert holders[("n3", 0)]["allocation_id"] == holders[("n2", 3)]["allocation_id"] \
        == grant.allocation_id
    # never handed out: only n2:0-1 and n4 are free
    got = sorted(alloc(ledger, f"u{i}", npus=1).devices[0][:2] for i in range(6))
    assert got == [("n2", 0), ("n2", 1)] + [("n4", i) for i in range(4)]
    with pytest.raises(CapacityError):
        alloc(ledger, "zed", npus=1)
    with pytest.raises(LedgerError) as e:  # a chip gone from its node cannot be undrained
        inv.undrain("n2", 3)
    assert e.value.code == "device_gone"

    # n4 leaves Slurm: its chips are gone, held ones kept by their holders
    n4_holder = held(ledger)[("n4", 0)]["allocation_id"]
    inv.sync(specs("changed", drop=("n4",)))
    assert chips(ledger, "n4") == [("drained", "inventory")] * 4
    assert held(ledger)[("n4", 0)]["allocation_id"] == n4_holder

    # Slurm resumes n1 and n3, n2 has its chips again: back, but not the operator's drain
    inv.sync(specs("test-cluster"))
    assert chips(ledger, "n1") == [("drained", "admin")] * 4
    assert chips(ledger, "n2") == [FREE] * 4
    assert chips(ledger, "n3") == [FREE] * 4
    assert chips(ledger, "n4") == [("drained", "inventory")] * 4
    assert held(ledger)[("n3", 0)]["allocation_id"] == grant.allocation_id
    set_node(ledger, NPUHub(), "n1", False)
    assert chips(ledger, "n1") == [FREE] * 4
    ledger.release(grant.allocation_id)
    assert ("n3", 0) not in held(ledger)


def test_an_operator_s_drain_of_a_node_slurm_drained_outlives_slurm_s_resume(ledger):
    inv = ledger.inventory
    inv.sync(specs("changed"))  # n3 DRAIN in Slurm
    assert chips(ledger, "n3") == [("drained", "slurm")] * 4
    set_node(ledger, NPUHub(), "n3", True, "npuhub maintenance")
    assert chips(ledger, "n3") == [("drained", "admin")] * 4
    inv.sync(specs("test-cluster"))  # resumed in Slurm
    assert chips(ledger, "n3") == [("drained", "admin")] * 4
    # a chip an operator drains while its node is DRAIN in Slurm stays drained on resume
    inv.sync(specs("changed"))
    set_node(ledger, NPUHub(), "n3", False)  # single host: the ledger only
    assert chips(ledger, "n3") == [FREE] * 4
    inv.sync(specs("changed"))  # still DRAIN in Slurm: drained again at the next sync
    assert chips(ledger, "n3") == [("drained", "slurm")] * 4


def test_a_sync_read_before_an_operator_s_undrain_changes_nothing(ledger):
    inv = ledger.inventory
    inv.sync(specs("test-cluster"))
    set_node(ledger, NPUHub(), "n3", True)
    version = inv.version()
    read_while_drained = specs("changed")  # Slurm still said DRAIN when it was read
    set_node(ledger, NPUHub(), "n3", False)  # resumed in Slurm, undrained in the ledger
    assert inv.sync(read_while_drained, if_version=version) is False
    assert chips(ledger, "n3") == [FREE] * 4
    assert inv.sync(specs("test-cluster"), if_version=inv.version()) is False  # no change


def test_up_keeps_the_stored_inventory_when_slurm_does_not_answer(ledger, tmp_path):
    from npuhub.hub import db
    from npuhub.hub.up import UpError, sync_with_slurm

    unreachable = NPUHub(engine="slurm", config=Config(
        {"SlurmNPUSpawner": {"slurm_conf": str(tmp_path / "no-such-slurm.conf")}}))
    before = ledger.inventory.devices()
    sync_with_slurm(ledger.inventory, unreachable)  # logged, nothing changed
    assert ledger.inventory.devices() == before
    with db.transaction(ledger.inventory.session_factory, write=True) as s:
        s.execute(delete(Device))
        s.execute(delete(Node))
    with pytest.raises(UpError, match="cannot read Slurm's nodes"):  # nothing to start on
        sync_with_slurm(ledger.inventory, unreachable)
