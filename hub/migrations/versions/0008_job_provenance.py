"""Jobs: `provenance`, the record of what a job ran on, and `rerun_of`, the job it
re-runs (POST /jobs with {"like": ID}).

Revision ID: 0008_job_provenance
Revises: 0003_jobs
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_job_provenance"
down_revision = "0003_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("provenance", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("rerun_of", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("rerun_of")
        batch.drop_column("provenance")
