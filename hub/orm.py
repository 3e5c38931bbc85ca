"""The platform database: NPU nodes and devices, allocations (the usage records) and quota
policies. One declarative ``Base`` whose ``MetaData`` has a naming convention, so every
constraint has a stable name Alembic can find again; later tables (datasets, jobs,
courses) subclass the same ``Base`` and bring their own migration files.

Times are stored as naive UTC and come back timezone-aware (``UTCDateTime``), on SQLite
and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from . import clock

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

NODE_TYPES = ("Ascend910B", "Ascend310P", "nvidia", "simulated")
NODE_SOURCES = ("config", "file", "discovered", "simulated")
DEVICE_STATES = ("available", "drained")
ALLOCATION_KINDS = ("server", "job")
ALLOCATION_STATES = ("active", "released")


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out; stored naive UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: use npuhub.hub.clock.utcnow()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


def _now() -> datetime:
    return clock.utcnow()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Node(Base):
    """A host with NPUs: its type, its topology (HCCS rings) and where its device nodes
    live (``/dev``, or the state dir's folder of simulated ones)."""

    __tablename__ = "nodes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    rings: Mapped[list[list[int]]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16))
    device_dir: Mapped[str] = mapped_column(String(1024))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)

    devices: Mapped[list[Device]] = relationship(
        back_populates="node", order_by="Device.index", cascade="all, delete-orphan"
    )

    @classmethod
    def find(cls, db: Session, name: str) -> Node | None:
        return db.scalars(select(cls).where(cls.name == name)).one_or_none()

    def __repr__(self) -> str:
        return f"<Node {self.name} {self.type} {self.rings}>"


class Device(Base):
    """One NPU. ``allocation_id`` is its current holder (None: free); ``since`` is when
    the holder last changed. A drained device is never handed out; a holder keeps it
    until release. ``drain_reason``: "admin" (drained by an operator), "inventory"
    (no longer present on its node; undrained when it comes back) or "slurm" (its node
    DOWN or DRAIN in Slurm, cluster mode; undrained when Slurm resumes it)."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("node_id", "index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="available")
    drain_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    allocation_id: Mapped[int | None] = mapped_column(
        ForeignKey("allocations.id", ondelete="SET NULL"), nullable=True, index=True
    )
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)

    node: Mapped[Node] = relationship(back_populates="devices")
    allocation: Mapped[Allocation | None] = relationship(back_populates="held")

    @classmethod
    def find(cls, db: Session, node: str, index: int) -> Device | None:
        return db.scalars(
            select(cls).join(Node).where(Node.name == node, cls.index == index)
        ).one_or_none()

    def __repr__(self) -> str:
        return f"<Device {self.node_id}:{self.index} {self.state} held={self.allocation_id}>"


class Allocation(Base):
    """Devices granted to a server or a job, and the usage record charged to an account:
    open while ``state == "active"``, closed with ``ended`` and a ``reason``."""

    __tablename__ = "allocations"
    __table_args__ = (
        Index("ix_allocations_state_user", "state", "user"),
        Index("ix_allocations_state_account", "state", "account"),
        Index("ix_allocations_account_started", "account", "started"),
        Index("ix_allocations_user_started", "user", "started"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user: Mapped[str] = mapped_column(String(255))
    account: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    holder: Mapped[str] = mapped_column(String(255), default="")
    profile: Mapped[str | None] = mapped_column(String(255), nullable=True)
    npus: Mapped[int] = mapped_column(Integer)
    devices: Mapped[list[list[Any]]] = mapped_column(JSON, default=list)
    started: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    ended: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="active")
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # what it ran on (npuhub.hub.jobs.provenance), recorded once it started
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    held: Mapped[list[Device]] = relationship(back_populates="allocation")

    @classmethod
    def find_active(cls, db: Session, user: str, kind: str, holder: str) -> list[Allocation]:
        return list(
            db.scalars(
                select(cls).where(
                    cls.state == "active", cls.user == user, cls.kind == kind, cls.holder == holder
                )
            )
        )

    def __repr__(self) -> str:
        return (
            f"<Allocation {self.id} {self.user}/{self.kind}:{self.holder} {self.npus} {self.state}>"
        )


class LedgerState(Base):
    """One row (id 1): counters of the ledger's writes, so that a process knows whether
    what it cached is still true (see :mod:`npuhub.hub.ledger.store`)."""

    __tablename__ = "ledger_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inventory: Mapped[int] = mapped_column(Integer, default=0)
    holdings: Mapped[int] = mapped_column(Integer, default=0)
    policies: Mapped[int] = mapped_column(Integer, default=0)


class _Limits:
    max_npus_per_server: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_npus: Mapped[int | None] = mapped_column(Integer, nullable=True)
    npu_hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    period: Mapped[str | None] = mapped_column(String(16), nullable=True)
    max_session_hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    profiles: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, onupdate=_now)


class QuotaPolicy(_Limits, Base):
    """Limits of a group (an account). The group "*" is the deployment default. A column
    left null inherits the default's; null there too means unlimited."""

    __tablename__ = "quota_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group: Mapped[str] = mapped_column(String(255), unique=True)
    group_max_npus: Mapped[int | None] = mapped_column(Integer, nullable=True)
    npu_hours_per_member: Mapped[float | None] = mapped_column(Float, nullable=True)

    @classmethod
    def find(cls, db: Session, group: str) -> QuotaPolicy | None:
        return db.scalars(select(cls).where(cls.group == group)).one_or_none()


class UserQuota(_Limits, Base):
    """A per-user override; every column null = inherit (``npu_hours`` here is the user's
    own budget per period, on top of the account's)."""

    __tablename__ = "user_quotas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user: Mapped[str] = mapped_column(String(255), unique=True)

    @classmethod
    def find(cls, db: Session, user: str) -> UserQuota | None:
        return db.scalars(select(cls).where(cls.user == user)).one_or_none()
