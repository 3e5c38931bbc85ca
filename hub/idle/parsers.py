"""Device use as the tools print it → {device index: percent}. Pure: text in, numbers out.

- ``npu-smi info -m``: which logic id (the N of /dev/davinciN) each (NPU ID, Chip ID) is;
- ``npu-smi info -t usages -i N``: per chip, "Aicore Usage Rate(%)" (each chip's block
  ends with its "Chip ID" line; one chip per card on 910B, two on some 310P cards);
- ``nvidia-smi --query-gpu=index,utilization.gpu --format=csv,noheader,nounits``;
- Prometheus text of Ascend's npu-exporter (``npu_chip_info_utilization``, label ``id``)
  and of NVIDIA's dcgm-exporter (``DCGM_FI_DEV_GPU_UTIL``, label ``gpu``).

A device a tool cannot read (``[N/A]``, a missing line) is left out: unknown use is
never taken for idle."""

from __future__ import annotations

import math
import re

from prometheus_client.parser import text_string_to_metric_families

NPU_EXPORTER = ("npu_chip_info_utilization", "id")
DCGM_EXPORTER = ("DCGM_FI_DEV_GPU_UTIL", "gpu")
AICORE = "Aicore Usage Rate(%)"


def _percent(text: str) -> float | None:
    try:
        value = float(text.strip().rstrip("%"))
    except ValueError:
        return None
    return min(max(value, 0.0), 100.0) if math.isfinite(value) else None


def npu_smi_mapping(text: str) -> dict[tuple[int, int], int]:
    """`npu-smi info -m` → {(npu id, chip id): chip logic id}; rows without a logic id
    (the card's MCU) are left out."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].isdigit() and parts[1].isdigit() and parts[2].isdigit():
            out[(int(parts[0]), int(parts[1]))] = int(parts[2])
    return out


_KV = re.compile(r"^\s*([^:]+?)\s*:\s*(.*?)\s*$")


def npu_smi_usages(text: str) -> dict[int, float]:
    """`npu-smi info -t usages -i N` → {chip id: AI Core use in percent}."""
    out: dict[int, float] = {}
    pending: float | None = None
    for line in text.splitlines():
        m = _KV.match(line)
        if not m:
            continue
        key, value = m.groups()
        if key == AICORE:
            pending = _percent(value)
        elif key == "Chip ID" and value.isdigit():
            if pending is not None:
                out[int(value)] = pending
            pending = None
    return out


def nvidia_smi(text: str) -> dict[int, float]:
    """`nvidia-smi --query-gpu=index,utilization.gpu --format=csv,noheader,nounits`."""
    out = {}
    for line in text.splitlines():
        index, _, value = line.partition(",")
        if index.strip().isdigit():
            use = _percent(value)
            if use is not None:
                out[int(index)] = use
    return out


def exporter(text: str, metric: tuple[str, str]) -> dict[int, float]:
    """An exporter's Prometheus text → {device: percent} of `metric` = (name, label)."""
    name, label = metric
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            index = sample.labels.get(label, "")
            if sample.name == name and index.isdigit():
                use = _percent(str(sample.value))
                if use is not None:
                    out[int(index)] = use
    return out


def simulated(text: str) -> float | None:
    """The content of STATE/devices/utilization/davinciN: a percentage."""
    return _percent(text) if text.strip() else 0.0
