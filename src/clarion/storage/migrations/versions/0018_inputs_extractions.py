"""Extraction jobs: inputs made of the files in an archive or a public S3 bucket.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inputs_extractions",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("app_pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("add_job_id", sa.String(64), nullable=False),
        sa.Column("template", sa.JSON(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("status_description", sa.Text(), nullable=False),
        sa.Column("image_count", sa.Integer(), nullable=False),
        sa.Column("text_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_pk"],
            ["apps.pk"],
            name=op.f("fk_inputs_extractions_app_pk_apps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_inputs_extractions")),
        sa.UniqueConstraint("app_pk", "id", name=op.f("uq_inputs_extractions_app_pk")),
    )


def downgrade() -> None:
    op.drop_table("inputs_extractions")
