"""``SqlModelStore.lookup_model``: how predictions ask whether a model id is a custom model."""

from __future__ import annotations

from sqlalchemy import Engine

from clarion.storage.models import ModelRecord
from clarion.storage.sql import SqlAccountStore, SqlModelStore
from tests.unit.conftest import Clock


def photos_pk(engine: Engine) -> int:
    app = SqlAccountStore(engine).get_app("ana", "photos")
    assert app is not None and app.pk is not None
    return app.pk


def test_a_model_created_through_the_same_store_is_found_at_once(photos_engine: Engine) -> None:
    store = SqlModelStore(photos_engine, absent_seconds=60.0, clock=Clock())
    app = photos_pk(photos_engine)

    assert store.lookup_model(app, "pets") is None
    store.create_model(app, ModelRecord("pets", "embedding-classifier"))
    found = store.lookup_model(app, "pets")
    assert found is not None and found.id == "pets"


def test_another_process_s_new_model_is_found_once_the_absence_expires(
    photos_engine: Engine,
) -> None:
    clock = Clock()
    predicting = SqlModelStore(photos_engine, absent_seconds=2.0, clock=clock)
    creating = SqlModelStore(photos_engine)  # as another server process would
    app = photos_pk(photos_engine)

    assert predicting.lookup_model(app, "pets") is None
    creating.create_model(app, ModelRecord("pets", "embedding-classifier"))
    assert predicting.lookup_model(app, "pets") is None
    assert predicting.get_model(app, "pets") is not None  # other reads are never remembered
    clock.now += 2.0
    assert predicting.lookup_model(app, "pets") is not None


def test_without_a_time_to_live_every_lookup_reads(photos_engine: Engine) -> None:
    predicting = SqlModelStore(photos_engine, clock=Clock())
    app = photos_pk(photos_engine)

    assert predicting.lookup_model(app, "pets") is None
    SqlModelStore(photos_engine).create_model(app, ModelRecord("pets", "embedding-classifier"))
    assert predicting.lookup_model(app, "pets") is not None
