"""Every job is queued through ``enqueue`` (``clarion.storage.sql.jobs``), which notifies the
listening workers in the queueing transaction on PostgreSQL: ingestion, reindexing, training,
evaluations, bulk operations, app copies and blob collection alike."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import text

import clarion.storage
from clarion.storage.engine import create_db_engine, migrate
from clarion.storage.jobs import INGEST_JOB
from clarion.storage.sql.jobs import enqueue
from clarion.storage.sql.notify import JOBS_CHANNEL
from clarion.testing import database_under_test, database_url_for

STORAGE = Path(clarion.storage.__file__).parent
# A write to the jobs table that could make a queued job: an insert, or a state set back.
_QUEUES = re.compile(r"insert\(\s*jobs\b|update\(\s*jobs\b[^\n]*\n?[^\n]*QUEUED")


def test_jobs_are_queued_only_by_enqueue() -> None:
    writers = sorted(
        str(path.relative_to(STORAGE))
        for path in STORAGE.rglob("*.py")
        if _QUEUES.search(path.read_text())
    )
    assert writers == ["sql/jobs.py"], writers


@pytest.mark.skipif(
    database_under_test() != "postgresql", reason="set CLARION_TEST_DATABASE=postgresql"
)
def test_enqueue_notifies_when_its_transaction_commits(tmp_path: Path) -> None:
    import psycopg

    engine = create_db_engine(database_url_for(tmp_path))
    migrate(engine)
    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, autocommit=True) as listener:
            listener.execute(f"LISTEN {JOBS_CHANNEL}")
            with engine.begin() as db:
                enqueue(db, INGEST_JOB, {"input_pk": 1})
                db.execute(text("SELECT 1"))
            heard = list(listener.notifies(timeout=5.0, stop_after=1))
        assert [note.channel for note in heard] == [JOBS_CHANNEL]
    finally:
        engine.dispose()
