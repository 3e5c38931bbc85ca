"""What the idle watch tells people and what it took back: one row per server warned
for idle NPUs (``stopped`` empty while the warning stands) or stopped for them
(``stopped`` set). The warning is shown in /me (the Lab status bar) and on the hub's home
page; after a stop, the home page says why until the user starts a server again. The
stopped rows are the record of reclaimed NPUs (metrics, the monthly report)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from npuhub.hub import clock
from npuhub.hub.orm import Allocation, Base, UTCDateTime


class IdleNotice(Base):
    __tablename__ = "idle_notices"
    __table_args__ = (Index("ix_idle_notices_user", "user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    allocation_id: Mapped[int] = mapped_column(Integer, unique=True)
    user: Mapped[str] = mapped_column(String(255))
    server: Mapped[str] = mapped_column(String(255), default="")
    account: Mapped[str] = mapped_column(String(255))
    npus: Mapped[int] = mapped_column(Integer)
    devices: Mapped[list[Any]] = mapped_column(JSON, default=list)
    idle_since: Mapped[datetime] = mapped_column(UTCDateTime)
    warned: Mapped[datetime] = mapped_column(UTCDateTime)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    stopped: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def as_dict(self) -> dict:
        return {
            "server": self.server,
            "account": self.account,
            "npus": self.npus,
            "idle_since": self.idle_since.isoformat(),
            "stop_at": self.deadline.isoformat(),
            "stopped": self.stopped.isoformat() if self.stopped else None,
        }


def sync_warnings(session_factory, warns: list) -> None:
    """The standing warnings are exactly `warns` (decide.Verdict, "warn" or "stop"):
    new ones are added, the others' rows removed (busy again, stopped by their owner)."""
    with session_factory() as s, s.begin():
        rows = {n.allocation_id: n for n in s.scalars(
            select(IdleNotice).where(IdleNotice.stopped.is_(None)))}
        keep = set()
        for v in warns:
            aid = v.server.allocation_id
            keep.add(aid)
            row = rows.get(aid)
            if row is None:
                s.add(IdleNotice(
                    allocation_id=aid, user=v.server.user, server=v.server.name,
                    account=v.server.account, npus=len(v.server.devices),
                    devices=[list(d) for d in v.server.devices], idle_since=v.idle_since,
                    warned=clock.utcnow(), deadline=v.deadline,
                ))
            else:
                row.deadline = v.deadline
        gone = [aid for aid in rows if aid not in keep]
        if gone:
            s.execute(delete(IdleNotice).where(IdleNotice.allocation_id.in_(gone),
                                               IdleNotice.stopped.is_(None)))


def record_stop(session_factory, verdict, when: datetime) -> None:
    """The server of `verdict` was stopped for idle NPUs at `when`."""
    v = verdict
    with session_factory() as s, s.begin():
        row = s.scalars(select(IdleNotice).where(
            IdleNotice.allocation_id == v.server.allocation_id)).one_or_none()
        if row is None:
            row = IdleNotice(
                allocation_id=v.server.allocation_id, user=v.server.user, server=v.server.name,
                account=v.server.account, npus=len(v.server.devices),
                devices=[list(d) for d in v.server.devices], idle_since=v.idle_since,
                warned=when, deadline=v.deadline or when,
            )
            s.add(row)
        row.stopped = when


def notices(session_factory, user: str) -> list[dict]:
    """The user's standing idle warnings ("stopped": None) and, until they start a server
    again, the last stop for idle NPUs."""
    with session_factory() as s:
        out = []
        active = select(Allocation.id).where(Allocation.state == "active")
        for n in s.scalars(select(IdleNotice).where(
                IdleNotice.user == user, IdleNotice.stopped.is_(None),
                IdleNotice.allocation_id.in_(active)).order_by(IdleNotice.id)):
            out.append(n.as_dict())
        last = s.scalars(select(IdleNotice).where(
            IdleNotice.user == user, IdleNotice.stopped.is_not(None))
            .order_by(IdleNotice.stopped.desc()).limit(1)).one_or_none()
        if last is not None:
            started = s.scalar(select(func.max(Allocation.started)).where(
                Allocation.user == user, Allocation.kind == "server"))
            if started is None or started <= last.stopped:
                out.append(last.as_dict())
        return out


def reclaimed(s: Session, start: datetime | None = None, end: datetime | None = None) -> dict:
    """Servers stopped for idle NPUs (in [start, end) if given): how many, their NPUs,
    and the NPU-hours they had held idle until the stop."""
    q = select(IdleNotice.account, IdleNotice.npus, IdleNotice.idle_since, IdleNotice.stopped
               ).where(IdleNotice.stopped.is_not(None))
    if start is not None:
        q = q.where(IdleNotice.stopped >= start)
    if end is not None:
        q = q.where(IdleNotice.stopped < end)
    servers, npus, hours = 0, 0, 0.0
    by_account: dict[str, int] = {}
    for account, n, since, stopped in s.execute(q):
        servers += 1
        npus += n
        hours += max((stopped - since).total_seconds(), 0.0) / 3600 * n
        by_account[account] = by_account.get(account, 0) + n
    return {"servers": servers, "npus": npus, "idle_npu_hours": hours, "by_account": by_account}


class IdleClock(Base):
    """Since when a server's NPUs read idle (and when it was warned): the idle watch's
    memory, kept so that a restarted service goes on counting, and so that the operators'
    page and the metrics can say which held NPUs are idle and for how long."""

    __tablename__ = "idle_clocks"

    allocation_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    warned: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


def save_clocks(session_factory, known: dict) -> None:
    """The stored clocks are exactly `known` ({allocation id: decide.Idle})."""
    with session_factory() as s, s.begin():
        rows = {c.allocation_id: c for c in s.scalars(select(IdleClock))}
        for aid, idle in known.items():
            row = rows.pop(aid, None)
            if row is None:
                s.add(IdleClock(allocation_id=aid, since=idle.since, warned=idle.warned))
            elif (row.since, row.warned) != (idle.since, idle.warned):
                row.since, row.warned = idle.since, idle.warned
        if rows:
            s.execute(delete(IdleClock).where(IdleClock.allocation_id.in_(list(rows))))


def load_clocks(session_factory) -> dict:
    """{allocation id: decide.Idle} of the servers still holding their NPUs."""
    from .decide import Idle

    with session_factory() as s:
        active = select(Allocation.id).where(Allocation.state == "active")
        return {c.allocation_id: Idle(since=c.since, warned=c.warned) for c in s.scalars(
            select(IdleClock).where(IdleClock.allocation_id.in_(active)))}


def idle_devices(s: Session, now: datetime) -> dict[tuple[str, int], float]:
    """{(node, index): seconds idle} of the NPUs held by servers whose NPUs read idle."""
    out: dict[tuple[str, int], float] = {}
    q = select(Allocation.devices, IdleClock.since).join(
        IdleClock, IdleClock.allocation_id == Allocation.id).where(Allocation.state == "active")
    for devices, since in s.execute(q):
        for node, index in devices or []:
            out[(str(node), int(index))] = max((now - since).total_seconds(), 0.0)
    return out
