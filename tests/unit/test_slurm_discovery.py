"""Slurm's nodes and GRES as the ledger's inventory: `scontrol show node -o` parsed from
outputs recorded under tests/data/slurm/ (the test cluster, the same changed behind
npuhub's back, an Ascend cluster with typed GRES and nodes DOWN or DRAIN)."""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets.config import Config

from npuhub.hub.ledger.slurm_discovery import (
    SlurmNode,
    node_drained,
    node_specs,
    npu_gres,
    parse_nodes,
    split_gres,
)
from npuhub.hub.settings import NPUHub
from npuhub.hub.slurm_inventory import partitions

DATA = Path(__file__).resolve().parents[1] / "data" / "slurm"


def recorded(name: str) -> list[SlurmNode]:
    return parse_nodes((DATA / f"scontrol-show-node-{name}.txt").read_text())


def test_the_test_cluster_is_three_nodes_of_four_untyped_npus():
    nodes = recorded("test-cluster")
    assert nodes == [
        SlurmNode("n1", ("npu", "batch"), 4, "npu", "IDLE"),
        SlurmNode("n2", ("npu",), 4, "npu", "IDLE"),
        SlurmNode("n3", ("npu",), 4, "npu", "IDLE"),
    ]
    specs = node_specs(nodes, {"npu", "batch"}, "/var/lib/npuhub-cluster/devices/", True)
    assert [(s.name, s.indices, s.device_dir, s.source, s.drained) for s in specs] == [
        (f"n{i}", [0, 1, 2, 3], f"/var/lib/npuhub-cluster/devices/n{i}", "slurm", False)
        for i in (1, 2, 3)
    ]
    # the batch partition alone is n1
    assert [s.name for s in node_specs(nodes, {"batch"}, "/dev", False)] == ["n1"]
    assert {s.device_dir for s in node_specs(nodes, None, "/dev", False)} == {"/dev"}


def test_changed_behind_the_platform_s_back():
    nodes = {n.name: n for n in recorded("changed")}
    assert (nodes["n1"].state, nodes["n1"].drained) == ("DOWN*", True)
    assert (nodes["n2"].npus, nodes["n2"].drained) == (2, False)
    # the reason's own "State=IDLE" is not the node's state
    assert (nodes["n3"].state, nodes["n3"].drained) == ("IDLE+DRAIN", True)
    assert (nodes["n4"].npus, nodes["n4"].partitions) == (4, ("npu",))


def test_an_ascend_cluster_with_typed_gres_and_nodes_down_or_drained():
    nodes = {n.name: n for n in recorded("ascend")}
    assert nodes["atlas001"] == SlurmNode("atlas001", ("ascend", "debug"), 8, "Ascend910B",
                                          "IDLE")
    assert nodes["atlas006"].npus == 6  # a node down two chips
    assert (nodes["atlas007"].npus, nodes["atlas007"].gres_type) == (8, "Ascend910B")
    assert (nodes["atlas008"].npus, nodes["atlas008"].gres_type) == (4, "Ascend310P")
    assert nodes["cpu001"].npus == 0
    drained = {name for name, n in nodes.items() if n.drained}
    assert drained == {"atlas003", "atlas004", "atlas005", "atlas009", "atlas010"}

    specs = {s.name: s for s in node_specs(list(nodes.values()), {"ascend"}, "/dev", False)}
    assert sorted(specs) == [f"atlas{i:03}" for i in (1, 2, 3, 4, 5, 6, 7, 9, 10)]
    assert specs["atlas001"].rings == ((0, 1, 2, 3), (4, 5, 6, 7))  # two HCCS rings
    assert specs["atlas006"].rings == ((0, 1, 2, 3, 4, 5),)
    assert specs["atlas004"].drained and not specs["atlas006"].drained
    assert {s.device_dir for s in specs.values()} == {"/dev"}
    assert sorted(s.name for s in node_specs(list(nodes.values()), {"infer", "cpu"}, "/dev",
                                              False)) == ["atlas008"]  # no npu: not a node


@pytest.mark.parametrize(("gres", "want"), [
    ("npu:4", (4, "npu")),
    ("npu:910b:8(S:0-1)", (8, "Ascend910B")),
    ("npu:910B:8", (8, "Ascend910B")),
    ("npu:310p:4(S:0)", (4, "Ascend310P")),
    ("gpu:a100:2,npu:910b:8(S:0,1)", (8, "Ascend910B")),
    ("npu:910b:4,npu:310p:4", (8, "npu")),  # two kinds of chip: the type is not one
    ("npu:ascend9:2", (2, "ascend9")),  # a site's own type name is kept
    ("(null)", (0, "npu")),
    ("", (0, "npu")),
    ("npux:4,npu", (0, "npu")),
    ("npu:lots", (0, "npu")),
])
def test_npu_gres(gres, want):
    assert npu_gres(gres) == want


def test_split_gres_keeps_commas_inside_parentheses():
    assert split_gres("gpu:2,npu:910b:8(S:0,1),fpga:1") == ["gpu:2", "npu:910b:8(S:0,1)",
                                                            "fpga:1"]


@pytest.mark.parametrize(("state", "drained"), [
    ("IDLE", False), ("MIXED", False), ("ALLOCATED", False), ("IDLE*", False),
    ("COMPLETING", False), ("IDLE+COMPLETING", False), ("UNKNOWN*", False),
    ("IDLE+DRAIN", True), ("MIXED+DRAIN", True), ("DOWN", True), ("DOWN*", True),
    ("DOWN*+DRAIN", True), ("IDLE+FAIL", True), ("FUTURE", True), ("idle+drain", True),
])
def test_node_drained(state, drained):
    assert node_drained(state) is drained


def test_garbage_and_empty_outputs_are_no_nodes():
    assert parse_nodes("") == []
    assert parse_nodes("No nodes in the system\n") == []
    assert parse_nodes("NodeName=../../etc Gres=npu:4 State=IDLE\n") == []


def settings(**sections) -> NPUHub:
    return NPUHub(config=Config(sections))


def test_the_platform_s_partitions_come_from_profiles_spawner_and_jobs():
    npu = {"profiles": [{"slug": "a", "image": "i", "partition": "npu"}]}
    default = {"profiles": [{"slug": "a", "image": "i"}]}
    jobs = {"backend": "slurm", "slurm_partition": "batch"}
    assert partitions(settings(NPUHub=npu, JobsConfig=jobs)) == {"npu", "batch"}
    assert partitions(settings(NPUHub=npu, JobsConfig={"backend": "local"})) == {"npu"}
    assert partitions(settings(NPUHub=default,
                               SlurmNPUSpawner={"partition": "ascend"})) == {"ascend"}
    # a server or job on Slurm's default partition: every node
    assert partitions(settings(NPUHub=default)) is None
    assert partitions(settings(NPUHub=npu, JobsConfig={"backend": "slurm"})) is None
