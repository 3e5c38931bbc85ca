"""What the operators see at a glance (the /hub/operators page, `npuhub devices`): every
device with its state and holder, the line of waiting requests, and the quotas with
their per-user overrides, read from the platform database when asked.

A device is ``free``, ``held``, ``drained`` or ``idle-held`` (held but idle, where
idleness is known: the caller passes what it knows as ``idle``, seconds per
(node, index); without it no device is called idle).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from npuhub.hub.jobs.models import Job
from npuhub.hub.line.models import LineRequest
from npuhub.hub.orm import Allocation, Device, Node

STATES = ("held", "idle-held", "free", "drained")


def device_state(state: str, allocation_id: int | None) -> str:
    """free | held | drained: a drained device still held counts as held until released."""
    if allocation_id is not None:
        return "held"
    return "drained" if state == "drained" else "free"


def holder_label(holder: Mapping | None) -> str:
    """"alice: server" (the default server), "alice: server gpu1", "alice: job 12", or "-"."""
    if not holder:
        return "-"
    name = holder.get("holder") or ""
    if holder.get("kind") == "server":
        return f"{holder['user']}: server {name}".rstrip()
    return f"{holder['user']}: {holder.get('kind')} {name}".rstrip()


def devices(
    s: Session, now: datetime, idle: Mapping[tuple[str, int], float] | None = None
) -> list[dict]:
    """Every device by node and index: state, holder (user, kind, holder, account), since
    (when its holder last changed, for held devices), held_seconds, idle_seconds (None
    where unknown)."""
    idle = idle or {}
    q = (
        select(Node.name, Node.type, Device.index, Device.state, Device.drain_reason,
               Device.since, Allocation.user, Allocation.kind, Allocation.holder,
               Allocation.account, Allocation.id)
        .join(Node, Device.node_id == Node.id)
        .outerjoin(Allocation, Device.allocation_id == Allocation.id)
        .order_by(Node.name, Device.index)
    )  # fmt: skip
    out = []
    for node, type_, index, raw, reason, since, user, kind, holder, account, alloc in s.execute(q):
        state = device_state(raw, alloc)
        idle_s = idle.get((node, index)) if alloc is not None else None
        if idle_s is not None and state == "held":
            state = "idle-held"
        held = alloc is not None
        out.append({
            "node": node,
            "index": index,
            "type": type_,
            "state": state,
            "drain_reason": reason if raw == "drained" else None,
            "holder": {"user": user, "kind": kind, "holder": holder, "account": account,
                       "allocation_id": alloc} if held else None,
            "since": since if held else None,
            "held_seconds": max((now - since).total_seconds(), 0.0) if held and since else None,
            "idle_seconds": idle_s,
        })  # fmt: skip
    return out


def count_states(states: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    for st in states:
        counts[st] = counts.get(st, 0) + 1
    return counts


def summary_line(states: Iterable[str]) -> str:
    """"8 devices: 3 held, 4 free, 1 drained" (states with none are left out)."""
    counts = count_states(states)
    total = sum(counts.values())
    parts = [f"{n} {st}" for st, n in counts.items() if n]
    noun = "device" if total == 1 else "devices"
    return f"{total} {noun}" + (": " + ", ".join(parts) if parts else "")


def by_node(rows: list[dict]) -> list[tuple[str, list[dict]]]:
    """The rows grouped by node, in order."""
    nodes: dict[str, list[dict]] = {}
    for r in rows:
        nodes.setdefault(r["node"], []).append(r)
    return list(nodes.items())


def waiting_requests(s: Session, now: datetime) -> list[dict]:
    """The line: every request waiting for NPUs or its turn, oldest first, each
    {kind, id, user, account, npus, since, waited_seconds, reason}. Today these are the
    servers waiting in the line for NPUs and the batch jobs not started yet."""
    q = (
        select(Job.id, Job.user, Job.account, Job.npus, Job.created, Job.reason)
        .where(Job.state.in_(("queued", "starting", "submitted")))
        .order_by(Job.created, Job.id)
    )
    servers = s.execute(
        select(LineRequest.id, LineRequest.user, LineRequest.server, LineRequest.account,
               LineRequest.npus, LineRequest.submitted, LineRequest.position)
        .where(LineRequest.state == "waiting")
    ).all()
    waiting = [
        {"kind": "server", "id": server or str(rid), "user": user, "account": account,
         "npus": npus, "since": submitted,
         "waited_seconds": max((now - submitted).total_seconds(), 0.0),
         "reason": f"position {position}" if position else ""}
        for rid, user, server, account, npus, submitted, position in servers
    ]  # fmt: skip
    return sorted(waiting + [
        {"kind": "job", "id": str(jid), "user": user, "account": account, "npus": npus,
         "since": created, "waited_seconds": max((now - created).total_seconds(), 0.0),
         "reason": reason or ""}
        for jid, user, account, npus, created, reason in s.execute(q)
    ], key=lambda r: r["since"])  # fmt: skip


def duration(seconds: float | None) -> str:
    """3725 → "1h 2m", 95 → "1m 35s", None → "-"."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400}d {s % 86400 // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60}m"
    if s >= 60:
        return f"{s // 60}m {s % 60}s"
    return f"{s}s"
