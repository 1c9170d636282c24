"""Uploads in parts, the parts' bytes kept in the database.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("app_pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("content_name", sa.String(255), nullable=False),
        sa.Column("content_length", sa.BigInteger(), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_pk"], ["apps.pk"], name=op.f("fk_uploads_app_pk_apps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_uploads")),
        sa.UniqueConstraint("app_pk", "id", name=op.f("uq_uploads_app_pk")),
    )
    op.create_table(
        "upload_parts",
        sa.Column("upload_pk", sa.Integer(), nullable=False),
        sa.Column("part_number", sa.BigInteger(), nullable=False),
        sa.Column("range_start", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["upload_pk"],
            ["uploads.pk"],
            name=op.f("fk_upload_parts_upload_pk_uploads"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("upload_pk", "part_number", name=op.f("uq_upload_parts_upload_pk")),
    )


def downgrade() -> None:
    op.drop_table("upload_parts")
    op.drop_table("uploads")
