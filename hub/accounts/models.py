"""The accounts table: one row per account that has (or had) a password or a pending
activation link. An account of JupyterHub without a row has no password: nobody can log
in to it until an activation link is issued and used."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from npuhub.hub import clock
from npuhub.hub.orm import Base, UTCDateTime


def _now() -> datetime:
    return clock.utcnow()


class Account(Base):
    """``password_hash`` is bcrypt; ``activation_hash`` the SHA-256 of the one pending
    activation token (the token itself is never stored), valid until
    ``activation_expires``. ``origin`` says who created the account (``course:ID`` for a
    course roster), which decides who may hand out its activation link."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    activated: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    activation_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    activation_expires: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    origin: Mapped[str] = mapped_column(String(128), default="")
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    password_changed: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @classmethod
    def find(cls, db: Session, name: str) -> Account | None:
        return db.scalars(select(cls).where(cls.name == name)).one_or_none()

    def __repr__(self) -> str:
        return f"<Account {self.name} {'active' if self.activated else 'pending'}>"
