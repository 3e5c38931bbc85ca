"""Where the NPUs of this host are: discovered (``/dev/davinci*``), declared in config,
or simulated (character devices that behave like /dev/null). I/O on this host only; the
inventory stores what it finds."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from .topology import NodeSpec, rings_for

DAVINCI = re.compile(r"^davinci(\d+)$")
SHARED_NODES = ("davinci_manager", "devmm_svm", "hisi_hdc")


def discover(device_dir: str | os.PathLike = "/dev") -> list[int]:
    """Indices of /dev/davinciN character devices on this host."""
    found = []
    try:
        names = os.listdir(device_dir)
    except FileNotFoundError:
        return []
    for name in names:
        m = DAVINCI.match(name)
        if m and stat.S_ISCHR(os.stat(Path(device_dir, name)).st_mode):
            found.append(int(m.group(1)))
    return sorted(found)


def make_simulated(device_dir: Path, count: int) -> None:
    """Character devices that behave like /dev/null (major 1, minor 3), named like the
    real ones, so the spawner binds them exactly as it binds real NPUs."""
    device_dir.mkdir(parents=True, exist_ok=True)
    names = [f"davinci{i}" for i in range(count)] + list(SHARED_NODES)
    for name in names:
        path = device_dir / name
        if path.exists():
            if stat.S_ISCHR(path.stat().st_mode):
                continue
            path.unlink()
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.chmod(path, 0o666)  # noqa: S103 - device nodes, like /dev/davinci*


def local_nodes(
    *, hostname: str, device_dir: str, declared: list[dict], simulated_npus: int, state_dir: Path
) -> list[NodeSpec]:
    """The inventory this host contributes: declared nodes, else the discovered
    /dev/davinci*, else a simulated node of `simulated_npus` devices."""
    specs = [node_spec(d) for d in declared]
    if specs:
        return specs
    found = discover(device_dir)
    if found:
        return [
            NodeSpec(
                name=hostname,
                type="Ascend910B" if len(found) == 8 else "Ascend310P",
                rings=rings_for(len(found), "Ascend910B" if len(found) == 8 else "Ascend310P"),
                device_dir=device_dir,
                source="discovered",
            )
        ]
    if simulated_npus:
        sim_dir = state_dir / "devices"
        make_simulated(sim_dir, simulated_npus)
        return [
            NodeSpec(
                name=f"{hostname}-sim",
                type="simulated",
                rings=rings_for(simulated_npus, "simulated"),
                device_dir=str(sim_dir),
                source="simulated",
            )
        ]
    return []


def node_spec(d: dict, source: str = "config") -> NodeSpec:
    """A declared node: {"name", "type", "devices" or "rings", "device_dir"}."""
    name = str(d["name"])
    dtype = str(d.get("type", "Ascend910B"))
    if "rings" in d:
        rings = tuple(tuple(int(i) for i in r) for r in d["rings"])
    else:
        rings = rings_for(int(d["devices"]), dtype)
    return NodeSpec(
        name=name, type=dtype, rings=rings, device_dir=str(d.get("device_dir", "/dev")),
        source=source,
    )
