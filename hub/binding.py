"""Device binding, pure: an NPU allocation → Docker devices, driver mounts and env.

The Ascend device nodes and driver paths every container of npuhub uses are named here
once (the user server, the batch job, the Slurm job script: see :mod:`.containers`).
No I/O here: whether a driver path exists on the host is passed in (`exists`), so the
result for a given allocation is a literal dict, checked as such in the unit tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

SHARED_ASCEND_NODES = ("davinci_manager", "devmm_svm", "hisi_hdc")
DEFAULT_DRIVER_PATHS = (
    "/usr/local/Ascend/driver",
    "/usr/local/dcmi",
    "/usr/local/bin/npu-smi",
)
MODES = ("devices", "runtime", "nvidia")


@dataclass(frozen=True)
class Device:
    node: str
    index: int
    path: str  # the host path of the device node, e.g. /dev/davinci3


def ascend_devices(devices: Sequence[Device]) -> list[str]:
    """Docker `devices` entries: each chip plus the three shared management nodes,
    taken from the folder the chips live in (/dev on a real host)."""
    if not devices:
        return []
    entries = [f"{d.path}:/dev/davinci{d.index}:rwm" for d in devices]
    folder = os.path.dirname(devices[0].path)
    entries += [f"{folder}/{name}:/dev/{name}:rwm" for name in SHARED_ASCEND_NODES]
    return entries


def driver_binds(paths: Sequence[str], exists: Callable[[str], bool]) -> dict[str, dict]:
    """Read-only bind mounts of the Ascend driver paths present on the host."""
    return {p: {"bind": p, "mode": "ro"} for p in paths if exists(p)}


def binding(
    devices: Sequence[Device],
    *,
    account: str,
    mode: str = "devices",
    driver_paths: Sequence[str] = DEFAULT_DRIVER_PATHS,
    exists: Callable[[str], bool] = os.path.exists,
) -> dict:
    """What a container needs to use `devices`:
    {"host_config": {...docker host-config keys...}, "binds": {...}, "env": {...}}.

    - devices: Ascend by device nodes (`/dev/davinciN` + shared nodes + driver mounts)
    - runtime: Ascend docker runtime (`runtime: ascend`), which binds by the env alone
    - nvidia: `device_requests` with the device ids
    """
    if mode not in MODES:
        raise ValueError(f"binding mode {mode!r} is not one of {', '.join(MODES)}")
    indices = ",".join(str(d.index) for d in sorted(devices, key=lambda d: d.index))
    env = {"NPUHUB_NPUS": str(len(devices)), "NPUHUB_ACCOUNT": account}
    host_config: dict = {}
    binds: dict = {}
    if devices:
        if mode == "devices":
            env["ASCEND_VISIBLE_DEVICES"] = indices
            host_config["devices"] = ascend_devices(devices)
            binds = driver_binds(driver_paths, exists)
        elif mode == "runtime":
            env["ASCEND_VISIBLE_DEVICES"] = indices
            host_config["runtime"] = "ascend"
        else:
            env["NVIDIA_VISIBLE_DEVICES"] = indices
            host_config["device_requests"] = [
                {
                    "Driver": "nvidia",
                    "DeviceIDs": [str(d.index) for d in devices],
                    "Capabilities": [["gpu"]],
                }
            ]
    else:
        env["ASCEND_VISIBLE_DEVICES"] = ""
    return {"host_config": host_config, "binds": binds, "env": env}

