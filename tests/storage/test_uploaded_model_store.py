"""Uploaded models' archives on both databases: an uploaded version's archive digest is
reported to the blob collector, a trained version's parameters are not, and it goes with its
version."""

from __future__ import annotations

from sqlalchemy import Engine

from clarion.codes import MODEL_BUILDING, MODEL_TRAINED
from clarion.storage.model_uploads import ARCHIVE_KEY, UploadedVersion
from clarion.storage.models import ModelConcept, ModelRecord, VersionRecord
from clarion.storage.sql import SqlModelStore, SqlUploadedModelStore
from tests.storage.test_backends import app_pk, backend, engine, url  # noqa: F401 (fixtures)


def test_an_uploaded_versions_archive_is_kept_until_the_version_goes(
    engine: Engine,  # noqa: F811
    app_pk: int,  # noqa: F811
) -> None:
    models, uploads = SqlModelStore(engine), SqlUploadedModelStore(engine)
    models.create_model(app_pk, ModelRecord(id="served", model_type_id="any-to-any"))
    models.create_model(app_pk, ModelRecord(id="trained", model_type_id="embedding-classifier"))
    uploaded = VersionRecord(id="up", model_id="served", train_params={ARCHIVE_KEY: "a" * 64})
    models.create_version(app_pk, "served", uploaded, False, train=False)
    trained = VersionRecord(
        id="t",
        model_id="trained",
        concepts=(ModelConcept("c", "c"),),
        train_params={"dataset_id": "d"},
    )
    models.create_version(app_pk, "trained", trained, False)
    assert uploads.upload_blobs() == {"a" * 64}
    assert uploads.served_versions(MODEL_TRAINED) == []  # still building
    version = models.get_version(app_pk, "served", "up")
    assert version is not None and version.pk is not None
    models.set_training_status(version.pk, MODEL_TRAINED, "served")
    (served,) = uploads.served_versions(MODEL_TRAINED)
    assert (served.model_id, served.version_id, served.archive) == ("served", "up", "a" * 64)
    assert isinstance(served, UploadedVersion) and served.user_id and served.app_id
    assert uploads.served_versions(MODEL_BUILDING) == []

    assert models.delete_version(app_pk, "served", "up")
    assert uploads.upload_blobs() == set()
