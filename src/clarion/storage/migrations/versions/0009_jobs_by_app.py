"""Jobs name their app, so workers can take apps' jobs in turn (0: a job of no one app).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("app_pk", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_jobs_state_app_pk", "jobs", ["state", "app_pk", "pk"])


def downgrade() -> None:
    op.drop_index("ix_jobs_state_app_pk", table_name="jobs")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("app_pk")
