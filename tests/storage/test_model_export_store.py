"""The model-export store on both databases: one export per version, replaced when made
again, gone with its version, and its blob reported to the collector."""

from __future__ import annotations

from sqlalchemy import Engine

from clarion.storage.model_exports import ModelExportRecord
from clarion.storage.models import ModelConcept, ModelRecord, VersionRecord
from clarion.storage.sql import SqlModelExportStore, SqlModelStore
from tests.storage.test_backends import app_pk, backend, engine, url  # noqa: F401 (fixtures)


def test_an_export_is_replaced_then_goes_with_its_version(
    engine: Engine,  # noqa: F811
    app_pk: int,  # noqa: F811
) -> None:
    models, exports = SqlModelStore(engine), SqlModelExportStore(engine)
    models.create_model(app_pk, ModelRecord(id="m", model_type_id="embedding-classifier"))
    version = models.create_version(
        app_pk, "m", VersionRecord(id="v", model_id="m", concepts=(ModelConcept("c", "c"),)), False
    )
    assert version.pk is not None
    assert exports.get_export(version.pk) is None

    exports.save_export(ModelExportRecord(version.pk, "a" * 64, 10))
    exports.save_export(ModelExportRecord(version.pk, "b" * 64, 20))
    found = exports.get_export(version.pk)
    assert found is not None and (found.blob, found.size) == ("b" * 64, 20)
    assert found.created_at is not None and found.created_at.tzinfo is not None
    assert exports.export_blobs() == {"b" * 64}

    assert models.delete_version(app_pk, "m", "v")
    assert exports.get_export(version.pk) is None
    assert exports.export_blobs() == set()
