"""Courses: per-student due dates (`extensions` of an assignment), the executed notebooks
of a graded submission (its feedback is rendered from them) and the grades given by hand.

Revision ID: 0009_course_grading
Revises: 0004_courses
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_course_grading"
down_revision = "0004_courses"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("course_assignments") as batch:
        batch.add_column(sa.Column("extensions", sa.JSON(), nullable=True))
    with op.batch_alter_table("course_submissions") as batch:
        batch.add_column(sa.Column("executed", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("manual", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("course_submissions") as batch:
        batch.drop_column("manual")
        batch.drop_column("executed")
    with op.batch_alter_table("course_assignments") as batch:
        batch.drop_column("extensions")
