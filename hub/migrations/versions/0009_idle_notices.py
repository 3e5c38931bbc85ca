"""Idle notices: servers warned or stopped because their NPUs stayed idle.

Revision ID: 0009_idle_notices
Revises: 0001_ledger
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_idle_notices"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idle_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("allocation_id", sa.Integer(), nullable=False),
        sa.Column("user", sa.String(length=255), nullable=False),
        sa.Column("server", sa.String(length=255), nullable=False),
        sa.Column("account", sa.String(length=255), nullable=False),
        sa.Column("npus", sa.Integer(), nullable=False),
        sa.Column("devices", sa.JSON(), nullable=False),
        sa.Column("idle_since", sa.DateTime(), nullable=False),
        sa.Column("warned", sa.DateTime(), nullable=False),
        sa.Column("deadline", sa.DateTime(), nullable=False),
        sa.Column("stopped", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idle_notices")),
        sa.UniqueConstraint("allocation_id", name=op.f("uq_idle_notices_allocation_id")),
    )
    op.create_index("ix_idle_notices_user", "idle_notices", ["user"])


def downgrade() -> None:
    op.drop_index("ix_idle_notices_user", table_name="idle_notices")
    op.drop_table("idle_notices")
