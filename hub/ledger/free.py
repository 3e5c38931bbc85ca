"""The free devices as placement sees them (one :class:`~npuhub.hub.placement.NodeView`
per node), remembered between grants.

Reading every free device for every grant is what made a grant slow on a large cluster.
Instead the ledger keeps a :class:`FreeDevices` snapshot tagged with the holdings version
it is true at (:mod:`.store`): a grant or a release that finds the version it expects
updates the snapshot by what it took or gave back; one that does not (another process
wrote in between, or a drain) reads the devices again. The compare-and-set update of the
grant stays the guarantee that no device is held twice, whatever a snapshot says.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, select

from npuhub.hub.orm import Device
from npuhub.hub.placement import NodeView

from .inventory import Topology
from .store import Versions

_DEVICES = select(Device.__table__.c.id, Device.state, Device.allocation_id)


@dataclass(frozen=True)
class FreeDevices:
    """Which devices are in service and free, at holdings version ``holdings``."""

    topology: Topology
    holdings: int
    views: dict[str, NodeView]  # node -> its free devices
    in_service: dict[str, int]  # node -> devices not drained (held or free)
    drained: frozenset[int]  # device ids out of service

    def node_views(self) -> list[NodeView]:
        return list(self.views.values())

    def in_service_count(self, device_type: str | None = None) -> int:
        nodes = self.topology.nodes
        return sum(
            n for name, n in self.in_service.items()
            if device_type is None or nodes[name].type == device_type
        )

    def _with(self, changes: dict[str, frozenset[int]]) -> FreeDevices:
        views = dict(self.views)
        for name, free in changes.items():
            v = views[name]
            views[name] = NodeView(v.name, v.type, v.rings, free)
        return FreeDevices(self.topology, self.holdings, views, self.in_service, self.drained)

    def taken(self, refs: Iterable[tuple[str, int]]) -> FreeDevices:
        """Without the devices `refs` (granted)."""
        changes: dict[str, set[int]] = {}
        for node, index in refs:
            changes.setdefault(node, set(self.views[node].free)).discard(index)
        return self._with({n: frozenset(f) for n, f in changes.items()})

    def returned(self, device_ids: Iterable[int]) -> FreeDevices:
        """With the devices `device_ids` (released) that are in service."""
        changes: dict[str, set[int]] = {}
        for device_id in device_ids:
            if device_id in self.drained or device_id not in self.topology.refs:
                continue
            node, index = self.topology.refs[device_id]
            changes.setdefault(node, set(self.views[node].free)).add(index)
        return self._with({n: frozenset(f) for n, f in changes.items()}) if changes else self


def load(conn: Connection, topology: Topology, holdings: int) -> FreeDevices:
    """Read the devices' states and holders (inside the caller's transaction)."""
    free: dict[str, set[int]] = {name: set() for name in topology.nodes}
    in_service = dict.fromkeys(topology.nodes, 0)
    drained = set()
    for device_id, state, holder in conn.execute(_DEVICES):
        ref = topology.refs.get(device_id)
        if ref is None:  # appeared after the topology was read: not handed out yet
            continue
        if state != "available":
            drained.add(device_id)
            continue
        in_service[ref[0]] += 1
        if holder is None:
            free[ref[0]].add(ref[1])
    views = {
        name: NodeView(name=name, type=n.type, rings=n.rings, free=frozenset(free[name]))
        for name, n in sorted(topology.nodes.items())
    }
    return FreeDevices(topology, holdings, views, in_service, frozenset(drained))


class FreeTracker:
    """The snapshot this process remembers (threads share it; each writer installs what
    its transaction leaves, tagged with the version it bumped to)."""

    def __init__(self) -> None:
        self._current: FreeDevices | None = None
        self._lock = threading.Lock()

    def valid(self, versions: Versions, bumped: bool = True) -> FreeDevices | None:
        """The remembered snapshot if nothing changed since it (`bumped`: the caller's
        transaction already counted its own write), else None."""
        cur = self._current
        expected = versions.holdings - 1 if bumped else versions.holdings
        if (
            cur is not None
            and cur.holdings == expected
            and cur.topology.version == versions.inventory
        ):
            return cur
        return None

    def install(self, snapshot: FreeDevices, holdings: int) -> None:
        snapshot = FreeDevices(
            snapshot.topology, holdings, snapshot.views, snapshot.in_service, snapshot.drained
        )
        with self._lock:
            if self._current is None or self._current.holdings <= holdings:
                self._current = snapshot

    def forget(self) -> None:
        with self._lock:
            self._current = None
