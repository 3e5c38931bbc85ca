"""Organizations: a JupyterHub group (an account) and the kind of organization it is,
for the center's monthly report (NPU-hours by kind). A group without a row is a course
if it is a course's students group, an individual if it is a user's own name, else
unclassified."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from npuhub.hub import clock
from npuhub.hub.orm import Base, UTCDateTime

KINDS = ("university", "company", "lab", "course")


def _now() -> datetime:
    return clock.utcnow()


class Organization(Base):
    __tablename__ = "organizations"

    group: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, onupdate=_now)

    @classmethod
    def kinds(cls, s: Session) -> dict[str, str]:
        return dict(s.execute(select(cls.group, cls.kind)).all())


def set_kind(session_factory, group: str, kind: str | None) -> None:
    """Record (or with None forget) the kind of organization of `group`."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r:.40}")
    if not group or len(group) > 255:
        raise ValueError("group must be a group name")
    with session_factory() as s, s.begin():
        row = s.get(Organization, group)
        if kind is None:
            if row is not None:
                s.delete(row)
        elif row is None:
            s.add(Organization(group=group, kind=kind))
        else:
            row.kind = kind
