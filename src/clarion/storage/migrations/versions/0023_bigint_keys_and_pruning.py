"""Keys that grow with the inputs are 64-bit; index_log entries carry their time, and the
position up to which the log was pruned is kept.

On PostgreSQL the primary keys of inputs, annotations, jobs and index_log (and every column
referring to an input or an annotation: videos' info and frame vectors included), and a bulk
operation's count of inputs processed, become BIGINT, their sequences too; SQLite's INTEGER
is 64-bit already. Each table is rewritten once (one ALTER TABLE per table). PostgreSQL would
accept a foreign key from an INTEGER column to a BIGINT key, but the column could not hold the
keys past 2**31 - 1, so every column that refers to a widened key is widened with it
(``tests/storage/test_bigint_keys.py`` checks the catalog for any left behind).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

# table -> the columns that become BIGINT
WIDENED = {
    "inputs": ("pk",),
    "annotations": ("pk", "input_pk"),
    "dataset_inputs": ("input_pk",),
    "jobs": ("pk",),
    "input_vectors": ("input_pk",),
    "input_predictions": ("input_pk",),
    "input_metadata": ("input_pk",),
    "annotation_concepts": ("annotation_pk", "input_pk"),
    "index_log": ("seq", "input_pk"),
    "video_info": ("input_pk",),
    "video_frame_vectors": ("input_pk",),
    "bulk_operations": ("processed",),
    "task_assignments": ("input_pk",),
}
SERIALS = (("inputs", "pk"), ("annotations", "pk"), ("jobs", "pk"), ("index_log", "seq"))


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table, columns in WIDENED.items():
            changes = ", ".join(f"ALTER COLUMN {column} TYPE BIGINT" for column in columns)
            op.execute(f"ALTER TABLE {table} {changes}")
        for table, column in SERIALS:
            sequence = bind.execute(
                sa.text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": table, "column": column},
            ).scalar()
            if sequence:
                op.execute(f"ALTER SEQUENCE {sequence} AS BIGINT")
    with op.batch_alter_table("index_log", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "logged_at",
                sa.DateTime(timezone=True),
                nullable=True,
                server_default=sa.func.current_timestamp(),
            )
        )
    op.create_table(
        "index_log_pruned",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("index_log_pruned")
    with op.batch_alter_table("index_log", schema=None) as batch_op:
        batch_op.drop_column("logged_at")
