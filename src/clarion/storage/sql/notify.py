"""Workers woken by PostgreSQL's LISTEN/NOTIFY instead of polling the queue.

A transaction that queues a job also sends a notification on ``JOBS_CHANNEL``; PostgreSQL
delivers it when (and only if) the transaction commits, to every process listening, and folds
the notifications of one transaction into one. ``SqlJobNotifications`` listens on a connection
of its own (a pooled one would be handed to other work) and wakes the local workers. Polling
stays, much slower, as the safety net for a notification lost while the listener reconnects
and for leases that expire (a worker that died holding jobs).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, text

from clarion.storage.dialect import is_postgresql

log = logging.getLogger("clarion.notify")

JOBS_CHANNEL = "clarion_jobs"
# How long the listener waits for a notification before it checks whether to stop.
_LISTEN_SECONDS = 1.0
_RECONNECT_SECONDS = 2.0


def notify_jobs(db: Connection) -> None:
    """Inside a transaction that queues jobs: wake the listening workers when it commits."""
    if is_postgresql(db):
        db.execute(text("SELECT pg_notify(:channel, '')"), {"channel": JOBS_CHANNEL})


class SqlJobNotifications:
    """A thread that LISTENs on ``JOBS_CHANNEL`` and calls ``wake`` on each notification."""

    def __init__(self, engine: Engine) -> None:
        # libpq's own URL form: psycopg connects without SQLAlchemy's pool.
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()  # set while a connection listens (tests wait on it)

    def start(self, wake: Callable[[], None]) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(wake,), name="clarion-listen", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(_LISTEN_SECONDS * 3)

    def _run(self, wake: Callable[[], None]) -> None:
        while not self._stopping.is_set():
            try:
                self._listen(wake)
            except Exception as error:  # the database restarted, a proxy cut the connection
                self.listening.clear()
                log.warning("job notifications lost (%s): reconnecting; workers poll", error)
                self._stopping.wait(_RECONNECT_SECONDS)

    def _listen(self, wake: Callable[[], None]) -> None:
        import psycopg

        with psycopg.connect(self._conninfo, autocommit=True) as connection:
            connection.execute(f"LISTEN {JOBS_CHANNEL}")
            self.listening.set()
            wake()  # jobs queued while nobody listened
            while not self._stopping.is_set():
                notices: Any = connection.notifies(timeout=_LISTEN_SECONDS, stop_after=1)
                for _ in notices:
                    wake()


def job_notifications(engine: Engine) -> Callable[[], SqlJobNotifications] | None:
    """A maker of listeners on ``engine``'s database (one per worker pool); None on SQLite,
    whose workers share the process that queues and are woken directly."""
    if not is_postgresql(engine):
        return None
    return functools.partial(SqlJobNotifications, engine)
