"""How a model is looked up: ``SqlModelStore.lookup_model`` (whether a model id is a custom
model), and ``runtime.model_resolver``'s ``find_version`` and ``find_builtin``, which every
service (predictions, workflows, the model read side, evaluations) shares."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from clarion.codes import MODEL_QUEUED_FOR_TRAINING, MODEL_TRAINED
from clarion.errors import ModelNotFound
from clarion.inference.base import ImageRunner, ModelInfo, TextRunner
from clarion.runtime.model_resolver import find_builtin, find_version, require_builtin
from clarion.storage.models import ModelRecord, VersionRecord
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


def test_a_named_version_is_that_one_and_an_unknown_one_is_not_found(photos_engine: Engine) -> None:
    store = SqlModelStore(photos_engine)
    app = photos_pk(photos_engine)
    store.create_model(app, ModelRecord("pets", "embedding-classifier"))
    store.create_version(app, "pets", VersionRecord("v1", "pets", MODEL_TRAINED), False)

    found = find_version(store, app, "pets", "v1")
    assert found is not None and found.id == "v1"
    with pytest.raises(ModelNotFound) as missing:
        find_version(store, app, "pets", "v9", trained_only=True)
    assert "pets/v9" in missing.value.description


def test_no_version_named_is_the_newest_or_the_newest_trained(photos_engine: Engine) -> None:
    store = SqlModelStore(photos_engine)
    app = photos_pk(photos_engine)
    store.create_model(app, ModelRecord("pets", "embedding-classifier"))
    assert find_version(store, app, "pets") is None
    store.create_version(app, "pets", VersionRecord("v1", "pets", MODEL_TRAINED), False)
    store.create_version(app, "pets", VersionRecord("v2", "pets", MODEL_QUEUED_FOR_TRAINING), False)

    newest = find_version(store, app, "pets")
    trained = find_version(store, app, "pets", trained_only=True)
    assert (newest and newest.id, trained and trained.id) == ("v2", "v1")


class _Catalog:
    """One built-in model, found by its id or its legacy name."""

    info = ModelInfo(
        "general-image-recognition",
        legacy_ids=(),
        version_id="v1",
        name="General",
        model_type_id="visual-classifier",
        description="",
        legacy_names=("general-v1.3",),
        legacy_version_ids=("old",),
    )

    def find(self, model_id: str) -> ModelInfo | None:
        return self.info if model_id in (self.info.id, *self.info.legacy_names) else None

    def runner(self, model_id: str) -> ImageRunner:
        raise AssertionError("looking a model up runs nothing")

    def text_runner(self, model_id: str) -> TextRunner:
        raise AssertionError("looking a model up runs nothing")


def test_a_built_in_model_is_found_at_its_one_version() -> None:
    catalog = _Catalog()
    assert find_builtin(catalog, "general-v1.3", "old") is catalog.info
    assert find_builtin(catalog, "nope") is None and find_builtin(catalog, "") is None
    with pytest.raises(ModelNotFound, match=r"general-v1\.3/v2"):
        find_builtin(catalog, "general-v1.3", "v2")
    with pytest.raises(ModelNotFound, match="nope"):
        require_builtin(catalog, "nope")
