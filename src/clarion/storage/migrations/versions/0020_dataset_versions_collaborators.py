"""Dataset versions (frozen copies of a dataset's inputs and annotations), evaluations
against one, and collaborators.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dataset_version_id", sa.String(length=64), nullable=False, server_default="")
        )
    op.create_table(
        "dataset_versions",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("app_pk", sa.Integer(), nullable=False),
        sa.Column("dataset_pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_pk"],
            ["apps.pk"],
            name=op.f("fk_dataset_versions_app_pk_apps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dataset_pk"],
            ["datasets.pk"],
            name=op.f("fk_dataset_versions_dataset_pk_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_dataset_versions")),
        sa.UniqueConstraint("dataset_pk", "id", name=op.f("uq_dataset_versions_dataset_pk")),
    )
    op.create_table(
        "dataset_version_inputs",
        sa.Column("version_pk", sa.Integer(), nullable=False),
        sa.Column("input_id", sa.String(length=64), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_pk"],
            ["dataset_versions.pk"],
            name=op.f("fk_dataset_version_inputs_version_pk_dataset_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_pk", "input_id", name=op.f("pk_dataset_version_inputs")),
    )
    op.create_table(
        "collaborators",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("app_pk", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("endpoints", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_pk"], ["apps.pk"], name=op.f("fk_collaborators_app_pk_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_collaborators_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_collaborators")),
        sa.UniqueConstraint("app_pk", "user_id", name=op.f("uq_collaborators_app_pk")),
    )
    op.create_index("ix_collaborators_user_id", "collaborators", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_collaborators_user_id", table_name="collaborators")
    op.drop_table("collaborators")
    op.drop_table("dataset_version_inputs")
    op.drop_table("dataset_versions")
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_column("dataset_version_id")
