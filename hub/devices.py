"""The ledger's device inventory: nodes and their devices, drains, and the device list.

:class:`InventoryMixin` is part of :class:`~npuhub.hub.ledger.Ledger` (it uses the
ledger's ``_write`` and ``_read`` transactions); a device is never deleted, only drained,
so its holder keeps it until release and the history stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import clock
from .orm import Allocation, Device, Node
from .quota import LedgerError

MANAGED_ELSEWHERE = ("file",)  # nodes declared with `npuhub apply`: sync_inventory leaves them


@dataclass(frozen=True)
class NodeSpec:
    name: str
    type: str
    rings: tuple[tuple[int, ...], ...]
    device_dir: str
    source: str

    @property
    def indices(self) -> list[int]:
        return sorted({i for ring in self.rings for i in ring})


def device_path(node_type: str, device_dir: str, index: int) -> str:
    prefix = "nvidia" if node_type == "nvidia" else "davinci"
    return f"{device_dir.rstrip('/')}/{prefix}{index}"


class InventoryMixin:
    """Nodes and devices of the :class:`~npuhub.hub.ledger.Ledger`."""

    def sync_inventory(self, specs: list[NodeSpec]) -> None:
        """Make the devices match `specs`: new nodes and devices appear, changed nodes are
        updated, devices no longer present are drained (never deleted: a holder keeps
        its device until release, and the history stays). Nodes declared with
        `npuhub apply` (source "file") are left alone when absent from `specs`."""
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"node names must be unique: {sorted(names)}")
        now = clock.utcnow()
        with self._write() as s:
            for spec in specs:
                self._upsert_node(s, spec, now)
            gone = s.scalars(
                select(Node).where(Node.name.not_in(names), Node.source.not_in(MANAGED_ELSEWHERE))
            )
            for node in gone:
                for device in node.devices:
                    self._mark_missing(device)

    def add_node(self, spec: NodeSpec) -> None:
        """Add or update one node (``npuhub apply`` of a Node), leaving the others."""
        with self._write() as s:
            self._upsert_node(s, spec, clock.utcnow())

    @staticmethod
    def _mark_missing(device: Device) -> None:
        if device.state == "available":
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
        for device in node.devices:
            if device.index in present:
                if device.drain_reason == "inventory":
                    device.state, device.drain_reason = "available", None
            else:
                self._mark_missing(device)
        known = {d.index for d in node.devices}
        for index in sorted(present - known):
            node.devices.append(Device(index=index, state="available", since=now))
        return node

    def drain(self, node: str, index: int) -> dict:
        """Never hand this device out again (until undrain); its holder keeps it."""
        with self._write() as s:
            device = self._device(s, node, index)
            if device.drain_reason != "inventory":
                device.state, device.drain_reason = "drained", "admin"
            return self._device_dict(device)

    def undrain(self, node: str, index: int) -> dict:
        with self._write() as s:
            device = self._device(s, node, index)
            if device.drain_reason == "inventory":
                raise LedgerError("device_gone", device=f"{node}:{index}")
            device.state, device.drain_reason = "available", None
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
