"""Accounts: password hashes and one-time activation links of the default authenticator.

Revision ID: 0007_accounts
Revises: 0001_ledger
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_accounts"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("activated", sa.DateTime(), nullable=True),
        sa.Column("activation_hash", sa.String(64), nullable=True),
        sa.Column("activation_expires", sa.DateTime(), nullable=True),
        sa.Column("origin", sa.String(128), nullable=False, server_default=""),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("password_changed", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_accounts_name")),
        sa.UniqueConstraint("activation_hash", name=op.f("uq_accounts_activation_hash")),
    )


def downgrade() -> None:
    op.drop_table("accounts")
