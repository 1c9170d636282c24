"""The durable job queue: a table, claimed with leases.

A worker claims a queued job (or a running one whose lease ran out) by writing its own lease
token; finishing is conditional on still holding that token, so a job taken over by another
worker after a lease ended is never finished twice. Lease tokens name the host and process, so a
restarted server can take back at once the jobs of a process on its host that is gone.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Engine, and_, func, or_, select, update

from clarion.storage.base import JobRecord
from clarion.storage.queue import DONE, FAILED, QUEUED, RUNNING, enqueue, enqueue_once
from clarion.storage.schema import jobs
from clarion.storage.sql import SqlBase, utcnow

__all__ = ["DONE", "FAILED", "QUEUED", "RUNNING", "SqlJobQueue", "enqueue", "enqueue_once"]


class SqlJobQueue(SqlBase):
    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        # Lease tokens are ``host:pid:nonce``; the nonce tells this queue from an earlier
        # process that had the same pid (pids repeat, in containers especially).
        self._holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    def claim(self, kinds: Sequence[str], lease_seconds: float) -> JobRecord | None:
        """Take the oldest claimable job of ``kinds``, or None when there is none."""
        now = utcnow()
        claimable = and_(
            jobs.c.kind.in_(kinds),
            or_(jobs.c.state == QUEUED, and_(jobs.c.state == RUNNING, jobs.c.lease_until < now)),
        )
        token = f"{self._holder}:{secrets.token_hex(4)}"
        with self._write() as db:
            row = db.execute(
                select(jobs.c.pk).where(claimable).order_by(jobs.c.pk).limit(1)
            ).first()
            if row is None:
                return None
            db.execute(
                update(jobs)
                .where(jobs.c.pk == row.pk)
                .values(
                    state=RUNNING,
                    attempts=jobs.c.attempts + 1,
                    lease_until=now + timedelta(seconds=lease_seconds),
                    lease_token=token,
                    updated_at=now,
                )
            )
            job = db.execute(select(jobs).where(jobs.c.pk == row.pk)).one()
        return JobRecord(job.pk, job.kind, job.payload, job.attempts, token)

    def finish(self, job: JobRecord, *, failed: bool = False) -> bool:
        """Mark the job done (or failed for good); False if another worker has taken it over."""
        with self._write() as db:
            result = db.execute(
                update(jobs)
                .where(jobs.c.pk == job.pk, jobs.c.lease_token == job.lease_token)
                .values(state=FAILED if failed else DONE, lease_until=None, updated_at=utcnow())
            )
        return bool(result.rowcount)

    def release(self, job: JobRecord) -> None:
        """Give a job back to the queue, to be tried again."""
        with self._write() as db:
            db.execute(
                update(jobs)
                .where(jobs.c.pk == job.pk, jobs.c.lease_token == job.lease_token)
                .values(state=QUEUED, lease_until=None, lease_token=None, updated_at=utcnow())
            )

    def recover_dead_local_holders(self) -> int:
        """Requeue running jobs held by processes of this host that no longer exist."""
        host = socket.gethostname()
        with self._write() as db:
            rows = db.execute(
                select(jobs.c.pk, jobs.c.lease_token).where(
                    jobs.c.state == RUNNING, jobs.c.lease_token.startswith(f"{host}:")
                )
            ).all()
            dead = [row.pk for row in rows if not self._holder_alive(row.lease_token)]
            if dead:
                db.execute(
                    update(jobs)
                    .where(jobs.c.pk.in_(dead))
                    .values(state=QUEUED, lease_until=None, lease_token=None, updated_at=utcnow())
                )
        return len(dead)

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

    def _holder_alive(self, token: str) -> bool:
        pid_text = token.split(":")[1] if token.count(":") >= 2 else ""
        if not pid_text.isdigit():
            return True  # not ours to judge: wait for the lease to end
        pid = int(pid_text)
        if pid == os.getpid():
            return token.startswith(f"{self._holder}:")
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
