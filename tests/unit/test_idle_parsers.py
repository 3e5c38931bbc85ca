"""Device use parsed from what npu-smi, nvidia-smi, Ascend's npu-exporter and NVIDIA's
dcgm-exporter print (recorded under tests/data/utilization/), and from simulated files."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from npuhub.hub.idle import parsers, sources

DATA = Path(__file__).resolve().parents[1] / "data" / "utilization"


def text(name: str) -> str:
    return (DATA / name).read_text()


def test_npu_smi_mapping_gives_logic_ids_and_skips_the_mcu():
    assert parsers.npu_smi_mapping(text("npu-smi-info-m-910b.txt")) == {(0, 0): 0, (1, 0): 1}
    assert parsers.npu_smi_mapping(text("npu-smi-info-m-310p.txt")) == {(0, 0): 0, (0, 1): 1}


def test_npu_smi_usages_reads_ai_core_use_per_chip():
    assert parsers.npu_smi_usages(text("npu-smi-usages-910b.txt")) == {0: 57.0}
    assert parsers.npu_smi_usages(text("npu-smi-usages-310p-two-chips.txt")) == {0: 0.0, 1: 12.0}
    assert parsers.npu_smi_usages("dcmi model initialized failed\n") == {}


def test_nvidia_smi_leaves_out_a_gpu_that_cannot_tell():
    assert parsers.nvidia_smi(text("nvidia-smi-utilization.csv")) == {0: 35.0, 1: 0.0, 3: 100.0}


def test_npu_exporter_and_dcgm_exporter():
    assert parsers.exporter(text("npu-exporter.metrics"), parsers.NPU_EXPORTER) == {
        0: 0.0, 1: 36.0, 2: 0.0, 3: 100.0}
    assert parsers.exporter(text("dcgm-exporter.metrics"), parsers.DCGM_EXPORTER) == {
        0: 0.0, 1: 87.0}
    # the other exporter's metric is not taken for this one's
    assert parsers.exporter(text("dcgm-exporter.metrics"), parsers.NPU_EXPORTER) == {}


def test_simulated_values():
    assert parsers.simulated("50\n") == 50.0
    assert parsers.simulated("") == 0.0
    assert parsers.simulated("250") == 100.0
    assert parsers.simulated("busy") is None


def test_simulated_source_reads_files_and_absent_means_zero(tmp_path):
    node = sources.NodeInfo("n-sim", "simulated", str(tmp_path))
    folder = sources.utilization_dir(str(tmp_path))
    folder.mkdir()
    (folder / "davinci1").write_text("50")
    (folder / "davinci2").write_text("not a number")
    read = asyncio.run(sources.read_node("auto", "", node, [0, 1, 2]))
    assert read == {0: 0.0, 1: 50.0}  # davinci2 unreadable: no reading, never idle


def test_auto_source_by_node(tmp_path):
    os.mknod(tmp_path / "davinci0", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    fake = sources.NodeInfo("n1", "Ascend910B", str(tmp_path))
    assert sources.choose("auto", fake, [0]) == "simulated"
    real = sources.NodeInfo("n2", "Ascend910B", str(tmp_path / "elsewhere"))
    assert sources.choose("auto", real, [0]) == "npu-smi"
    gpu = sources.NodeInfo("g1", "nvidia", str(tmp_path / "elsewhere"))
    assert sources.choose("auto", gpu, [0]) == "nvidia-smi"
    assert sources.choose("npu-exporter", fake, [0]) == "npu-exporter"


def test_a_missing_tool_gives_no_reading(tmp_path):
    node = sources.NodeInfo("n2", "Ascend910B", str(tmp_path))
    assert asyncio.run(sources.read_node("npu-smi", "", node, [0])) == {}
