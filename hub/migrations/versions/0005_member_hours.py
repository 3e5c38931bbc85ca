"""Quota policies: npu_hours_per_member, each member's share of a group's NPU-hours
(a course's hours per student).

Revision ID: 0005_member_hours
Revises: 0001_ledger
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_member_hours"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quota_policies") as batch:
        batch.add_column(sa.Column("npu_hours_per_member", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("quota_policies") as batch:
        batch.drop_column("npu_hours_per_member")
