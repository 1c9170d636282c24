"""Compute clusters, nodepools, runners and deployments (one table, by kind).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compute_resources",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=140), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("model_key", sa.String(length=200), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_compute_resources_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_compute_resources")),
        sa.UniqueConstraint(
            "user_id", "kind", "scope", "id", name=op.f("uq_compute_resources_user_id")
        ),
    )
    op.create_index("ix_compute_resources_model_key", "compute_resources", ["model_key"])


def downgrade() -> None:
    op.drop_index("ix_compute_resources_model_key", table_name="compute_resources")
    op.drop_table("compute_resources")
