"""The datasets tables: the catalog, grants of a dataset to a group (courses), and the
mounts each user asked for (remembered, restored when their server starts again)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from npuhub.hub import clock
from npuhub.hub.orm import Base, UTCDateTime


def _now() -> datetime:
    return clock.utcnow()


class Dataset(Base):
    """A folder of the host's storage, declared by an admin. ``source`` is stored
    resolved (realpath); ``access`` is "public" or a list of groups; ``size`` (bytes)
    and ``files`` are computed and cached, ``scanned`` says when."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(4096))
    version: Mapped[str] = mapped_column(String(64), default="")
    license: Mapped[str] = mapped_column(String(255), default="")
    access: Mapped[str | list[str]] = mapped_column(JSON, default="public")
    # follow symbolic links inside the dataset (resolved in the user's container)
    symlinks: Mapped[bool] = mapped_column(Boolean, default=False)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    files: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    scanned: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, onupdate=_now)

    grants: Mapped[list[DatasetGrant]] = relationship(
        back_populates="dataset", cascade="all, delete-orphan", order_by="DatasetGrant.group"
    )

    @classmethod
    def find(cls, db: Session, name: str) -> Dataset | None:
        return db.scalars(select(cls).where(cls.name == name)).one_or_none()

    def __repr__(self) -> str:
        return f"<Dataset {self.name} {self.access}>"


class DatasetGrant(Base):
    """Access to a dataset for one more group, beside its ``access`` (a course grants
    its datasets to its students' group)."""

    __tablename__ = "dataset_grants"
    __table_args__ = (UniqueConstraint("dataset_id", "group"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    group: Mapped[str] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)

    dataset: Mapped[Dataset] = relationship(back_populates="grants")


class DatasetMount(Base):
    """A user's mount of a dataset, remembered until they unmount it."""

    __tablename__ = "dataset_mounts"
    __table_args__ = (UniqueConstraint("user", "dataset_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user: Mapped[str] = mapped_column(String(255), index=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)

    dataset: Mapped[Dataset] = relationship()

    @classmethod
    def find(cls, db: Session, user: str, dataset_id: int) -> DatasetMount | None:
        return db.scalars(
            select(cls).where(cls.user == user, cls.dataset_id == dataset_id)
        ).one_or_none()
