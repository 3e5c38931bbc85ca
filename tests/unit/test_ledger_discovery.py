"""The NPUs of this host: discovered character devices, declared nodes, simulated ones
(real device nodes made with mknod in a temporary folder)."""

from __future__ import annotations

import os
import stat

import pytest

from npuhub.hub.ledger.discovery import SHARED_NODES, discover, local_nodes, node_spec


def test_discover_finds_davinci_character_devices_only(tmp_path):
    for i in (0, 1, 3):
        os.mknod(tmp_path / f"davinci{i}", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    (tmp_path / "davinci7").write_text("a file, not a device")
    os.mknod(tmp_path / "davinci_manager", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    assert discover(tmp_path) == [0, 1, 3]
    assert discover(tmp_path / "missing") == []


def test_declared_nodes_win(tmp_path):
    specs = local_nodes(
        hostname="h", device_dir=str(tmp_path), simulated_npus=8, state_dir=tmp_path,
        declared=[{"name": "n1", "type": "Ascend910B", "devices": 8}],
    )
    assert specs == [node_spec({"name": "n1", "type": "Ascend910B", "devices": 8})]
    assert specs[0].rings == ((0, 1, 2, 3), (4, 5, 6, 7))
    assert (specs[0].device_dir, specs[0].source) == ("/dev", "config")


def test_discovered_910_node(tmp_path):
    for i in range(8):
        os.mknod(tmp_path / f"davinci{i}", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    (spec,) = local_nodes(
        hostname="h", device_dir=str(tmp_path), declared=[], simulated_npus=8, state_dir=tmp_path
    )
    assert (spec.name, spec.type, spec.source) == ("h", "Ascend910B", "discovered")
    assert spec.rings == ((0, 1, 2, 3), (4, 5, 6, 7))


def test_simulated_node_has_real_character_devices(tmp_path):
    (spec,) = local_nodes(
        hostname="h", device_dir=str(tmp_path / "none"), declared=[], simulated_npus=4,
        state_dir=tmp_path,
    )
    assert (spec.name, spec.type, spec.source, spec.indices) == (
        "h-sim", "simulated", "simulated", [0, 1, 2, 3]
    )
    for name in [f"davinci{i}" for i in range(4)] + list(SHARED_NODES):
        assert stat.S_ISCHR((tmp_path / "devices" / name).stat().st_mode)
    assert discover(tmp_path / "devices") == [0, 1, 2, 3]


def test_no_npus_at_all(tmp_path):
    assert local_nodes(
        hostname="h", device_dir=str(tmp_path), declared=[], simulated_npus=0, state_dir=tmp_path
    ) == []


def test_node_spec_with_rings_and_a_missing_field():
    spec = node_spec({"name": "x", "type": "Ascend310P", "rings": [[0, 1]], "device_dir": "/d"},
                     source="file")
    assert (spec.rings, spec.device_dir, spec.source) == (((0, 1),), "/d", "file")
    with pytest.raises(KeyError):
        node_spec({"name": "x"})
