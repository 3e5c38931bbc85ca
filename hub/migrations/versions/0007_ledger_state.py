"""The ledger's version counters (one row): inventory, holdings and policies writes, so
that each process may cache the topology, the free devices and the quota policies and
know when another process changed them.

Revision ID: 0007_ledger_state
Revises: 0001_ledger
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_ledger_state"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "ledger_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inventory", sa.Integer(), nullable=False),
        sa.Column("holdings", sa.Integer(), nullable=False),
        sa.Column("policies", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_state")),
    )
    op.bulk_insert(table, [{"id": 1, "inventory": 0, "holdings": 0, "policies": 0}])


def downgrade() -> None:
    op.drop_table("ledger_state")
