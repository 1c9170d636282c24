"""Model version exports: a trained custom model as one ONNX file (PutModelVersionExports,
GetModelVersionExport), downloaded from Clarion's hosted route.

Exporting takes a fraction of a second (the embedder's graph is on disk once the model has
run; appending the head and writing 9 MB takes about 0.2 s), so PutModelVersionExports
exports at once and answers ``MODEL_EXPORTED``, not a job to poll. The file sits in the blob
store under the export's row, which keeps it from the blob collector while the version exists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol
from urllib.parse import quote

from clarifai_grpc.grpc.api import service_pb2

from clarion.blobs.base import BlobStore
from clarion.codes import MODEL_TRAINED
from clarion.errors import ModelInvalidArgument, ModelNotFound, ModelUntrained, NotFound
from clarion.inference.catalog import GENERAL_IMAGE_EMBEDDING_VERSION
from clarion.services.base import HandlerTable, app_pk, require_app
from clarion.services.context import CallContext
from clarion.services.hosted import HostedUrls
from clarion.services.messages.models import model_export_to_proto
from clarion.storage.accounts import AppRecord
from clarion.storage.model_exports import ModelExportRecord, ModelExportStore
from clarion.storage.models import ModelRecord, ModelStore, VersionRecord

EXPORT_FILE = "model.onnx"
EXPORT_CONTENT_TYPE = "application/octet-stream"
_EXPORTABLE_TYPE = "embedding-classifier"


class ClassifierExporter(Protocol):
    """Builds the ONNX file of a classifier on the image embedder (``ModelCatalog``)."""

    def export_classifier(
        self, weights: bytes, concepts: Sequence[tuple[str, str]], *, exclusive: bool
    ) -> bytes: ...


def export_path(app: AppRecord, model_id: str, version_id: str) -> str:
    """The hosted route's path of a version's export (``server.http.EXPORT_PATH``)."""
    return (
        f"/hosted/exports/users/{quote(app.user_id)}/apps/{quote(app.id)}"
        f"/models/{quote(model_id)}/versions/{quote(version_id)}/{EXPORT_FILE}"
    )


class ModelExportsService:
    def __init__(
        self,
        models: ModelStore,
        exports: ModelExportStore,
        blobs: BlobStore,
        exporter: ClassifierExporter,
        is_builtin: Callable[[str], bool],
        hosted: HostedUrls,
    ) -> None:
        self._models = models
        self._exports = exports
        self._blobs = blobs
        self._exporter = exporter
        self._is_builtin = is_builtin
        self._hosted = hosted

    def handlers(self) -> HandlerTable:
        return {
            "PutModelVersionExports": self.put_model_version_exports,
            "GetModelVersionExport": self.get_model_version_export,
        }

    def put_model_version_exports(
        self, request: service_pb2.PutModelVersionExportsRequest, ctx: CallContext
    ) -> service_pb2.SingleModelVersionExportResponse:
        """Export a trained version as ONNX (again only when its file is gone)."""
        app = require_app(ctx)
        model, version = self._version(app, request.model_id, request.version_id)
        _check_exportable(model, version)
        assert version.pk is not None
        record = self._exports.get_export(version.pk)
        if record is None or not self._blobs.exists(record.blob):
            record = self._export(version)
        return self._response(app, model, version, record)

    def get_model_version_export(
        self, request: service_pb2.GetModelVersionExportRequest, ctx: CallContext
    ) -> service_pb2.SingleModelVersionExportResponse:
        app = require_app(ctx)
        model, version = self._version(app, request.model_id, request.version_id)
        return self._response(app, model, version, self._stored(model, version))

    def read(self, ctx: CallContext, model_id: str, version_id: str) -> bytes:
        """The exported file's bytes, for the hosted route."""
        app = require_app(ctx)
        model, version = self._version(app, model_id, version_id)
        return self._blobs.get(self._stored(model, version).blob)

    def _export(self, version: VersionRecord) -> ModelExportRecord:
        assert version.weights is not None and version.pk is not None
        concepts = [(concept.id, concept.name) for concept in version.concepts]
        exclusive = bool(version.output_config.get("concepts_mutually_exclusive"))
        data = self._exporter.export_classifier(version.weights, concepts, exclusive=exclusive)
        digest = self._blobs.put(data)
        return self._exports.save_export(ModelExportRecord(version.pk, digest, len(data)))

    def _stored(self, model: ModelRecord, version: VersionRecord) -> ModelExportRecord:
        assert version.pk is not None
        record = self._exports.get_export(version.pk)
        if record is None or not self._blobs.exists(record.blob):
            raise NotFound(
                "export of model version",
                f"{model.id}/{version.id}",
                details="None was made: call PutModelVersionExports first",
            )
        return record

    def _version(
        self, app: AppRecord, model_id: str, version_id: str
    ) -> tuple[ModelRecord, VersionRecord]:
        model = self._models.get_model(app_pk(app), model_id) if model_id else None
        if model is None:
            if self._is_builtin(model_id):
                raise ModelInvalidArgument(
                    f"Model '{model_id}' is built in: only custom models trained here are "
                    "exported (its weights come from a package, not from this app)"
                )
            raise ModelNotFound("model", model_id)
        if not version_id:
            raise ModelInvalidArgument("Set version_id: the model version to export")
        version = self._models.get_version(app_pk(app), model.id, version_id)
        if version is None:
            raise ModelNotFound("model version", f"{model.id}/{version_id}")
        return model, version

    def _response(
        self,
        app: AppRecord,
        model: ModelRecord,
        version: VersionRecord,
        record: ModelExportRecord,
    ) -> service_pb2.SingleModelVersionExportResponse:
        url = f"{self._hosted.base_url}{export_path(app, model.id, version.id)}"
        export = model_export_to_proto(record, url)
        return service_pb2.SingleModelVersionExportResponse(export=export)


def _check_exportable(model: ModelRecord, version: VersionRecord) -> None:
    if version.status_code != MODEL_TRAINED or version.weights is None:
        raise ModelUntrained(
            f"Version '{version.id}' of model '{model.id}' is not trained, so there is "
            "nothing to export: wait for it to train (GetModelVersion shows its status)"
        )
    embedder = version.output_config.get("embed_model_version_id", "")
    if model.model_type_id != _EXPORTABLE_TYPE or embedder not in (
        "",
        GENERAL_IMAGE_EMBEDDING_VERSION,
    ):
        # Every model Clarion trains today sits on the ONNX image embedder; a classifier on
        # another embedder would need that embedder's graph in the file.
        raise ModelInvalidArgument(
            f"Model '{model.id}' cannot be exported: only embedding-classifier models on "
            "general-image-embedding (an ONNX network) are exported as ONNX"
        )
