"""Evaluations of model versions (the evaluation API), and a version's training parameters.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("train_params", sa.JSON(), nullable=True))
    op.create_table(
        "evaluations",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("app_pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version_pk", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("status_description", sa.Text(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_pk"], ["apps.pk"], name=op.f("fk_evaluations_app_pk_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["version_pk"],
            ["model_versions.pk"],
            name=op.f("fk_evaluations_version_pk_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_evaluations")),
        sa.UniqueConstraint("app_pk", "id", name=op.f("uq_evaluations_app_pk")),
    )
    op.create_index("ix_evaluations_version_pk", "evaluations", ["version_pk"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_evaluations_version_pk", table_name="evaluations")
    op.drop_table("evaluations")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_column("train_params")
