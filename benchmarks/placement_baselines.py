"""Baselines of the placement policy, for ``benchmarks/placement.py``: first fit and best
fit (the usual ones, same signature as :func:`npuhub.hub.placement.place`), and
:func:`stranded`, the fragmentation a placement leaves: free devices that no waiting
request could use, judged by npuhub's rules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from npuhub.hub.placement import RING_ALIGNED, NodeView, Placement


def _check_count(count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"count must be an int, not {type(count).__name__}")
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")


def _of_type(nodes: Sequence[NodeView], device_type: str | None) -> Sequence[NodeView]:
    if device_type is None:
        return nodes
    return [n for n in nodes if n.type == device_type]


def _groups(node: NodeView) -> tuple[tuple[int, ...], ...]:
    return node.rings if node.rings else (tuple(sorted(node.free)),)


def _size(node: NodeView) -> int:
    return sum(len(r) for r in node.rings) if node.rings else len(node.free)


def first_fit(
    nodes: Sequence[NodeView], count: int, device_type: str | None = None
) -> Placement | None:
    """Baseline: the first node in order with enough free devices, lowest indices.

    No ring awareness. If no single node has enough, takes free devices node after node
    in order (spanning nodes only when needed); ``None`` if the total is not enough.
    """
    _check_count(count)
    if count == 0:
        return []
    candidates = _of_type(nodes, device_type)
    for node in candidates:
        if len(node.free) >= count:
            return sorted((node.name, d) for d in sorted(node.free)[:count])
    chosen: list[tuple[str, int]] = []
    for node in candidates:
        for d in sorted(node.free):
            chosen.append((node.name, d))
            if len(chosen) == count:
                return sorted(chosen)
    return None


def best_fit(
    nodes: Sequence[NodeView], count: int, device_type: str | None = None
) -> Placement | None:
    """Baseline: the single node with the fewest free devices that fits, lowest indices.

    No ring awareness, never spans nodes (``None`` for a request larger than every
    node's free devices); ties go to the node name.
    """
    _check_count(count)
    if count == 0:
        return []
    best: NodeView | None = None
    for node in _of_type(nodes, device_type):
        n = len(node.free)
        if n >= count and (
            best is None or n < len(best.free) or (n == len(best.free) and node.name < best.name)
        ):
            best = node
    if best is None:
        return None
    return sorted((best.name, d) for d in sorted(best.free)[:count])


def stranded(nodes: Sequence[NodeView], waiting_counts: Iterable[int]) -> int:
    """Free devices that no waiting request could use, by :func:`place`'s rules.

    A free device is usable by a waiting request of ``c`` devices if ``c`` could be
    placed on its node with this device among the candidates: in a ring with at least
    ``c`` free devices for ring-aligned sizes (1, 2, 4) on nodes whose rings are that
    large; on a node with at least ``c`` free devices otherwise; and, for requests
    larger than every node, on a node that is entirely free (remainders on partly used
    nodes are not counted). With nothing waiting, nothing is stranded: 0.
    """
    counts = sorted({c for c in waiting_counts if c > 0})
    if not counts:
        return 0
    largest = max((_size(n) for n in nodes), default=0)
    total = 0
    for node in nodes:
        node_free = len(node.free)
        if not node_free:
            continue
        groups = _groups(node)
        size, max_ring = sum(len(g) for g in groups), max(len(g) for g in groups)
        ring_free = [len(node.free.intersection(r)) for r in groups]
        usable = [False] * len(groups)
        for c in counts:
            if c > largest:
                if node_free == size:
                    usable = [True] * len(groups)
            elif c > size or node_free < c:
                continue
            elif c in RING_ALIGNED and max_ring >= c:
                for i, f in enumerate(ring_free):
                    if f >= c:
                        usable[i] = True
            else:
                usable = [True] * len(groups)
            if all(usable):
                break
        total += sum(f for f, u in zip(ring_free, usable, strict=True) if not u)
    return total
