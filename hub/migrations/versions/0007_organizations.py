"""Organizations: the kind (university, company, lab, course) of a group, for the
center's monthly report.

Revision ID: 0007_organizations
Revises: 0001_ledger
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_organizations"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("group", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("group", name=op.f("pk_organizations")),
    )


def downgrade() -> None:
    op.drop_table("organizations")
