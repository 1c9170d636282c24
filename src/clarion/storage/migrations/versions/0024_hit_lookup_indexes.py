"""Indexes that a search's hits and its filter checks look up by input.

A search hydrates its hits in one statement that finds each hit's input-level annotation and
its datasets by input key: without ``ix_annotations_input_level`` and
``ix_dataset_inputs_input`` both were scans of the whole table per hit (the primary key of
``dataset_inputs`` starts with the dataset). A filter checked on a query's candidates probes
``input_metadata`` per candidate for a (path, value) pair: with the pair in the index beside
the input key the probe reads the index alone, so it replaces the index on the key alone.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_annotations_input_level", "annotations", ["input_pk", "input_level"], unique=False
    )
    op.create_index("ix_dataset_inputs_input", "dataset_inputs", ["input_pk"], unique=False)
    op.create_index(
        "ix_input_metadata_input_path_value",
        "input_metadata",
        ["input_pk", "path", "value"],
        unique=False,
    )
    op.drop_index("ix_input_metadata_input", table_name="input_metadata")


def downgrade() -> None:
    op.create_index("ix_input_metadata_input", "input_metadata", ["input_pk"], unique=False)
    op.drop_index("ix_input_metadata_input_path_value", table_name="input_metadata")
    op.drop_index("ix_dataset_inputs_input", table_name="dataset_inputs")
    op.drop_index("ix_annotations_input_level", table_name="annotations")
