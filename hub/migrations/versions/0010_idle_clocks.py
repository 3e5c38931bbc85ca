"""idle_clocks: since when each server's NPUs read idle (the idle watch's memory).

Revision ID: 0010_idle_clocks
Revises: 0009_idle_notices
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_idle_clocks"
down_revision = "0009_idle_notices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idle_clocks",
        sa.Column("allocation_id", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.Column("warned", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("allocation_id"),
    )


def downgrade() -> None:
    op.drop_table("idle_clocks")
