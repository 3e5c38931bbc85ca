"""The NPU ledger: nodes, devices, allocations (usage records), quota policies.

Revision ID: 0001_ledger
Revises:
Create Date: 2025-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_ledger"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("rings", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("device_dir", sa.String(length=1024), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nodes")),
        sa.UniqueConstraint("name", name=op.f("uq_nodes_name")),
    )
    op.create_table(
        "allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user", sa.String(length=255), nullable=False),
        sa.Column("account", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("profile", sa.String(length=255), nullable=True),
        sa.Column("npus", sa.Integer(), nullable=False),
        sa.Column("devices", sa.JSON(), nullable=False),
        sa.Column("started", sa.DateTime(), nullable=False),
        sa.Column("ended", sa.DateTime(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocations")),
    )
    op.create_index("ix_allocations_state_user", "allocations", ["state", "user"])
    op.create_index("ix_allocations_state_account", "allocations", ["state", "account"])
    op.create_index("ix_allocations_account_started", "allocations", ["account", "started"])
    op.create_index("ix_allocations_user_started", "allocations", ["user", "started"])
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("drain_reason", sa.String(length=16), nullable=True),
        sa.Column("allocation_id", sa.Integer(), nullable=True),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"], ["nodes.id"], name=op.f("fk_devices_node_id_nodes"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["allocation_id"],
            ["allocations.id"],
            name=op.f("fk_devices_allocation_id_allocations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("node_id", "index", name=op.f("uq_devices_node_id_index")),
    )
    op.create_index(op.f("ix_devices_allocation_id"), "devices", ["allocation_id"])

    def limit_columns() -> list[sa.Column]:
        return [
            sa.Column("max_npus_per_server", sa.Integer(), nullable=True),
            sa.Column("max_npus", sa.Integer(), nullable=True),
            sa.Column("npu_hours", sa.Float(), nullable=True),
            sa.Column("period", sa.String(length=16), nullable=True),
            sa.Column("max_session_hours", sa.Float(), nullable=True),
            sa.Column("profiles", sa.JSON(), nullable=True),
            sa.Column("updated", sa.DateTime(), nullable=False),
        ]

    op.create_table(
        "quota_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group", sa.String(length=255), nullable=False),
        sa.Column("group_max_npus", sa.Integer(), nullable=True),
        *limit_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quota_policies")),
        sa.UniqueConstraint("group", name=op.f("uq_quota_policies_group")),
    )
    op.create_table(
        "user_quotas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user", sa.String(length=255), nullable=False),
        *limit_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_quotas")),
        sa.UniqueConstraint("user", name=op.f("uq_user_quotas_user")),
    )


def downgrade() -> None:
    op.drop_table("user_quotas")
    op.drop_table("quota_policies")
    op.drop_index(op.f("ix_devices_allocation_id"), table_name="devices")
    op.drop_table("devices")
    op.drop_index("ix_allocations_user_started", table_name="allocations")
    op.drop_index("ix_allocations_account_started", table_name="allocations")
    op.drop_index("ix_allocations_state_account", table_name="allocations")
    op.drop_index("ix_allocations_state_user", table_name="allocations")
    op.drop_table("allocations")
    op.drop_table("nodes")
