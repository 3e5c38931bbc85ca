"""Courses: who released an assignment (an instructor or the schedule of its `release`
time), a scheduled release that failed, and feedback returned by an instructor.

Revision ID: 0011_course_release_feedback
Revises: 0009_course_grading
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_course_release_feedback"
down_revision = "0009_course_grading"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("course_assignments") as batch:
        batch.add_column(sa.Column("released_by", sa.String(255), nullable=True))
        batch.add_column(sa.Column("release_error", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("feedback_returned_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("feedback_returned_by", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("course_assignments") as batch:
        batch.drop_column("feedback_returned_by")
        batch.drop_column("feedback_returned_at")
        batch.drop_column("release_error")
        batch.drop_column("released_by")
