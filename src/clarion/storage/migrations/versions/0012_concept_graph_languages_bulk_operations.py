"""Concepts' names in other languages, knowledge graphs and concept relations, and bulk
operations.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _app_pk(table: str) -> tuple[sa.Column[int], sa.ForeignKeyConstraint]:
    return (
        sa.Column("app_pk", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_pk"], ["apps.pk"], name=op.f(f"fk_{table}_app_pk_apps"), ondelete="CASCADE"
        ),
    )


def _keys(table: str, *unique: str) -> tuple[sa.Constraint, ...]:
    return (
        sa.PrimaryKeyConstraint("pk", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint(*unique, name=op.f(f"uq_{table}_app_pk")),
    )


def _when(*names: str) -> list[sa.Column[object]]:
    return [sa.Column(name, sa.DateTime(timezone=True), nullable=False) for name in names]


def upgrade() -> None:
    column, foreign = _app_pk("concept_languages")
    op.create_table(
        "concept_languages",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        column,
        sa.Column("concept_id", sa.String(length=255), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        *_when("created_at", "modified_at"),
        foreign,
        *_keys("concept_languages", "app_pk", "concept_id", "language"),
    )
    op.create_index(
        "ix_concept_languages_app_pk_language", "concept_languages", ["app_pk", "language"]
    )
    column, foreign = _app_pk("knowledge_graphs")
    op.create_table(
        "knowledge_graphs",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        column,
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("examples_app_id", sa.String(length=64), nullable=False),
        sa.Column("sampled_examples_app_id", sa.String(length=64), nullable=False),
        *_when("created_at"),
        foreign,
        *_keys("knowledge_graphs", "app_pk", "id"),
    )
    column, foreign = _app_pk("concept_relations")
    op.create_table(
        "concept_relations",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        column,
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=255), nullable=False),
        sa.Column("object_id", sa.String(length=255), nullable=False),
        sa.Column("predicate", sa.String(length=16), nullable=False),
        sa.Column("knowledge_graph_id", sa.String(length=64), nullable=False),
        *_when("created_at"),
        foreign,
        *_keys("concept_relations", "app_pk", "id"),
    )
    op.create_index("ix_concept_relations_subject", "concept_relations", ["app_pk", "subject_id"])
    op.create_index("ix_concept_relations_object", "concept_relations", ["app_pk", "object_id"])
    column, foreign = _app_pk("bulk_operations")
    op.create_table(
        "bulk_operations",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        column,
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("operation", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("last_processed_id", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        *_when("created_at", "modified_at"),
        foreign,
        *_keys("bulk_operations", "app_pk", "id"),
    )


def downgrade() -> None:
    op.drop_table("bulk_operations")
    op.drop_index("ix_concept_relations_object", table_name="concept_relations")
    op.drop_index("ix_concept_relations_subject", table_name="concept_relations")
    op.drop_table("concept_relations")
    op.drop_table("knowledge_graphs")
    op.drop_index("ix_concept_languages_app_pk_language", table_name="concept_languages")
    op.drop_table("concept_languages")
