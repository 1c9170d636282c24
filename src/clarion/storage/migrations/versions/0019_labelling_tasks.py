"""Labelling: tasks, their assignments of inputs to labellers, and annotations that name the
task and the labeller they were made for.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "labelling_tasks",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("app_pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_pk"], ["apps.pk"], name="fk_labelling_tasks_app_pk_apps", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pk", name="pk_labelling_tasks"),
        sa.UniqueConstraint("app_pk", "id", name="uq_labelling_tasks_app_pk"),
    )
    op.create_table(
        "task_assignments",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("input_pk", sa.Integer(), nullable=False),
        sa.Column("worker_user_id", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_pk"],
            ["labelling_tasks.pk"],
            name="fk_task_assignments_task_pk_labelling_tasks",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["input_pk"],
            ["inputs.pk"],
            name="fk_task_assignments_input_pk_inputs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name="pk_task_assignments"),
        sa.UniqueConstraint("id", name="uq_task_assignments_id"),
        sa.UniqueConstraint(
            "task_pk", "input_pk", "worker_user_id", name="uq_task_assignments_task_pk"
        ),
    )
    with op.batch_alter_table("annotations") as batch:
        batch.add_column(sa.Column("task_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("worker_user_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("annotations") as batch:
        batch.drop_column("worker_user_id")
        batch.drop_column("task_id")
    op.drop_table("task_assignments")
    op.drop_table("labelling_tasks")
