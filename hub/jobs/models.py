"""The batch queue's table: one row per job, from submission to its recorded end.

``state`` moves only forward, each step a compare-and-set update (see
:mod:`npuhub.hub.jobs.queue`): ``queued`` → ``starting`` (claimed by the scheduler) →
``submitted`` (Slurm only: sbatch accepted it) → ``running`` → one of
``succeeded | failed | cancelled | timed_out``. ``starting`` and ``submitted`` are shown
to people as ``queued``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from npuhub.hub import clock
from npuhub.hub.orm import Base, UTCDateTime

ACTIVE = ("queued", "starting", "submitted", "running")
TERMINAL = ("succeeded", "failed", "cancelled", "timed_out")
STATES = ACTIVE + TERMINAL
PUBLIC = {"starting": "queued", "submitted": "queued"}


def _now() -> datetime:
    return clock.utcnow()


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_state_priority", "state", "priority", "created"),
        Index("ix_jobs_user_created", "user", "created"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user: Mapped[str] = mapped_column(String(255))
    groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    account: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(1024))
    npus: Mapped[int] = mapped_column(Integer, default=0)
    image: Mapped[str] = mapped_column(String(255))
    profile: Mapped[str | None] = mapped_column(String(64), nullable=True)
    device_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    datasets: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [[host path, name]]
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    time_limit: Mapped[int] = mapped_column(Integer)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    backend: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    reason: Mapped[str] = mapped_column(Text, default="")
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    backend_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    allocation_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    devices: Mapped[list[Any]] = mapped_column(JSON, default=list)  # host indices
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    started: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # what it ran on (npuhub.hub.jobs.provenance), recorded at its start
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    rerun_of: Mapped[int | None] = mapped_column(Integer, nullable=True)  # {"like": ID}

    @property
    def kind(self) -> str:
        return "notebook" if self.source.endswith(".ipynb") else "script"

    def as_dict(self) -> dict[str, Any]:
        """What the REST API shows (``phase``: the internal step behind ``state``)."""
        return {
            "id": self.id,
            "user": self.user,
            "account": self.account,
            "name": self.name,
            "source": self.source,
            "kind": self.kind,
            "npus": self.npus,
            "image": self.image,
            "datasets": [d[1] for d in self.datasets or []],
            "parameters": dict(self.parameters or {}),
            "time_limit": self.time_limit,
            "priority": self.priority,
            "backend": self.backend,
            "backend_id": self.backend_id,
            "state": PUBLIC.get(self.state, self.state),
            "phase": self.state,
            "reason": self.reason or "",
            "exit_code": self.exit_code,
            "devices": list(self.devices or []),
            "created": _iso(self.created),
            "submitted": _iso(self.created),
            "started": _iso(self.started),
            "finished": _iso(self.finished),
            "output_dir": f"jobs/{self.id}",
            "provenance": self.provenance,
            "rerun_of": self.rerun_of,
        }

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.user} {self.source} {self.state}>"
