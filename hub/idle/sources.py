"""Where each device's use is read, per node (``c.NPUHub.npu_utilization_source``):
simulated files, ``npu-smi``, ``nvidia-smi`` (commands on this host), or an exporter's
/metrics (Ascend's npu-exporter, NVIDIA's dcgm-exporter; one per node, e.g. in cluster
mode). Each returns {device index: percent} for the devices it could read; the text is
parsed by :mod:`.parsers`. Nothing here takes user input: node names and URLs come from
the deployment's configuration and the inventory."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient

from . import parsers

log = logging.getLogger("npuhub.idle")
COMMAND_TIMEOUT_S = 20


@dataclass(frozen=True)
class NodeInfo:
    name: str
    type: str
    device_dir: str


def utilization_dir(device_dir: str) -> Path:
    """STATE/devices/utilization for the simulated node (its devices are STATE/devices)."""
    return Path(device_dir) / "utilization"


def read_simulated(node: NodeInfo, indices: list[int]) -> dict[int, float]:
    """STATE/devices/utilization/davinciN: a percentage; absent means 0."""
    out = {}
    folder = utilization_dir(node.device_dir)
    for i in indices:
        try:
            use = parsers.simulated((folder / f"davinci{int(i)}").read_text()[:64])
        except FileNotFoundError:
            use = 0.0
        except (OSError, UnicodeDecodeError):
            use = None
        if use is not None:
            out[int(i)] = use
    return out


def is_fake(node: NodeInfo, indices: list[int]) -> bool:
    """Whether the node's device files behave like /dev/null (simulated or test nodes)."""
    prefix = "nvidia" if node.type == "nvidia" else "davinci"
    for i in indices[:1]:
        try:
            st = os.stat(Path(node.device_dir, f"{prefix}{int(i)}"))
        except OSError:
            return False
        return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    return False


async def run(*argv: str) -> str:
    """A command's standard output (no shell; its arguments are ours, never a user's)."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), COMMAND_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {proc.returncode}")
    return out.decode(errors="replace")


async def read_npu_smi(indices: list[int]) -> dict[int, float]:
    """AI Core use of this host's NPUs: `npu-smi info -m` maps logic ids (davinciN) to
    (card, chip); `npu-smi info -t usages -i CARD` per card asked for."""
    mapping = parsers.npu_smi_mapping(await run("npu-smi", "info", "-m"))
    wanted = {logic: ref for ref, logic in mapping.items() if logic in set(indices)}
    out = {}
    for card in sorted({card for card, _ in wanted.values()}):
        usages = parsers.npu_smi_usages(await run("npu-smi", "info", "-t", "usages",
                                                  "-i", str(card)))
        for logic, (c, chip) in wanted.items():
            if c == card and chip in usages:
                out[logic] = usages[chip]
    return out


async def read_nvidia_smi(indices: list[int]) -> dict[int, float]:
    text = await run("nvidia-smi", "--query-gpu=index,utilization.gpu",
                     "--format=csv,noheader,nounits")
    use = parsers.nvidia_smi(text)
    return {i: use[i] for i in indices if i in use}


async def read_exporter(url: str, metric: tuple[str, str], indices: list[int]) -> dict[int, float]:
    resp = await AsyncHTTPClient().fetch(url, request_timeout=COMMAND_TIMEOUT_S)
    use = parsers.exporter(resp.body.decode(errors="replace"), metric)
    return {i: use[i] for i in indices if i in use}


def choose(source: str, node: NodeInfo, indices: list[int]) -> str:
    """The source of a node: `source` unless "auto", which decides by the node."""
    if source != "auto":
        return source
    if node.type == "simulated" or is_fake(node, indices):
        return "simulated"
    return "nvidia-smi" if node.type == "nvidia" else "npu-smi"


async def read_node(source: str, url: str, node: NodeInfo, indices: list[int]) -> dict[int, float]:
    """{index: percent} of `indices` on `node`; devices that could not be read are left
    out (and the failure logged), so they are never taken for idle."""
    kind = choose(source, node, indices)
    try:
        if kind == "simulated":
            return read_simulated(node, indices)
        if kind == "npu-smi":
            return await read_npu_smi(indices)
        if kind == "nvidia-smi":
            return await read_nvidia_smi(indices)
        metric = parsers.NPU_EXPORTER if kind == "npu-exporter" else parsers.DCGM_EXPORTER
        return await read_exporter(url.replace("{node}", node.name), metric, indices)
    except Exception as e:  # a missing tool or exporter: no reading, nothing reclaimed
        log.warning("Reading device use of node %s (%s) failed: %s", node.name, kind, e)
        return {}
