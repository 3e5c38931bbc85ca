"""The courses tables: courses, their roster, assignments (source and released files),
and submissions with their grades and feedback.

Notebooks live in the platform database (JSON columns of {relative path: text}), not on
a shared file system: the hub host, the service and a PostgreSQL deployment see the same
state, and nothing a user names becomes a host path.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from npuhub.hub import clock
from npuhub.hub.orm import Base, UTCDateTime

ROLES = ("student", "instructor")

def _now() -> datetime:
    return clock.utcnow()

class Course(Base):
    """A course as declared (course file or API); ``profile`` is the spawn profile only
    its members see, ``spec`` the declaration as applied."""

    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(255), default="")
    term: Mapped[str] = mapped_column(String(64), default="")
    image: Mapped[str] = mapped_column(String(255))
    profile: Mapped[dict] = mapped_column(JSON, default=dict)
    spec: Mapped[dict] = mapped_column(JSON, default=dict)
    grading: Mapped[dict] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(255), default="")
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, onupdate=_now)

    members: Mapped[list[CourseMember]] = relationship(
        back_populates="course", cascade="all, delete-orphan"
    )
    assignments: Mapped[list[Assignment]] = relationship(
        back_populates="course", cascade="all, delete-orphan", order_by="Assignment.id"
    )

    @classmethod
    def find(cls, db: Session, name: str) -> Course | None:
        return db.scalars(select(cls).where(cls.name == name)).one_or_none()

class CourseMember(Base):
    """One person's role in a course (the roster as applied)."""

    __tablename__ = "course_members"
    __table_args__ = (UniqueConstraint("course_id", "user", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    user: Mapped[str] = mapped_column(String(255), index=True)
    role: Mapped[str] = mapped_column(String(16))

    course: Mapped[Course] = relationship(back_populates="members")

class Assignment(Base):
    """An assignment: its source files (solutions, hidden tests) and, once released, the
    student version with the checksums of its protected cells."""

    __tablename__ = "course_assignments"
    __table_args__ = (UniqueConstraint("course_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    release: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    due: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    source: Mapped[dict] = mapped_column(JSON, default=dict)
    released: Mapped[dict] = mapped_column(JSON, default=dict)
    checksums: Mapped[dict] = mapped_column(JSON, default=dict)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # per-student due dates: {student: {"due": ISO time, "by": "file" | instructor}}
    extensions: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # who released it: an instructor's name, "cli", or "schedule" (its `release` time);
    # a scheduled release that failed: {"error": code, "params": {...}, "at": ISO time}
    released_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    release_error: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    # feedback returned by an instructor (else the course's feedback policy decides)
    feedback_returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    feedback_returned_by: Mapped[str | None] = mapped_column(String(255), nullable=True)

    course: Mapped[Course] = relationship(back_populates="assignments")

class Submission(Base):
    """One attempt of one student; the history is kept. ``collected_at`` marks the
    attempt the instructor collected; grading fills score, result and feedback."""

    __tablename__ = "course_submissions"
    __table_args__ = (
        UniqueConstraint("assignment_id", "user", "attempt"),
        Index("ix_course_submissions_assignment_user", "assignment_id", "user"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("course_assignments.id", ondelete="CASCADE")
    )
    user: Mapped[str] = mapped_column(String(255))
    attempt: Mapped[int] = mapped_column(Integer)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    files: Mapped[dict] = mapped_column(JSON, default=dict)
    collected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    graded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    feedback: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # the executed notebooks ({relpath: text}) the feedback is rendered from, and the
    # instructor's grades by hand: {relpath: {grade_id: {"points", "comment", "by"}}}
    executed: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    manual: Mapped[dict | None] = mapped_column(JSON, nullable=True)

    assignment: Mapped[Assignment] = relationship()
