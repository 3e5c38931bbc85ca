"""The one scheduler of the line, run by each tick of the service's batch scheduler
(:class:`npuhub.hub.jobs.backend.Jobs`): the waiting servers and the queued local jobs
go through the same :func:`npuhub.hub.scheduling.plan`.

:meth:`LineKeeper.schedule` reads the inputs (:func:`npuhub.hub.jobs.lineup.snapshot`),
asks plan, grants the servers plan starts (their devices held in the ledger for them,
then the request marked granted: the waiting spawner takes them), and returns the jobs
plan starts to the local backend, which starts them. It then writes each waiting
server's position and estimated start for its spawn page and keeps the whole line
(:meth:`LineKeeper.view`) for ``GET …/queue`` and ``/me``. :func:`current` computes the
same line without granting anything (``npuhub queue``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from npuhub.hub import clock
from npuhub.hub.jobs import lineup
from npuhub.hub.jobs.models import Job
from npuhub.hub.ledger import LedgerError
from npuhub.hub.placement import Placement
from npuhub.hub.scheduling import order, plan

from .estimate import places
from .store import Line

log = logging.getLogger("npuhub.line")
#: a waiting request whose spawner has not asked for this long is dropped (the hub
#: restarted and forgot it); a waiting spawner asks every few seconds
UNSEEN_S = 60.0


@dataclass
class Decision:
    """What one tick decided: the jobs plan starts now (with their devices), the line of
    jobs plan did not start (first to last), and the line as people see it."""

    jobs: list[tuple[int, Placement]] = field(default_factory=list)
    waiting_jobs: list[int] = field(default_factory=list)
    view: list[dict[str, Any]] = field(default_factory=list)


def _iso(t: float | None) -> str | None:
    return datetime.fromtimestamp(t, UTC).isoformat() if t is not None else None


def entries(snap: lineup.Snapshot, jobs: dict[int, Job]) -> list[dict[str, Any]]:
    """The line as people see it, first to last: position, kind, id, user, account,
    NPUs, waiting since, estimated start (ISO times, UTC)."""
    args = (snap.now, snap.nodes, snap.waiting, snap.running, snap.usage)
    by_id = {r.id: r for r in snap.waiting}
    out = []
    for p in places(*args):
        r = by_id[p.id]
        row = snap.servers.get(p.id) if isinstance(p.id, str) else None
        job = jobs.get(p.id) if row is None else None
        out.append({
            "position": p.position,
            "kind": "server" if row is not None else "job",
            "id": row.id if row is not None else p.id,
            "user": row.user if row is not None else (job.user if job else ""),
            "server": row.server if row is not None else None,
            "account": r.account,
            "npus": r.npus,
            "submitted": _iso(r.submitted),
            "estimated_start": _iso(p.estimated_start),
        })
    return out


def current(ledger, line: Line, jobs_queue, half_life_s: float,
            session_limit_s: float | None) -> list[dict[str, Any]]:
    """The line now, computed from the database (blocking), without granting."""
    queued = [j for j in jobs_queue.in_state(["queued"], "local")]
    active = jobs_queue.in_state(["starting", "running"], "local")
    snap = lineup.snapshot(ledger, queued, active, clock.utcnow(), half_life_s,
                           servers=line.waiting(), session_limit_s=session_limit_s)
    return entries(snap, {j.id: j for j in queued})


class LineKeeper:
    """Grants the line's servers; see the module docstring."""

    def __init__(self, ledger, line: Line, *, half_life_s: float,
                 session_limit_s: float | None):
        self.ledger, self.line = ledger, line
        self.half_life_s = half_life_s
        self.session_limit_s = session_limit_s
        self.view: list[dict[str, Any]] = []  # the line at the last tick

    async def _run(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args, **kwargs))

    def place_of(self, user: str) -> dict[str, Any] | None:
        """`user`'s foremost place in the line at the last tick (None: not waiting)."""
        return next((e for e in self.view if e["user"] == user), None)

    async def schedule(
        self, queued: Sequence[Job] = (), active: Sequence[Job] = ()
    ) -> Decision:
        """One tick (see the module docstring). `queued`, `active`: the local backend's
        jobs (none when jobs run elsewhere)."""
        now = clock.utcnow()
        servers = await self._run(self.line.waiting)
        unseen = now - timedelta(seconds=UNSEEN_S)
        if any(r.seen < unseen for r in servers):
            dropped = await self._run(self.line.drop_unseen, unseen)
            log.info("Dropped waiting requests nobody asks for: %s", dropped)
            servers = [r for r in servers if r.id not in dropped]
        if not servers and not queued:
            self.view = []
            return Decision()
        snap = await self._run(
            lineup.snapshot, self.ledger, list(queued), list(active), now,
            self.half_life_s, servers=servers, session_limit_s=self.session_limit_s,
        )
        args = (snap.now, snap.nodes, snap.waiting, snap.running, snap.usage)
        decision = Decision()
        granted: set[Hashable] = set()
        for rid, devices in plan(*args):
            row = snap.servers.get(rid) if isinstance(rid, str) else None
            if row is None:
                decision.jobs.append((rid, devices))
            elif await self._grant(row, devices):
                granted.add(rid)
        decision.waiting_jobs = [
            r.id for r in order(*args)
            if not isinstance(r.id, str) and r.npus > 0
            and r.id not in {j for j, _ in decision.jobs}
        ]
        if granted:  # the line as it stands after these grants
            servers = [r for r in servers if lineup.server_id(r) not in granted]
            snap = await self._run(
                lineup.snapshot, self.ledger, list(queued), list(active), now,
                self.half_life_s, servers=servers, session_limit_s=self.session_limit_s,
            )
        view = entries(snap, {j.id: j for j in queued})
        started = {j for j, _ in decision.jobs}
        self.view = decision.view = [
            e for e in view if not (e["kind"] == "job" and e["id"] in started)
        ]
        notes = {
            e["id"]: (e["position"], _parse(e["estimated_start"]))
            for e in decision.view if e["kind"] == "server"
        }
        await self._run(self.line.note, notes)
        return decision

    async def _grant(self, row, devices: Placement) -> bool:
        """Hold `devices` in the ledger for the waiting server `row` and mark it granted;
        False if the ledger refused (a quota refusal ends the wait) or it left meanwhile."""
        try:
            grant = await self._run(
                self.ledger.allocate,
                user=row.user, groups=row.groups, account=row.account, kind="server",
                holder=row.server, npus=row.npus, profile=row.profile,
                device_type=row.device_type, devices=devices,
            )
        except LedgerError as e:
            if getattr(e, "transient", False):
                return False  # taken by someone else meanwhile: next tick
            refusal = {"code": e.code, "params": e.params, "status": e.status}
            await self._run(self.line.refuse, row.id, refusal)
            log.info("Line request %s of %s refused at its turn: %s", row.id, row.user, e)
            return False
        if not await self._run(self.line.grant, row.id, grant.allocation_id, grant.devices):
            await self._run(self.ledger.release, grant.allocation_id, reason="left the line")
            return False
        log.info("Granted NPUs %s to %s/%s from the line", grant.devices, row.user, row.server)
        return True


def _parse(iso: str | None) -> datetime | None:
    return datetime.fromisoformat(iso) if iso is not None else None
