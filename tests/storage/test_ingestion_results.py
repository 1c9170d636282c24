"""``save_ingested`` on both databases: an input's search data and its success status in one
transaction, so neither is ever seen without the other.

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
from clarion.storage.ingestion import IngestedFacts
from clarion.storage.inputs import INPUT_PENDING, INPUT_SUCCESS, InputRecord
from clarion.storage.schema import index_log, input_predictions, input_vectors
from clarion.storage.sql import SqlAccountStore, SqlInputStore, SqlSearchStore
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
    SqlSearchStore(engine).save_ingested(
        app_pk, pk, {SPACE: np.full(4, 0.5, np.float32)}, [("cat", "cat", 0.9)], facts
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
    with pytest.raises((OverflowError, StorageError)):
        SqlSearchStore(engine).save_ingested(
            app_pk, pk, {SPACE: np.full(4, 0.5, np.float32)}, [("cat", "cat", 0.9)], too_wide
        )
    assert counts(engine, pk) == (0, 0, 0)
    found = SqlInputStore(engine).get_input_by_pk(pk)
    assert found is not None and found[1].status_code == INPUT_PENDING
