"""The line's table: one row per server request that waited for NPUs.

``state``: ``waiting`` → ``granted`` (the scheduler holds its devices: ``allocation_id``,
``devices``) → ``started`` (the spawner took them); or ``left`` (Stop, or abandoned by a
spawner that stopped asking), ``expired`` (the longest wait passed) or ``refused`` (at
its turn the quota refused it: ``refusal`` holds the code and numbers). Each change is a
compare-and-set (:mod:`.store`). ``position`` and ``estimated_start`` are written by the
scheduler's tick for the waiting page; ``seen`` by the waiting spawner.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from npuhub.hub import clock
from npuhub.hub.orm import Base, UTCDateTime

STATES = ("waiting", "granted", "started", "left", "expired", "refused")


def _now() -> datetime:
    return clock.utcnow()


class LineRequest(Base):
    __tablename__ = "line_requests"
    __table_args__ = (Index("ix_line_requests_state_submitted", "state", "submitted"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="server")
    user: Mapped[str] = mapped_column(String(255))
    server: Mapped[str] = mapped_column(String(255), default="")
    groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    account: Mapped[str] = mapped_column(String(255))
    npus: Mapped[int] = mapped_column(Integer)
    profile: Mapped[str | None] = mapped_column(String(64), nullable=True)
    device_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    limit_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    submitted: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    seen: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    state: Mapped[str] = mapped_column(String(16), default="waiting")
    position: Mapped[int | None] = mapped_column(Integer, nullable=True)
    estimated_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    allocation_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    devices: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [[node, index, path]]
    refusal: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    ended: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "user": self.user,
            "server": self.server,
            "account": self.account,
            "npus": self.npus,
            "profile": self.profile,
            "limit_s": self.limit_s,
            "submitted": self.submitted,
            "state": self.state,
            "position": self.position,
            "estimated_start": self.estimated_start,
            "allocation_id": self.allocation_id,
            "devices": [list(d) for d in self.devices or []],
            "refusal": self.refusal,
        }
