"""Pruning what grows without bound with use: finished jobs and old ``index_log`` entries.

Both are kept ``retention`` (``CLARION_RETENTION_SECONDS``) after they were last written.
``index_log`` is what in-memory indexes replay to stay current, so the position up to which it
was pruned is recorded (``index_log_pruned``): an index that reflects an older position cannot
catch up from the log any more and is built again from the stored vectors
(``IndexRegistry``). Indexes in PostgreSQL (pgvector) never read the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, delete, func, insert, select, update

from clarion.storage.jobs import DONE, FAILED
from clarion.storage.schema import index_log, index_log_pruned, jobs
from clarion.storage.sql.base import SqlBase, driver_rows, utcnow

_MARKER = 1  # the one row of index_log_pruned


@dataclass(frozen=True, slots=True)
class Pruned:
    jobs: int
    log_entries: int


class SqlPruning(SqlBase):
    def prune(self, retention_seconds: float) -> Pruned:
        """Delete jobs finished, and log entries written, more than ``retention_seconds`` ago."""
        cutoff = utcnow() - timedelta(seconds=retention_seconds)
        with self._write() as db:
            finished = db.execute(
                delete(jobs).where(jobs.c.state.in_((DONE, FAILED)), jobs.c.updated_at < cutoff)
            ).rowcount
            last = db.execute(
                select(func.max(index_log.c.seq)).where(index_log.c.logged_at < cutoff)
            ).scalar_one()
            entries = 0
            if last is not None:
                entries = db.execute(delete(index_log).where(index_log.c.seq <= last)).rowcount
                self._mark(db, int(last))
        return Pruned(int(finished or 0), int(entries or 0))

    def pruned_through(self) -> int:
        """The last log position pruned (0: none)."""
        with self._read() as db:
            # Every search of an in-memory index asks: straight to the driver.
            rows = driver_rows(db, "SELECT seq FROM index_log_pruned WHERE id = ?", (_MARKER,))
        return int(rows[0][0]) if rows else 0

    @staticmethod
    def _mark(db: Connection, seq: int) -> None:
        changed = db.execute(
            update(index_log_pruned)
            .where(index_log_pruned.c.id == _MARKER, index_log_pruned.c.seq < seq)
            .values(seq=seq)
        ).rowcount
        if not changed:
            exists = db.execute(
                select(index_log_pruned.c.id).where(index_log_pruned.c.id == _MARKER)
            ).first()
            if exists is None:
                db.execute(insert(index_log_pruned).values(id=_MARKER, seq=seq))
