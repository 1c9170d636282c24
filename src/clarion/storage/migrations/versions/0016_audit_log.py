"""The audit log: one row per call that writes, success or not.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("operation", sa.Integer(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("req_id", sa.String(128), nullable=False),
        sa.Column("source_ip", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("key_ref", sa.String(64), nullable=False),
        sa.Column("app_user_id", sa.String(64), nullable=False),
        sa.Column("app_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_user_id_pk", "audit_log", ["user_id", "pk"])
    op.create_index("ix_audit_log_app_user_id_pk", "audit_log", ["app_user_id", "pk"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_app_user_id_pk", table_name="audit_log")
    op.drop_index("ix_audit_log_user_id_pk", table_name="audit_log")
    op.drop_table("audit_log")
