"""The line's store: server requests waiting for NPUs, in the platform database.

Every state change is one compare-and-set update in a short write transaction, so the
waiting spawner (hub process) and the scheduler (service process) never both win: a
request that is left is never granted, and one granted while its user left is given
back by whoever sees it second (:meth:`Line.leave` returns the allocation to release,
:meth:`Line.grant` says False and the scheduler releases). Callers on an event loop run
these in an executor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from npuhub.hub import clock, db
from npuhub.hub.jobs.models import Job

from .models import LineRequest


class Line(db.Store):
    # ---------------------------------------------------------------- joining and asking

    def join(
        self,
        *,
        user: str,
        server: str,
        groups: Iterable[str],
        account: str,
        npus: int,
        profile: str | None = None,
        device_type: str | None = None,
        limit_s: float | None = None,
    ) -> dict[str, Any]:
        """A new waiting request of `user`'s server `server` (an earlier one of the same
        server still waiting is left first)."""
        now = clock.utcnow()
        with self._write() as s:
            s.execute(
                update(LineRequest)
                .where(LineRequest.user == user, LineRequest.server == server,
                       LineRequest.state == "waiting")
                .values(state="left", ended=now)
            )
            row = LineRequest(
                kind="server", user=user, server=server, groups=sorted(set(groups)),
                account=account, npus=npus, profile=profile, device_type=device_type,
                limit_s=limit_s, submitted=now, seen=now, state="waiting", devices=[],
            )
            s.add(row)
            s.flush()
            return row.as_dict()

    def get(self, request_id: int) -> dict[str, Any] | None:
        with self._read() as s:
            row = s.get(LineRequest, request_id)
            return row.as_dict() if row is not None else None

    def touch(self, request_id: int) -> None:
        """The waiting spawner still asks (a request nobody asks for is dropped)."""
        with self._write() as s:
            s.execute(
                update(LineRequest)
                .where(LineRequest.id == request_id, LineRequest.state == "waiting")
                .values(seen=clock.utcnow())
            )

    def take(self, request_id: int) -> bool:
        """granted → started: the spawner took the devices (its state holds them now)."""
        return self._move(request_id, ("granted",), "started")

    def leave(self, request_id: int) -> int | None:
        """Leave the line (Stop). If the request was granted meanwhile, the allocation
        the caller must release; None otherwise."""
        with self._write() as s:
            row = s.get(LineRequest, request_id)
            if row is None or row.state not in ("waiting", "granted"):
                return None
            granted = row.allocation_id if row.state == "granted" else None
            row.state, row.ended = "left", clock.utcnow()
            return granted

    def expire(self, request_id: int) -> bool:
        """waiting → expired (the longest wait passed); False if it was granted first."""
        return self._move(request_id, ("waiting",), "expired")

    # ---------------------------------------------------------------- the scheduler

    def waiting(self) -> list[LineRequest]:
        """The waiting requests, oldest first."""
        with self._read() as s:
            return list(
                s.scalars(
                    select(LineRequest)
                    .where(LineRequest.state == "waiting")
                    .order_by(LineRequest.submitted, LineRequest.id)
                )
            )

    def grant(self, request_id: int, allocation_id: int, devices) -> bool:
        """waiting → granted with the ledger's allocation and its (node, index, path)
        devices; False if the request is no longer waiting (the caller releases)."""
        return self._move(
            request_id, ("waiting",), "granted", allocation_id=allocation_id,
            devices=[list(d) for d in devices], position=None,
        )

    def refuse(self, request_id: int, refusal: Mapping[str, Any]) -> bool:
        """waiting → refused, with the refusal's ``{"code", "params"}`` (rendered in the
        user's language by the spawner)."""
        return self._move(request_id, ("waiting",), "refused", refusal=dict(refusal))

    def note(self, places: Mapping[int, tuple[int | None, datetime | None]]) -> None:
        """Write each waiting request's (position, estimated start) where it changed
        (read first: a tick that changes nothing writes nothing)."""
        if not places:
            return
        with self._read() as s:
            changed = {
                row.id: places[row.id]
                for row in s.scalars(
                    select(LineRequest).where(
                        LineRequest.id.in_(list(places)), LineRequest.state == "waiting"
                    )
                )
                if (row.position, row.estimated_start) != places[row.id]
            }
        if not changed:
            return
        with self._write() as s:
            for request_id, (position, start) in changed.items():
                s.execute(
                    update(LineRequest)
                    .where(LineRequest.id == request_id, LineRequest.state == "waiting")
                    .values(position=position, estimated_start=start)
                )

    def drop_unseen(self, before: datetime) -> list[int]:
        """Leave the waiting requests whose spawner has not asked since `before` (a hub
        that restarted forgot them); their ids."""
        with self._write() as s:
            ids = list(
                s.scalars(
                    select(LineRequest.id).where(
                        LineRequest.state == "waiting", LineRequest.seen < before
                    )
                )
            )
            if ids:
                s.execute(
                    update(LineRequest)
                    .where(LineRequest.id.in_(ids), LineRequest.state == "waiting")
                    .values(state="left", ended=clock.utcnow())
                )
            return ids

    # ---------------------------------------------------------------- readers

    def of_user(self, user: str) -> list[dict[str, Any]]:
        """`user`'s waiting requests, oldest first."""
        with self._read() as s:
            return [
                r.as_dict()
                for r in s.scalars(
                    select(LineRequest)
                    .where(LineRequest.user == user, LineRequest.state == "waiting")
                    .order_by(LineRequest.submitted, LineRequest.id)
                )
            ]

    def waiting_for_npus(self) -> int:
        """How many requests wait for NPUs now: servers in the line and queued local
        batch jobs that need NPUs (the hook of an idle-NPU reclaimer's "when_waiting")."""
        with self._read() as s:
            servers = s.scalar(
                select(func.count(LineRequest.id)).where(LineRequest.state == "waiting")
            )
            jobs = s.scalar(
                select(func.count(Job.id)).where(
                    Job.state == "queued", Job.npus > 0, Job.backend == "local"
                )
            )
            return int(servers or 0) + int(jobs or 0)

    # ---------------------------------------------------------------- internal

    def _move(self, request_id: int, from_states, to: str, **values: Any) -> bool:
        values["state"] = to
        if to not in ("granted",):
            values.setdefault("ended", clock.utcnow())
        with self._write() as s:
            result = s.execute(
                update(LineRequest)
                .where(LineRequest.id == request_id, LineRequest.state.in_(list(from_states)))
                .values(**values)
            )
            return result.rowcount == 1
