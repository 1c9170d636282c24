"""Videos: their probed facts, and one embedding per sampled frame for search.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "video_info",
        sa.Column("input_pk", sa.Integer(), nullable=False),
        sa.Column("fps", sa.Float(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("frame_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["input_pk"],
            ["inputs.pk"],
            name="fk_video_info_input_pk_inputs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("input_pk", name="pk_video_info"),
    )
    op.create_table(
        "video_frame_vectors",
        sa.Column("input_pk", sa.Integer(), nullable=False),
        sa.Column("space", sa.String(length=64), nullable=False),
        sa.Column("frame_index", sa.Integer(), nullable=False),
        sa.Column("app_pk", sa.Integer(), nullable=False),
        sa.Column("time_ms", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["input_pk"],
            ["inputs.pk"],
            name="fk_video_frame_vectors_input_pk_inputs",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["app_pk"],
            ["apps.pk"],
            name="fk_video_frame_vectors_app_pk_apps",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("input_pk", "space", "frame_index", name="pk_video_frame_vectors"),
    )
    op.create_index("ix_video_frame_vectors_app_space", "video_frame_vectors", ["app_pk", "space"])


def downgrade() -> None:
    op.drop_index("ix_video_frame_vectors_app_space", table_name="video_frame_vectors")
    op.drop_table("video_frame_vectors")
    op.drop_table("video_info")
