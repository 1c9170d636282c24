"""Reindex every app with processed inputs: general-image-recognition's vocabulary changed.

The general model now answers general concepts under Clarifai's ids (dog is ``ai_8S2Vq3cR``)
besides ImageNet's classes, some of which changed ids. Inputs indexed before keep the old
predicted concepts, so a search by ``dog`` would not find them; this queues the same chain of
``reindex`` jobs that ``clarion reindex`` queues (``clarion.storage.reindexing``), one per
app, which the workers run in the background while search keeps answering. The tables are
declared here as they are at this revision, so later schema changes cannot break it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_INPUT_SUCCESS = 30000
_inputs = sa.table(
    "inputs",
    sa.column("pk", sa.Integer),
    sa.column("app_pk", sa.Integer),
    sa.column("status_code", sa.Integer),
)
_jobs = sa.table(
    "jobs",
    sa.column("kind", sa.String),
    sa.column("payload", sa.JSON),
    sa.column("state", sa.String),
    sa.column("attempts", sa.Integer),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    db = op.get_bind()
    apps = db.execute(
        sa.select(_inputs.c.app_pk, sa.func.max(_inputs.c.pk), sa.func.count())
        .where(_inputs.c.status_code == _INPUT_SUCCESS)
        .group_by(_inputs.c.app_pk)
        .order_by(_inputs.c.app_pk)
    ).all()
    now = datetime.now(UTC)
    for app_pk, last, total in apps:
        payload = {
            "app_pk": int(app_pk), "after": 0, "last": int(last), "done": 0,
            "total": int(total), "errors": 0, "nonce": secrets.token_hex(8),
        }  # fmt: skip
        db.execute(
            sa.insert(_jobs).values(
                kind="reindex",
                payload=payload,
                state="queued",
                attempts=0,
                created_at=now,
                updated_at=now,
            )
        )


def downgrade() -> None:
    pass  # the reindex only recomputes search data; nothing to undo
