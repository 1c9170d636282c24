"""``SqlModelStore.lookup_model``: how predictions ask whether a model id is a custom model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from clarion.storage.base import AppRecord, UserRecord
from clarion.storage.engine import create_db_engine, migrate
from clarion.storage.modeldata import ModelRecord, SqlModelStore
from clarion.storage.sql import SqlStore


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    store = SqlStore(engine)
    store.create_user(UserRecord("ana"))
    store.create_apps([AppRecord("ana", "photos")])
    yield engine
    engine.dispose()


def photos_pk(engine: Engine) -> int:
    app = SqlStore(engine).get_app("ana", "photos")
    assert app is not None and app.pk is not None
    return app.pk


def test_a_model_created_through_the_same_store_is_found_at_once(engine: Engine) -> None:
    store = SqlModelStore(engine, absent_seconds=60.0, clock=Clock())
    app = photos_pk(engine)

    assert store.lookup_model(app, "pets") is None
    store.create_model(app, ModelRecord("pets", "embedding-classifier"))
    found = store.lookup_model(app, "pets")
    assert found is not None and found.id == "pets"


def test_another_process_s_new_model_is_found_once_the_absence_expires(engine: Engine) -> None:
    clock = Clock()
    predicting = SqlModelStore(engine, absent_seconds=2.0, clock=clock)
    creating = SqlModelStore(engine)  # as another server process would
    app = photos_pk(engine)

    assert predicting.lookup_model(app, "pets") is None
    creating.create_model(app, ModelRecord("pets", "embedding-classifier"))
    assert predicting.lookup_model(app, "pets") is None
    assert predicting.get_model(app, "pets") is not None  # other reads are never remembered
    clock.now += 2.0
    assert predicting.lookup_model(app, "pets") is not None


def test_without_a_time_to_live_every_lookup_reads(engine: Engine) -> None:
    predicting = SqlModelStore(engine, clock=Clock())
    app = photos_pk(engine)

    assert predicting.lookup_model(app, "pets") is None
    SqlModelStore(engine).create_model(app, ModelRecord("pets", "embedding-classifier"))
    assert predicting.lookup_model(app, "pets") is not None
