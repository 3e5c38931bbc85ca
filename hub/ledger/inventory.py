"""The ledger's device inventory: nodes and their devices, drains, the device list, and
the topology of what is in the database (cached by version, see :mod:`.store`).

A device is never deleted, only drained, so its holder keeps it until release and the
history stays. Drain reasons: "admin" (an operator), "inventory" (gone from its node),
"slurm" (its node is DOWN or DRAIN in Slurm; back when Slurm resumes it).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from npuhub.hub import clock
from npuhub.hub.orm import Allocation, Device, Node

from . import store
from .quota import LedgerError
from .topology import NodeSpec, device_path

MANAGED_ELSEWHERE = ("file",)  # nodes declared with `npuhub apply`: sync leaves them

_NODES = select(Node.__table__.c.id, Node.name, Node.type, Node.rings, Node.device_dir)
_DEVICES = select(Device.__table__.c.id, Device.node_id, Device.index)


@dataclass(frozen=True)
class NodeTopology:
    name: str
    type: str
    rings: tuple[tuple[int, ...], ...]
    device_dir: str


@dataclass(frozen=True)
class Topology:
    """Nodes and device ids as stored, at inventory version ``version``."""

    version: int
    nodes: dict[str, NodeTopology]
    refs: dict[int, tuple[str, int]]  # device id -> (node, index)
    ids: dict[tuple[str, int], int]  # (node, index) -> device id

    def path(self, node: str, index: int) -> str:
        n = self.nodes[node]
        return device_path(n.type, n.device_dir, index)


def load_topology(conn: Connection, version: int) -> Topology:
    names: dict[int, str] = {}
    nodes: dict[str, NodeTopology] = {}
    for node_id, name, type_, rings, device_dir in conn.execute(_NODES):
        names[node_id] = name
        nodes[name] = NodeTopology(name, type_, tuple(tuple(r) for r in rings), device_dir)
    refs = {i: (names[n], index) for i, n, index in conn.execute(_DEVICES)}
    return Topology(version, nodes, refs, {ref: i for i, ref in refs.items()})


def _snapshot(s: Session) -> list[tuple]:
    """What a sync may change, to bump the inventory version only when it did."""
    q = (select(Node.name, Node.type, Node.rings, Node.device_dir, Node.source, Device.index,
                Device.state, Device.drain_reason)
         .outerjoin(Device, Device.node_id == Node.id).order_by(Node.name, Device.index))
    return [tuple(r) for r in s.execute(q)]


class Inventory(store.LedgerStore):
    """Nodes and devices of the platform database, and their topology."""

    def __init__(self, session_factory):
        super().__init__(session_factory)
        self._topology: Topology | None = None
        self._lock = threading.Lock()

    def topology(self, conn: Connection, version: int) -> Topology:
        """The topology at inventory `version` (read again only when it changed)."""
        cached = self._topology
        if cached is not None and cached.version == version:
            return cached
        fresh = load_topology(conn, version)
        with self._lock:
            if self._topology is None or self._topology.version < version:
                self._topology = fresh
        return fresh

    def version(self) -> int:
        """The inventory's version counter (grows with every change of nodes, devices,
        drains)."""
        with self._read() as s:
            return store.read(s.connection()).inventory

    def sync(self, specs: list[NodeSpec], if_version: int | None = None) -> bool:
        """Make the devices match `specs`: new nodes and devices appear, changed nodes are
        updated, devices no longer present are drained (never deleted: a holder keeps
        its device until release, and the history stays). A node whose spec says
        `drained` (Slurm DOWN/DRAIN) has its chips drained ("slurm"), back when it is not
        (an operator's drain stays). Nodes declared with `npuhub apply` (source "file")
        are left alone when absent from `specs`. `if_version`: change nothing when the
        inventory is no longer at this version (an operator drained or undrained while
        `specs` were read: they may be older than that). Returns whether it changed."""
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"node names must be unique: {sorted(names)}")
        now = clock.utcnow()
        with self._write() as s:
            if if_version is not None and store.read(s.connection()).inventory != if_version:
                return False
            before = _snapshot(s)
            for spec in specs:
                self._upsert_node(s, spec, now)
            gone = s.scalars(
                select(Node).where(Node.name.not_in(names), Node.source.not_in(MANAGED_ELSEWHERE))
            )
            for node in gone:
                for device in node.devices:
                    self._mark_missing(device)
            changed = _snapshot(s) != before
            if changed:
                self._changed(s)
            return changed

    def add_node(self, spec: NodeSpec) -> None:
        """Add or update one node (``npuhub apply`` of a Node), leaving the others."""
        with self._write() as s:
            self._upsert_node(s, spec, clock.utcnow())
            self._changed(s)

    @staticmethod
    def _changed(s: Session) -> None:
        s.flush()
        store.bump(s.connection(), store.INVENTORY, store.HOLDINGS)

    @staticmethod
    def _mark_missing(device: Device) -> None:
        if device.state == "available" or device.drain_reason == "slurm":
            device.state, device.drain_reason = "drained", "inventory"

    def _upsert_node(self, s: Session, spec: NodeSpec, now: datetime) -> Node:
        rings = [list(r) for r in spec.rings]
        node = Node.find(s, spec.name)
        if node is None:
            node = Node(name=spec.name, created=now, devices=[])
            s.add(node)
        node.type, node.rings, node.device_dir, node.source = (
            spec.type,
            rings,
            spec.device_dir,
            spec.source,
        )
        present = set(spec.indices)
        known = {d.index for d in node.devices}
        for index in sorted(present - known):
            node.devices.append(Device(index=index, state="available", since=now))
        for device in node.devices:
            if device.index not in present:
                self._mark_missing(device)
                continue
            if device.drain_reason == "inventory" or (
                device.drain_reason == "slurm" and not spec.drained
            ):
                device.state, device.drain_reason = "available", None
            if spec.drained and device.state == "available":
                device.state, device.drain_reason = "drained", "slurm"
        return node

    def drain(self, node: str, index: int) -> dict:
        """Never hand this device out again (until undrain); its holder keeps it."""
        with self._write() as s:
            device = self._device(s, node, index)
            if device.drain_reason != "inventory":
                device.state, device.drain_reason = "drained", "admin"
            self._changed(s)
            return self._device_dict(device)

    def undrain(self, node: str, index: int) -> dict:
        with self._write() as s:
            device = self._device(s, node, index)
            present = {i for ring in device.node.rings or [] for i in ring}
            # gone from its node: drained by the sync, or drained by an operator before
            if device.drain_reason == "inventory" or device.index not in present:
                raise LedgerError("device_gone", device=f"{node}:{index}")
            device.state, device.drain_reason = "available", None
            self._changed(s)
            return self._device_dict(device)

    @staticmethod
    def _device(s: Session, node: str, index: int) -> Device:
        device = Device.find(s, node, index)
        if device is None:
            raise LedgerError("no_device", device=f"{node}:{index}")
        return device

    def devices(self) -> list[dict]:
        """Every device: node, index, type, state, holder (or None), since, path."""
        with self._read() as s:
            rows = s.scalars(select(Device).join(Node).order_by(Node.name, Device.index)).all()
            allocs = {
                a.id: a
                for a in s.scalars(
                    select(Allocation).where(
                        Allocation.id.in_({d.allocation_id for d in rows if d.allocation_id})
                    )
                )
            }
            return [self._device_dict(d, allocs.get(d.allocation_id)) for d in rows]

    @staticmethod
    def _device_dict(d: Device, alloc: Allocation | None = None) -> dict:
        if alloc is None and d.allocation_id is not None:
            alloc = d.allocation
        holder = None
        if alloc is not None:
            holder = {
                "user": alloc.user,
                "kind": alloc.kind,
                "holder": alloc.holder,
                "account": alloc.account,
                "allocation_id": alloc.id,
            }
        return {
            "node": d.node.name,
            "index": d.index,
            "type": d.node.type,
            "state": d.state,
            "drain_reason": d.drain_reason,
            "holder": holder,
            "since": d.since,
            "path": device_path(d.node.type, d.node.device_dir, d.index),
        }
