"""Queueing a job inside the caller's transaction (the writes that make work use these)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from clarion.storage.notify import notify_jobs
from clarion.storage.schema import jobs

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"

INGEST_JOB = "ingest"
COLLECT_BLOBS_JOB = "collect_blobs"
REINDEX_JOB = "reindex"  # an app's inputs indexed again (``clarion.storage.reindexing``)


def enqueue(db: Connection, kind: str, payload: Mapping[str, Any], app_pk: int = 0) -> None:
    """Queue a job inside the caller's transaction; ``app_pk`` says whose work it is (0: no
    one app's), so that workers can take apps' jobs in turn."""
    now = datetime.now(UTC)
    db.execute(
        insert(jobs).values(
            kind=kind,
            app_pk=app_pk,
            payload=dict(payload),
            state=QUEUED,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
    )
    notify_jobs(db)


def enqueue_once(db: Connection, kind: str) -> None:
    """Queue a job of ``kind`` unless one is already waiting (for idempotent sweeps)."""
    waiting = db.execute(
        select(jobs.c.pk).where(jobs.c.kind == kind, jobs.c.state == QUEUED).limit(1)
    ).first()
    if waiting is None:
        enqueue(db, kind, {})
