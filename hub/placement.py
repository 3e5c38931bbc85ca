"""Where a request for N accelerators goes: pure placement policy, no I/O.

The ledger builds one :class:`NodeView` per node from its database rows (which devices
are available, not drained and not held) and asks :func:`place` for a set of devices;
it then records the allocation in its own transaction. Nothing here reads a clock, a
file or a database, so the policy is tested with literal expectations and replayed
against production traces (``benchmarks/placement.py``).

The policy, in order of priority:

1. **Fewest nodes.** A request that fits in one node goes to one node.
2. **HCCS rings.** On Ascend 910 nodes the chips form rings of 4 (``(0,1,2,3)`` and
   ``(4,5,6,7)``); a job of 1, 2 or 4 chips spread over two rings communicates slowly.
   Such a request stays inside one ring whenever the node's rings are at least that
   large, and is refused rather than split when no ring can hold it right now. Sizes
   that are not ring-aligned (3, 5, 6, 7) stay in one node, filling its fullest rings
   first.
3. **Pack.** Take the ring with the fewest free devices that still fits, then the node
   with the fewest free devices, then the node name (deterministic); the lowest indices
   inside the ring. Whole rings and whole nodes stay free for large requests.
4. **Larger than any node.** Whole free nodes first (largest first, so fewest nodes),
   then the remainder by the rules above.

The usual baselines (first fit, best fit) and the fragmentation measure live with the
benchmark that compares them (``benchmarks/placement_baselines.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain

__all__ = ["RING_ALIGNED", "NodeView", "Placement", "place"]

#: request sizes that must stay inside one topology group (ring) when a ring can hold them
RING_ALIGNED = frozenset({1, 2, 4})

Placement = list[tuple[str, int]]


@dataclass(frozen=True)
class NodeView:
    """What the placement policy sees of one node at one instant.

    ``rings`` are the topology groups (HCCS rings): an 8-chip 910 node is
    ``((0, 1, 2, 3), (4, 5, 6, 7))``; a node without topology is one group of all its
    devices (``rings=()`` is read as one group of its free devices). ``free`` are the
    indices that can be handed out now (available, not drained, not held); they must
    belong to the rings.
    """

    name: str
    type: str
    rings: tuple[tuple[int, ...], ...]
    free: frozenset[int]

    def __post_init__(self) -> None:
        if self.rings and not self.free.issubset(chain.from_iterable(self.rings)):
            stray = sorted(self.free.difference(chain.from_iterable(self.rings)))
            raise ValueError(f"node {self.name}: free devices {stray} are in no ring")


@lru_cache(maxsize=256)
def _shape(rings: tuple[tuple[int, ...], ...]) -> tuple[int, int, int]:
    """(devices, largest ring, smallest ring) of a topology; there are few distinct ones."""
    lengths = [len(r) for r in rings]
    return sum(lengths), max(lengths), min(lengths)


def _check_count(count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"count must be an int, not {type(count).__name__}")
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")


def _groups(node: NodeView) -> tuple[tuple[int, ...], ...]:
    return node.rings if node.rings else (tuple(sorted(node.free)),)


def _size(node: NodeView) -> int:
    return _shape(node.rings)[0] if node.rings else len(node.free)


def _of_type(nodes: Sequence[NodeView], device_type: str | None) -> Sequence[NodeView]:
    if device_type is None:
        return nodes
    return [n for n in nodes if n.type == device_type]


def _fill_fullest_rings(node: NodeView, count: int) -> list[int]:
    """Take ``count`` free devices of one node, fullest (fewest free) rings first."""
    groups = _groups(node)
    per_ring = [sorted(node.free.intersection(r)) for r in groups]
    chosen: list[int] = []
    for _, _, devices in sorted((len(d), i, d) for i, d in enumerate(per_ring) if d):
        chosen.extend(devices[: count - len(chosen)])
        if len(chosen) == count:
            break
    return chosen


def _best_single(
    nodes: Iterable[NodeView], count: int, device_type: str | None
) -> tuple[tuple[NodeView, list[int]] | None, bool]:
    """The best one-node placement of ``count`` devices (rules 2 and 3), and whether any
    node of the type has that many devices at all, in one pass over the nodes.

    The best candidate minimises (free devices of the ring, free devices of the node,
    node name, ring index); nodes that cannot beat the current best are skipped before
    their rings are counted (a call over the 1,213 nodes of the OpenB trace takes about
    0.2 ms, p95 about 1 ms; see benchmarks/placement.py).
    """
    aligned = count in RING_ALIGNED
    fits = False  # some node has at least `count` devices, free or not
    best_node: NodeView | None = None
    best_rf = best_nf = 0
    best_name = ""
    best_ring = -1  # -1: not ring-constrained on that node, fill the fullest rings
    for node in nodes:
        if device_type is not None and node.type != device_type:
            continue
        free = node.free
        nf = len(free)
        rings = node.rings
        if nf < count:
            if not fits and rings:
                fits = _shape(rings)[0] >= count
            continue
        fits = True
        name = node.name
        # every key is at least (count, nf, name): once the best ring is exactly full,
        # a node with more free devices cannot win, whatever its rings
        if best_rf == count and (nf > best_nf or (nf == best_nf and name > best_name)):
            continue
        if aligned:
            size, max_ring, min_ring = _shape(rings) if rings else (nf, nf, nf)
        if aligned and max_ring >= count:
            # ring-constrained here: a ring holds at least `count` and at least what the
            # other rings cannot hold; skip the node if even that bound cannot win
            rf = max(count, nf - size + min_ring)
            if best_node is not None and (
                rf > best_rf
                or (rf == best_rf and (nf > best_nf or (nf == best_nf and name > best_name)))
            ):
                continue
            if not rings:
                rings = (tuple(sorted(free)),)
            for i, ring in enumerate(rings):
                rf = len(free.intersection(ring))
                if rf >= count and (
                    best_node is None
                    or rf < best_rf
                    or (rf == best_rf and (nf < best_nf or (nf == best_nf and name < best_name)))
                ):
                    best_node, best_rf, best_nf, best_name, best_ring = node, rf, nf, name, i
        elif best_node is None or (
            nf < best_rf
            or (nf == best_rf and (nf < best_nf or (nf == best_nf and name < best_name)))
        ):
            best_node, best_rf, best_nf, best_name, best_ring = node, nf, nf, name, -1
    if best_node is None:
        return None, fits
    if best_ring >= 0:
        ring = _groups(best_node)[best_ring]
        return (best_node, sorted(best_node.free.intersection(ring))[:count]), fits
    return (best_node, _fill_fullest_rings(best_node, count)), fits


def place(
    nodes: Sequence[NodeView], count: int, device_type: str | None = None
) -> Placement | None:
    """Choose ``count`` devices by npuhub's policy (see the module docstring).

    Returns the sorted ``(node name, device index)`` pairs, ``[]`` for a count of 0, or
    ``None`` if the request cannot be satisfied now. ``device_type`` keeps only nodes
    of that type (``None``: any). Raises ``ValueError`` for a negative count.
    """
    _check_count(count)
    if count == 0:
        return []
    single, fits = _best_single(nodes, count, device_type)
    if fits:
        if single is None:
            return None
        node, devices = single
        return sorted((node.name, d) for d in devices)

    # larger than any node: whole free nodes (largest first), then the remainder
    whole: list[tuple[int, str, NodeView]] = []
    for node in _of_type(nodes, device_type):
        size = _size(node)
        if size and len(node.free) == size:
            whole.append((-size, node.name, node))
    whole.sort(key=lambda t: (t[0], t[1]))
    remaining = count
    taken: set[str] = set()
    result: Placement = []
    for neg_size, name, node in whole:
        if -neg_size <= remaining:
            taken.add(name)
            result.extend((name, d) for d in sorted(node.free))
            remaining += neg_size
            if remaining == 0:
                break
    if remaining:
        rest = [n for n in _of_type(nodes, device_type) if n.name not in taken]
        single, _ = _best_single(rest, remaining, None)
        if single is None:
            return None
        node, devices = single
        result.extend((node.name, d) for d in devices)
    return sorted(result)
