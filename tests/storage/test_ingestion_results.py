"""``save_batch`` on both databases: an input's search data and its success status in one
transaction, so neither is ever seen without the other, and a batch's outcomes with its jobs
finished in the same transaction.

SQLite always runs; PostgreSQL runs when ``CLARION_TEST_DATABASE=postgresql``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, func, select

from clarion.storage.accounts import AppRecord, UserRecord
from clarion.storage.engine import create_db_engine, migrate
from clarion.storage.errors import StorageError
from clarion.storage.ingestion import IngestedFacts, IngestedInput, RejectedInput
from clarion.storage.inputs import INPUT_FAILED, INPUT_PENDING, INPUT_SUCCESS, InputRecord
from clarion.storage.jobs import DONE, INGEST_JOB, RUNNING, JobRecord
from clarion.storage.schema import index_log, input_predictions, input_vectors
from clarion.storage.sql import SqlAccountStore, SqlInputStore, SqlJobQueue, SqlSearchStore
from clarion.testing import database_url_for

SPACE = "general-image-embedding"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_db_engine(database_url_for(tmp_path))  # CLARION_TEST_DATABASE picks
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def input_pk(engine: Engine) -> tuple[int, int]:
    accounts = SqlAccountStore(engine)
    accounts.create_user(UserRecord("u"))
    accounts.create_apps([AppRecord(user_id="u", id="a")])
    app = accounts.get_app("u", "a")
    assert app is not None and app.pk is not None
    (record,) = SqlInputStore(engine).add_inputs(app.pk, [InputRecord(id="one", kind="image")], [])
    assert record.pk is not None
    return app.pk, record.pk


def counts(engine: Engine, pk: int) -> tuple[int, int, int]:
    with engine.connect() as db:
        return tuple(  # type: ignore[return-value]
            int(db.execute(select(func.count()).where(table.c.input_pk == pk)).scalar_one())
            for table in (input_vectors, input_predictions, index_log)
        )


def test_the_search_data_and_the_status_land_together(
    engine: Engine, input_pk: tuple[int, int]
) -> None:
    app_pk, pk = input_pk
    facts = IngestedFacts("Download complete", blob="ab" * 32, size=(640, 480), image_format="JPEG")
    vectors = {SPACE: np.full(4, 0.5, np.float32)}
    SqlSearchStore(engine).save_batch(
        [IngestedInput(app_pk, pk, vectors, [("cat", "cat", 0.9)], facts)], [], []
    )
    assert counts(engine, pk) == (1, 1, 1)
    found = SqlInputStore(engine).get_input_by_pk(pk)
    assert found is not None
    record = found[1]
    assert (record.status_code, record.status_description) == (INPUT_SUCCESS, "Download complete")
    assert (record.blob, record.width, record.height, record.format) == (
        "ab" * 32,
        640,
        480,
        "JPEG",
    )


def test_a_status_the_database_refuses_stores_no_search_data(
    engine: Engine, input_pk: tuple[int, int]
) -> None:
    """The status is written last; when it fails, the vectors and concepts written before it
    in the same transaction are rolled back, and the input stays pending for a re-run."""
    app_pk, pk = input_pk
    too_wide = IngestedFacts("Download complete", size=(2**70, 1))  # no integer column holds it
    # SQLite's driver refuses to bind it; PostgreSQL refuses it (a storage error).
    vectors = {SPACE: np.full(4, 0.5, np.float32)}
    with pytest.raises((OverflowError, StorageError)):
        SqlSearchStore(engine).save_batch(
            [IngestedInput(app_pk, pk, vectors, [("cat", "cat", 0.9)], too_wide)], [], []
        )
    assert counts(engine, pk) == (0, 0, 0)
    found = SqlInputStore(engine).get_input_by_pk(pk)
    assert found is not None and found[1].status_code == INPUT_PENDING


def two_inputs_and_their_jobs(
    engine: Engine, app_pk: int
) -> tuple[list[int], list[JobRecord], SqlJobQueue]:
    """Two more pending inputs of the app; the ingest jobs of the app's three (queued as they
    were added), claimed as one batch."""
    added = SqlInputStore(engine).add_inputs(
        app_pk, [InputRecord(id="two", kind="image"), InputRecord(id="three", kind="image")], []
    )
    pks = [record.pk for record in added if record.pk is not None]
    queue = SqlJobQueue(engine)
    batch = queue.claim_batch([INGEST_JOB], 60, batch_sizes={INGEST_JOB: 8})
    assert [job.payload["input_pk"] for job in batch][1:] == pks
    assert len({job.lease_token for job in batch}) == 1
    return pks, batch, queue


def test_a_batch_stores_every_outcome_and_finishes_its_jobs_together(
    engine: Engine, input_pk: tuple[int, int]
) -> None:
    app_pk, _ = input_pk
    (good, bad), batch, queue = two_inputs_and_their_jobs(engine, app_pk)
    facts = IngestedFacts("Download complete", blob="cd" * 32, size=(3, 2), image_format="PNG")
    vectors = {SPACE: np.full(4, 0.5, np.float32)}
    ingested = IngestedInput(app_pk, good, vectors, [("cat", "cat", 0.9)], facts)

    finished = SqlSearchStore(engine).save_batch([ingested], [RejectedInput(bad, "no")], batch)

    assert finished == {job.pk for job in batch}
    assert queue.counts()[DONE] == 3
    assert counts(engine, good) == (1, 1, 1) and counts(engine, bad) == (0, 0, 0)
    statuses = SqlInputStore(engine).get_inputs_by_pks([good, bad])
    assert statuses[good][1].status_code == INPUT_SUCCESS
    assert (statuses[bad][1].status_code, statuses[bad][1].status_description) == (
        INPUT_FAILED,
        "no",
    )


def test_a_batch_that_cannot_be_stored_leaves_its_inputs_pending_and_its_jobs_held(
    engine: Engine, input_pk: tuple[int, int]
) -> None:
    app_pk, _ = input_pk
    (good, bad), batch, queue = two_inputs_and_their_jobs(engine, app_pk)
    vectors = {SPACE: np.full(4, 0.5, np.float32)}
    fine = IngestedInput(app_pk, good, vectors, [], IngestedFacts("Download complete"))
    too_wide = IngestedInput(app_pk, bad, vectors, [], IngestedFacts("", size=(2**70, 1)))

    with pytest.raises((OverflowError, StorageError)):
        SqlSearchStore(engine).save_batch([fine, too_wide], [], batch)

    assert counts(engine, good) == (0, 0, 0)
    statuses = SqlInputStore(engine).get_inputs_by_pks([good, bad])
    assert {pk: entry[1].status_code for pk, entry in statuses.items()} == {
        good: INPUT_PENDING,
        bad: INPUT_PENDING,
    }
    assert queue.counts()[RUNNING] == 3  # still held: released or retried by the worker


def test_a_job_taken_over_by_another_worker_is_not_finished_by_the_batch(
    engine: Engine, input_pk: tuple[int, int]
) -> None:
    app_pk, _ = input_pk
    _, batch, queue = two_inputs_and_their_jobs(engine, app_pk)
    queue.release(batch[1])  # its lease ended and another worker took it
    taken = SqlJobQueue(engine).claim([INGEST_JOB], 60)
    assert taken is not None and taken.pk == batch[1].pk

    finished = SqlSearchStore(engine).save_batch([], [], batch)

    assert finished == {batch[0].pk, batch[2].pk}
    assert SqlJobQueue(engine).finish(taken)  # the new holder's token still finishes it
