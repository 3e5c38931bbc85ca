"""Datasets: `symlinks`, whether symbolic links inside a dataset are followed.

Revision ID: 0006_dataset_symlinks
Revises: 0002_datasets
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_dataset_symlinks"
down_revision = "0002_datasets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(
            sa.Column("symlinks", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("symlinks")
