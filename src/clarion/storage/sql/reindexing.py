"""Reindexing an app: its inputs' search data computed again, in chunks of queued jobs.

A reindex is a chain of ``reindex`` jobs. Each job reindexes the next few inputs of the app
after its cursor (``after``, an input key) and queues the next job with the cursor moved on,
so a crash costs at most one chunk, done again. The inputs are those the app had when the
reindex was asked for (keys up to ``last``): inputs added later are indexed by ingestion,
with the new base workflow already.

Chains do not pile up: a job stops its chain where a newer job of the same app (a higher job
key) will cover its remaining inputs (its cursor is not past this one's). A second request
while a reindex runs therefore restarts it from the first input, and a job run twice after a
crash leaves one chain going on. Nothing here needs its own table: the chain lives in the job
queue, which is also where its progress is read.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from sqlalchemy import Connection, func, select

from clarion.storage.inputs import INPUT_SUCCESS
from clarion.storage.jobs import QUEUED, REINDEX_JOB, RUNNING
from clarion.storage.schema import inputs, jobs
from clarion.storage.searches import ReindexItem, ReindexProgress, ReindexStep
from clarion.storage.sql.base import SqlBase
from clarion.storage.sql.jobs import enqueue

# Input rows read per query while looking for the app's next inputs (other apps' are skipped).
_SCAN_ROWS = 512


class SqlReindexing(SqlBase):
    """The reindex chains of apps, in the job queue."""

    def request_reindex(self, app_pk: int) -> int:
        """Queue a reindex of the app's processed inputs; returns how many it will reindex
        (none queued when there are none)."""
        with self._write() as db:
            last, total = db.execute(
                select(func.max(inputs.c.pk), func.count()).where(
                    inputs.c.app_pk == app_pk, inputs.c.status_code == INPUT_SUCCESS
                )
            ).one()
            if not total:
                return 0
            step = ReindexStep(app_pk, after=0, last=int(last), total=int(total))
            _enqueue(db, step)
        return int(total)

    def reindex_batch(self, step: ReindexStep, count: int) -> list[ReindexItem]:
        """The next ``count`` processed inputs of the step's app after its cursor."""
        found: list[ReindexItem] = []
        after = step.after
        with self._read() as db:
            while len(found) < count and after < step.last:
                # By key on the primary key, in order: a range scan on any database.
                rows = db.execute(
                    select(
                        inputs.c.pk,
                        inputs.c.app_pk,
                        inputs.c.kind,
                        inputs.c.blob,
                        inputs.c.text,
                        inputs.c.status_code,
                    )
                    .where(inputs.c.pk > after, inputs.c.pk <= step.last)
                    .order_by(inputs.c.pk)
                    .limit(_SCAN_ROWS)
                ).all()
                if not rows:
                    break
                after = int(rows[-1].pk)
                found += [
                    ReindexItem(row.pk, row.kind, row.blob, row.text)
                    for row in rows
                    if row.app_pk == step.app_pk and row.status_code == INPUT_SUCCESS
                ]
        return found[:count]

    def superseded(self, step: ReindexStep) -> bool:
        """Whether a newer job of the app will reindex every input this step would."""
        with self._read() as db:
            return _superseded(db, step, step.after)

    def continue_reindex(self, step: ReindexStep, following: ReindexStep) -> bool:
        """Queue ``following``, the next step of ``step``'s chain, unless a newer job will
        reindex its inputs; True if queued."""
        with self._write() as db:
            if _superseded(db, step, following.after):
                return False
            _enqueue(db, following)
        return True

    def reindex_progress(self, app_pk: int) -> ReindexProgress | None:
        """The app's reindex under way (its newest chain), or None."""
        with self._read() as db:
            steps = [step for _, step in _active(db) if step.app_pk == app_pk]
        if not steps:
            return None
        newest = steps[-1]
        return ReindexProgress(newest.done, newest.total, newest.errors)


def _enqueue(db: Connection, step: ReindexStep) -> None:
    payload = step.payload()
    payload["nonce"] = secrets.token_hex(8)
    enqueue(db, REINDEX_JOB, payload, step.app_pk)


def _active(db: Connection) -> list[tuple[int, ReindexStep]]:
    """The queued and running reindex jobs, oldest first."""
    rows = db.execute(
        select(jobs.c.pk, jobs.c.payload)
        .where(jobs.c.kind == REINDEX_JOB, jobs.c.state.in_((QUEUED, RUNNING)))
        .order_by(jobs.c.pk)
    ).all()
    return [(int(row.pk), ReindexStep.of(row.payload)) for row in rows]


def _superseded(db: Connection, step: ReindexStep, cursor: int) -> bool:
    """Whether a job queued after ``step``'s, of the same app, starts at or before ``cursor``
    (so it will reindex every input the chain would from there)."""
    active = _active(db)
    mine = _job_key(active, step.nonce)
    return any(
        key > mine and other.app_pk == step.app_pk and other.after <= cursor
        for key, other in active
        if other.nonce != step.nonce
    )


def _job_key(active: Iterable[tuple[int, ReindexStep]], nonce: str) -> int:
    """The queue key of the job with ``nonce``; 0 (older than all) when it is not active."""
    return next((key for key, step in active if step.nonce == nonce), 0)
