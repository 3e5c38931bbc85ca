"""The line: server requests waiting for NPUs (hub/line).

Revision ID: 0009_line
Revises: 0001_ledger
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_line"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "line_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("user", sa.String(length=255), nullable=False),
        sa.Column("server", sa.String(length=255), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("account", sa.String(length=255), nullable=False),
        sa.Column("npus", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(length=64), nullable=True),
        sa.Column("device_type", sa.String(length=32), nullable=True),
        sa.Column("limit_s", sa.Float(), nullable=True),
        sa.Column("submitted", sa.DateTime(), nullable=False),
        sa.Column("seen", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("estimated_start", sa.DateTime(), nullable=True),
        sa.Column("allocation_id", sa.Integer(), nullable=True),
        sa.Column("devices", sa.JSON(), nullable=False),
        sa.Column("refusal", sa.JSON(), nullable=True),
        sa.Column("ended", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line_requests")),
    )
    op.create_index(
        "ix_line_requests_state_submitted", "line_requests", ["state", "submitted"]
    )


def downgrade() -> None:
    op.drop_index("ix_line_requests_state_submitted", table_name="line_requests")
    op.drop_table("line_requests")
