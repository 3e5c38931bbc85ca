"""Topology rules of NPU nodes (pure): rings, device paths, node specs."""

from __future__ import annotations

from npuhub.hub.ledger.topology import NodeSpec, device_path, rings_for


def test_an_8_chip_910_node_is_two_rings_of_4():
    assert rings_for(8, "Ascend910B") == ((0, 1, 2, 3), (4, 5, 6, 7))
    assert rings_for(8, "simulated") == ((0, 1, 2, 3), (4, 5, 6, 7))


def test_other_nodes_are_one_group():
    assert rings_for(4, "Ascend910B") == ((0, 1, 2, 3),)
    assert rings_for(8, "Ascend310P") == (tuple(range(8)),)
    assert rings_for(2, "nvidia") == ((0, 1),)


def test_device_paths():
    assert device_path("Ascend910B", "/dev", 3) == "/dev/davinci3"
    assert device_path("simulated", "/var/lib/npuhub/devices/", 0) == (
        "/var/lib/npuhub/devices/davinci0"
    )
    assert device_path("nvidia", "/dev", 1) == "/dev/nvidia1"


def test_node_spec_indices_are_those_of_its_rings():
    spec = NodeSpec("n1", "Ascend910B", ((4, 5), (0, 1)), "/dev", "config")
    assert spec.indices == [0, 1, 4, 5]
