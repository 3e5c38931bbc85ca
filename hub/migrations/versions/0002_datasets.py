"""Datasets: the catalog, grants to groups, users' remembered mounts.

Revision ID: 0002_datasets
Revises: 0001_ledger
Create Date: 2025-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_datasets"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=4096), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("license", sa.String(length=255), nullable=False),
        sa.Column("access", sa.JSON(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("files", sa.BigInteger(), nullable=True),
        sa.Column("scanned", sa.DateTime(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("name", name=op.f("uq_datasets_name")),
    )
    op.create_table(
        "dataset_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("group", sa.String(length=255), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_dataset_grants_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_grants")),
        sa.UniqueConstraint("dataset_id", "group", name=op.f("uq_dataset_grants_dataset_id_group")),
    )
    op.create_table(
        "dataset_mounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user", sa.String(length=255), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_dataset_mounts_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_mounts")),
        sa.UniqueConstraint("user", "dataset_id", name=op.f("uq_dataset_mounts_user_dataset_id")),
    )
    op.create_index(op.f("ix_dataset_mounts_user"), "dataset_mounts", ["user"])
    op.create_index(op.f("ix_dataset_mounts_dataset_id"), "dataset_mounts", ["dataset_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dataset_mounts_dataset_id"), table_name="dataset_mounts")
    op.drop_index(op.f("ix_dataset_mounts_user"), table_name="dataset_mounts")
    op.drop_table("dataset_mounts")
    op.drop_table("dataset_grants")
    op.drop_table("datasets")
