"""Topology rules of NPU nodes: how a node's devices group into HCCS rings, and where a
device node lives. Pure code: discovery (:mod:`.discovery`) and declared nodes use it to
describe a node, the inventory stores what it says, placement reads the rings."""

from __future__ import annotations

from dataclasses import dataclass

RING = 4  # an 8-chip Ascend 910 node is two HCCS rings of 4
RING_TYPES = ("Ascend910B", "Ascend910", "simulated")


@dataclass(frozen=True)
class NodeSpec:
    """A node as discovered, declared or simulated: what the inventory stores."""

    name: str
    type: str
    rings: tuple[tuple[int, ...], ...]
    device_dir: str
    source: str
    drained: bool = False  # its scheduler places nothing new there (Slurm DOWN/DRAIN)

    @property
    def indices(self) -> list[int]:
        return sorted({i for ring in self.rings for i in ring})


def rings_for(count: int, device_type: str) -> tuple[tuple[int, ...], ...]:
    """Topology groups: 910-class nodes of 8 are two rings of 4; others one group."""
    indices = tuple(range(count))
    if count == 8 and device_type in RING_TYPES:
        return (indices[:RING], indices[RING:])
    return (indices,)


def device_path(node_type: str, device_dir: str, index: int) -> str:
    """The device node of NPU `index`: ``/dev/davinciN`` (``/dev/nvidiaN`` on GPU nodes)."""
    prefix = "nvidia" if node_type == "nvidia" else "davinci"
    return f"{device_dir.rstrip('/')}/{prefix}{index}"
