"""A model's labels (toolkits, use cases, languages, consent checks), a model version's
visibility, metadata and license, and workflow versions (one per set of nodes a workflow had;
each existing workflow gets its first version here).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("custom_models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("labels", sa.JSON(), nullable=True))
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("visibility", sa.Integer(), nullable=False, server_default="10")
        )
        batch_op.add_column(sa.Column("metadata", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("license", sa.String(length=64), nullable=False, server_default="")
        )
    versions = op.create_table(
        "workflow_versions",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workflow_pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("nodes", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("license", sa.String(length=64), nullable=False),
        sa.Column("visibility", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_pk"],
            ["workflows.pk"],
            name=op.f("fk_workflow_versions_workflow_pk_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_workflow_versions")),
        sa.UniqueConstraint("workflow_pk", "id", name=op.f("uq_workflow_versions_workflow_pk")),
    )
    _first_versions(versions)


def _first_versions(versions: sa.Table) -> None:
    """Each workflow's nodes as they are now become its first version."""
    workflows = sa.table(
        "workflows",
        sa.column("pk", sa.Integer()),
        sa.column("nodes", sa.JSON()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(workflows.c.pk, workflows.c.nodes, workflows.c.created_at))
    first = [
        {
            "workflow_pk": row.pk,
            "id": uuid.uuid4().hex,
            "nodes": row.nodes or [],
            "description": "",
            "metadata": {},
            "license": "",
            "visibility": 10,
            "created_at": row.created_at,
            "modified_at": row.created_at,
        }
        for row in rows
    ]
    if first:
        op.bulk_insert(versions, first)


def downgrade() -> None:
    op.drop_table("workflow_versions")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_column("license")
        batch_op.drop_column("metadata")
        batch_op.drop_column("visibility")
    with op.batch_alter_table("custom_models", schema=None) as batch_op:
        batch_op.drop_column("labels")
