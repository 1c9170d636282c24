"""``JobQueue`` on SQLAlchemy Core: the durable job queue, a table claimed with leases.

A worker claims a queued job (or a running one whose lease ran out) by writing its own lease
token; finishing is conditional on still holding that token, so a job taken over by another
worker after a lease ended is never finished twice. Lease tokens name the host and process, so a
restarted server can take back at once the jobs of a process on its host that is gone.

``enqueue`` queues a job inside the caller's transaction (the writes that make work use it).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, func, insert, or_, select, update

from clarion.storage.jobs import DONE, FAILED, QUEUED, RUNNING, JobRecord
from clarion.storage.schema import jobs
from clarion.storage.sql.base import SqlBase, utcnow
from clarion.storage.sql.notify import notify_jobs

log = logging.getLogger("clarion.jobs")

# How often claims look for jobs held by processes of this host that have died.
RECOVERY_INTERVAL_S = 5.0


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
    # Every job is queued here (ingestion, reindexing, training, evaluations, bulk operations,
    # app copies, blob collection), so every one wakes the listening workers on PostgreSQL.
    notify_jobs(db)


def enqueue_once(db: Connection, kind: str) -> None:
    """Queue a job of ``kind`` unless one is already waiting (for idempotent sweeps)."""
    waiting = db.execute(
        select(jobs.c.pk).where(jobs.c.kind == kind, jobs.c.state == QUEUED).limit(1)
    ).first()
    if waiting is None:
        enqueue(db, kind, {})


class SqlJobQueue(SqlBase):
    """Jobs claimed with leases, by threads of this process and of other processes.

    On PostgreSQL a claim locks the row it takes (``FOR UPDATE SKIP LOCKED``): workers claiming
    at once take different jobs without waiting for each other or for the other writers.
    """

    _serialized_writes = False

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        # Lease tokens are ``host:pid:nonce``; the nonce tells this queue from an earlier
        # process that had the same pid (pids repeat, in containers especially).
        self._holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._next_recovery = 0.0
        self._recovery_lock = threading.Lock()

    def claim(
        self,
        kinds: Sequence[str],
        lease_seconds: float,
        *,
        after_app: int = -1,
        skip_apps: Collection[int] = (),
    ) -> JobRecord | None:
        """Take a claimable job of ``kinds``, or None when there is none.

        Claimable: queued, running with its lease over, or (checked every few seconds) held
        by a process of this host that is gone, such as a worker killed beside this one.
        Apps take turns: a job whose lease ran out comes first, then the oldest queued job of
        the next app after ``after_app`` (wrapping round), never one of ``skip_apps``.
        """
        batch = self.claim_batch(kinds, lease_seconds, after_app=after_app, skip_apps=skip_apps)
        return batch[0] if batch else None

    def claim_batch(
        self,
        kinds: Sequence[str],
        lease_seconds: float,
        *,
        batch_sizes: Mapping[str, int] | None = None,
        spread: int = 1,
        after_app: int = -1,
        skip_apps: Collection[int] = (),
    ) -> list[JobRecord]:
        """The job ``claim`` takes, then more claimable jobs of its kind and app up to
        ``batch_sizes[kind]`` (1 when absent) and to a ``spread``-th of those waiting, all in
        one transaction under one lease token; empty when there is none. Each job of the
        batch is leased, renewed, finished and recovered on its own, as if claimed alone."""
        self._recover_now_and_then()
        now = utcnow()
        ours = and_(jobs.c.kind.in_(kinds), jobs.c.app_pk.not_in(list(skip_apps)))
        token = f"{self._holder}:{secrets.token_hex(4)}"
        with self._write() as db:
            first = _first_claimable(db, ours, now, after_app)
            if first is None:
                return []
            pk, kind, app_pk = first
            size = _share(db, (batch_sizes or {}).get(kind, 1), spread, kind, app_pk, pk, now)
            pks = [pk, *_more_claimable(db, kind, app_pk, pk, now, size - 1)]
            db.execute(
                update(jobs)
                .where(jobs.c.pk.in_(pks))
                .values(
                    state=RUNNING,
                    attempts=jobs.c.attempts + 1,
                    lease_until=now + timedelta(seconds=lease_seconds),
                    lease_token=token,
                    updated_at=now,
                )
            )
            rows = db.execute(select(jobs).where(jobs.c.pk.in_(pks)).order_by(jobs.c.pk)).all()
        return [JobRecord(r.pk, r.kind, r.payload, r.attempts, token, r.app_pk) for r in rows]

    def finish(self, job: JobRecord, *, failed: bool = False) -> bool:
        """Mark the job done (or failed for good); False if another worker has taken it over."""
        with self._write() as db:
            return job.pk in finish_held(db, [job], failed=failed)

    def release(self, job: JobRecord) -> None:
        """Give a job back to the queue, to be tried again."""
        with self._write() as db:
            db.execute(
                update(jobs)
                .where(
                    jobs.c.pk == job.pk,
                    jobs.c.lease_token == job.lease_token,
                    # A job finished keeps its token: never queue it again.
                    jobs.c.state == RUNNING,
                )
                .values(state=QUEUED, lease_until=None, lease_token=None, updated_at=utcnow())
            )

    def renew(self, job: JobRecord, lease_seconds: float) -> bool:
        """Extend the lease of a job still in hand; False if another worker has taken it over."""
        now = utcnow()
        with self._write() as db:
            result = db.execute(
                update(jobs)
                .where(jobs.c.pk == job.pk, jobs.c.lease_token == job.lease_token)
                .values(lease_until=now + timedelta(seconds=lease_seconds), updated_at=now)
            )
        return bool(result.rowcount)

    def _recover_now_and_then(self) -> None:
        with self._recovery_lock:
            if time.monotonic() < self._next_recovery:
                return
            self._next_recovery = time.monotonic() + RECOVERY_INTERVAL_S
        # Only other processes: a second queue of this process (a test's second server)
        # cannot be told from an earlier process with this pid, so that waits for a restart.
        recovered = self.recover_dead_local_holders(other_processes_only=True)
        if recovered:
            log.info("requeued %d jobs left running by a process that is gone", recovered)

    def recover_dead_local_holders(self, *, other_processes_only: bool = False) -> int:
        """Requeue running jobs held by processes of this host that no longer exist."""
        host = socket.gethostname()
        with self._read() as db:
            rows = db.execute(
                select(jobs.c.pk, jobs.c.lease_token).where(
                    jobs.c.state == RUNNING,
                    jobs.c.lease_token.startswith(f"{host}:", autoescape=True),
                )
            ).all()
        dead = [
            row for row in rows if not self._holder_alive(row.lease_token, other_processes_only)
        ]
        if not dead:
            return 0
        recovered = 0
        with self._write() as db:
            for row in dead:  # unless another worker has taken it over since
                recovered += db.execute(
                    update(jobs)
                    .where(jobs.c.pk == row.pk, jobs.c.lease_token == row.lease_token)
                    .values(state=QUEUED, lease_until=None, lease_token=None, updated_at=utcnow())
                ).rowcount
        return recovered

    def counts(self) -> dict[str, float]:
        """Jobs by state (for the metrics gauge)."""
        with self._read() as db:
            rows = db.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state)).all()
        found = {state: 0.0 for state in (QUEUED, RUNNING, DONE, FAILED)}
        found.update({state: float(count) for state, count in rows})
        return found

    def count(self, state: str) -> int:
        with self._read() as db:
            return int(
                db.execute(
                    select(func.count()).select_from(jobs).where(jobs.c.state == state)
                ).scalar_one()
            )

    def _holder_alive(self, token: str, other_processes_only: bool = False) -> bool:
        pid_text = token.split(":")[1] if token.count(":") >= 2 else ""
        if not pid_text.isdigit():
            return True  # not ours to judge: wait for the lease to end
        pid = int(pid_text)
        if pid == os.getpid():
            return other_processes_only or token.startswith(f"{self._holder}:")
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def finish_held(db: Connection, held: Sequence[JobRecord], *, failed: bool = False) -> set[int]:
    """Mark the ``held`` jobs done (or failed for good) in the caller's transaction, each
    only while its lease token still holds it; the pks of those finished."""
    finished: set[int] = set()
    for token in {job.lease_token for job in held}:
        pks = [job.pk for job in held if job.lease_token == token]
        result = db.execute(
            update(jobs)
            .where(jobs.c.pk.in_(pks), jobs.c.lease_token == token)
            .values(state=FAILED if failed else DONE, lease_until=None, updated_at=utcnow())
            .returning(jobs.c.pk)
        )
        finished.update(int(pk) for pk in result.scalars())
    return finished


def _first_claimable(
    db: Connection, ours: ColumnElement[bool], now: datetime, after_app: int
) -> tuple[int, str, int] | None:
    """The job a claim takes first: one whose lease ran out, else the oldest queued job of
    the next app after ``after_app``, wrapping round. (pk, kind, app_pk)."""
    for condition in (
        and_(jobs.c.state == RUNNING, jobs.c.lease_until < now),
        and_(jobs.c.state == QUEUED, jobs.c.app_pk > after_app),
        jobs.c.state == QUEUED,
    ):
        row = _first_row(db, ours, condition)
        if row is not None:
            return int(row.pk), str(row.kind), int(row.app_pk)
    return None


def _share(
    db: Connection,
    limit: int,
    spread: int,
    kind: str,
    app_pk: int,
    first_pk: int,
    now: datetime,
) -> int:
    """How many jobs the batch takes: up to ``limit``, and no more than a ``spread``-th of
    those waiting (rounded up), so that a few jobs (slow URLs, say) still go to several threads
    at once while a long queue is taken in full batches. The count stops where it no longer
    matters, so a million queued jobs cost no more to count than ``limit * spread``."""
    if limit <= 1:
        return 1
    if spread <= 1:
        return limit
    bounded = (
        select(jobs.c.pk)
        .where(_claimable_beside(kind, app_pk, first_pk, now))
        .limit(limit * spread)
        .subquery()
    )
    waiting = 1 + int(db.execute(select(func.count()).select_from(bounded)).scalar_one())
    return min(limit, -(-waiting // spread))


def _more_claimable(
    db: Connection, kind: str, app_pk: int, first_pk: int, now: datetime, limit: int
) -> list[int]:
    """Up to ``limit`` more claimable jobs of ``kind`` and ``app_pk`` for the same batch, the
    oldest first: queued ones, or running ones whose lease ran out."""
    if limit <= 0:
        return []
    rows = db.execute(
        select(jobs.c.pk)
        .where(_claimable_beside(kind, app_pk, first_pk, now))
        .order_by(jobs.c.pk)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    return [int(row.pk) for row in rows]


def _claimable_beside(kind: str, app_pk: int, first_pk: int, now: datetime) -> ColumnElement[bool]:
    """Jobs that could join a batch begun with ``first_pk``: of its kind and app, queued or
    with their lease run out."""
    return and_(
        jobs.c.kind == kind,
        jobs.c.app_pk == app_pk,
        jobs.c.pk != first_pk,
        or_(jobs.c.state == QUEUED, and_(jobs.c.state == RUNNING, jobs.c.lease_until < now)),
    )


def _first_row(db: Connection, *conditions: ColumnElement[bool]) -> Any:
    """The first job meeting ``conditions`` in app order, then age, that no other claim holds
    (on PostgreSQL the row stays locked until the claim commits)."""
    return db.execute(
        select(jobs.c.pk, jobs.c.kind, jobs.c.app_pk)
        .where(*conditions)
        .order_by(jobs.c.app_pk, jobs.c.pk)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).first()
