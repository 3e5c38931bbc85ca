"""Where the NPUs of a cluster are: Slurm's nodes and their GRES ``npu``, read from
``scontrol show node -o`` (one line per node). Pure code: :mod:`npuhub.hub.slurm_inventory`
runs scontrol and hands the inventory what this says.

A node counts when it is in one of the platform's partitions and has ``npu`` GRES:
``Gres=npu:4``, typed ``Gres=npu:910b:8(S:0-1)`` (Ascend), or several entries
(``gpu:2,npu:910b:8``). A node Slurm reports DOWN, DRAIN, FAIL or FUTURE is drained.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .topology import NodeSpec, rings_for

SOURCE = "slurm"
GRES_NAME = "npu"
UNTYPED = "npu"  # a GRES "npu" without a type: Slurm does not say which chip
# Slurm's GRES type (lower case) -> the ledger's device type (profiles' device_type)
TYPES = {"910b": "Ascend910B", "910": "Ascend910", "910a": "Ascend910",
         "310p": "Ascend310P", "310": "Ascend310"}
DRAINED_BASE = ("DOWN", "FUTURE", "ERROR")
DRAINED_FLAGS = ("DRAIN", "FAIL")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_COUNT = re.compile(r"^(\d{1,4})$")


@dataclass(frozen=True)
class SlurmNode:
    """One node as Slurm reports it."""

    name: str
    partitions: tuple[str, ...]
    npus: int
    gres_type: str  # the device type (TYPES), else Slurm's type, else UNTYPED
    state: str  # Slurm's State, e.g. IDLE, MIXED+DRAIN, DOWN*+DRAIN

    @property
    def drained(self) -> bool:
        return node_drained(self.state)


def _field(line: str, key: str) -> str | None:
    m = re.search(rf"(?:^|\s){key}=(\S*)", line)
    return m.group(1) if m else None


def split_gres(gres: str) -> list[str]:
    """``gpu:2,npu:910b:8(S:0,1)`` -> ["gpu:2", "npu:910b:8(S:0,1)"] (commas inside
    parentheses belong to their entry)."""
    out, depth, cur = [], 0, ""
    for ch in gres:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(depth - 1, 0)
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [e for e in out if e]


def npu_gres(gres: str) -> tuple[int, str]:
    """(count, device type) of the ``npu`` entries of a node's Gres; (0, UNTYPED) for
    ``(null)`` or none. Typed entries of one type give that type (``910b`` -> Ascend910B);
    several types on one node give UNTYPED."""
    count, types = 0, set()
    for entry in split_gres(gres):
        parts = entry.split("(", 1)[0].split(":")
        if parts[0] != GRES_NAME or len(parts) not in (2, 3):
            continue
        m = _COUNT.match(parts[-1])
        if not m:
            continue
        count += int(m.group(1))
        types.add(parts[1].lower() if len(parts) == 3 else "")
    if len(types) != 1 or "" in types:
        return count, UNTYPED
    (t,) = types
    return count, TYPES.get(t, t)


def node_drained(state: str) -> bool:
    """Whether Slurm places nothing new on a node of this State: base DOWN/FUTURE/ERROR
    or a DRAIN/FAIL flag (``IDLE+DRAIN``, ``MIXED+DRAIN``, ``DOWN*``). A node that does
    not answer for a moment (``IDLE*``) is not drained."""
    base, *flags = state.upper().split("+")
    return base.rstrip("*~#!%$@^-") in DRAINED_BASE or any(
        f.rstrip("*") in DRAINED_FLAGS for f in flags)


def parse_nodes(text: str) -> list[SlurmNode]:
    """Every node of ``scontrol show node -o`` output (lines without a valid NodeName,
    such as "No nodes in the system", are skipped)."""
    nodes = []
    for raw in text.splitlines():
        # Reason (free text, may hold spaces and "Key=") is scontrol's last field
        line = re.split(r"\sReason=", raw, maxsplit=1)[0]
        name = _field(line, "NodeName")
        if not name or not _NAME.match(name):
            continue
        npus, gtype = npu_gres(_field(line, "Gres") or "")
        parts = tuple(p for p in (_field(line, "Partitions") or "").split(",") if p)
        nodes.append(SlurmNode(name, parts, npus, gtype, _field(line, "State") or ""))
    return nodes


def node_specs(nodes: list[SlurmNode], partitions: set[str] | None,
               device_dir: str, per_node_dir: bool) -> list[NodeSpec]:
    """The inventory of `nodes`: those with npu GRES in one of `partitions` (None: all),
    devices 0..N-1 in gres.conf's order under `device_dir` (``device_dir/NODE`` when
    `per_node_dir`, for several slurmd on one host), drained as Slurm says."""
    specs = []
    for n in nodes:
        if n.npus <= 0 or (partitions is not None and not partitions & set(n.partitions)):
            continue
        folder = f"{device_dir.rstrip('/')}/{n.name}" if per_node_dir else device_dir
        specs.append(NodeSpec(n.name, n.gres_type, rings_for(n.npus, n.gres_type), folder,
                              SOURCE, drained=n.drained))
    return specs
