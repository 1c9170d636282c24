"""Custom models: create, patch and delete them, train versions, evaluate versions.

Clarion trains ``embedding-classifier`` models (the default type): a classifier trained on
the app's annotated inputs, on top of the built-in image embedder. ``PostModelVersions``
queues a training and answers at once with the version in ``MODEL_QUEUED_FOR_TRAINING``.
Models of the runner-served types (``any-to-any``, what ``clarifai model local-runner``
creates) get versions ready at once, with the method signatures their runner's model
declares, and their calls go to their runners;
``PostModelVersionMetrics`` queues a cross-validated evaluation the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2
from google.protobuf.json_format import MessageToDict

from clarion.codes import MODEL_NOT_EVALUATED, MODEL_TRAINED
from clarion.errors import (
    InvalidArgument,
    ModelInvalidArgument,
    ModelNotFound,
    ModelUntrained,
    NotFound,
    NotImplementedMethod,
)
from clarion.inference.catalog import GENERAL_IMAGE_EMBEDDING_VERSION
from clarion.runtime.model_resolver import (
    RUNNER_SERVED_TYPES,
    Models,
    find_version,
    require_builtin,
)
from clarion.services.base import HandlerTable, app_pk, check_id, conflicts_as, require_app
from clarion.services.context import CallContext
from clarion.services.messages.evaluations import eval_metrics_to_proto
from clarion.services.messages.models import (
    builtin_version_to_proto,
    custom_model_to_proto,
    custom_version_to_proto,
)
from clarion.services.messages.outputs import output_config_json
from clarion.services.messages.values import PRIVATE, status, struct_to_dict
from clarion.services.model_types import inference_params, training_params
from clarion.services.patching import (
    Action,
    deep_merge,
    patch_action,
    patched_by_id,
    patched_metadata,
)
from clarion.storage.accounts import AppRecord
from clarion.storage.concepts import ConceptStore
from clarion.storage.dataset_versions import DatasetVersionStore
from clarion.storage.datasets import DatasetStore
from clarion.storage.models import ModelConcept, ModelRecord, ModelStore, VersionRecord

EMBEDDING_CLASSIFIER = "embedding-classifier"
# Trainable types Clarifai offers that need a GPU trainer Clarion does not have.
_OTHER_TRAINABLE = frozenset(
    {
        "visual-classifier",
        "visual-detector",
        "visual-segmenter",
        "visual-embedder",
        "text-classifier",
        "text-to-text",
        "clusterer",
        "visual-anomaly-heatmap",
    }
)


class CustomModelsService:
    """The write side of custom models: create, patch, delete, train, evaluate."""

    def __init__(
        self,
        store: ModelStore,
        concepts: ConceptStore,
        datasets: DatasetStore,
        models: Models,
        wake_workers: Callable[[], None],
        versions: DatasetVersionStore | None = None,
    ) -> None:
        self._store = store
        self._concept_store = concepts
        self._datasets = datasets
        self._models = models
        self._wake_workers = wake_workers
        self._versions = versions

    def handlers(self) -> HandlerTable:
        return {
            "PostModels": self.post_models,
            "PatchModels": self.patch_models,
            "DeleteModel": self.delete_model,
            "DeleteModels": self.delete_models,
            "PostModelVersions": self.post_model_versions,
            "DeleteModelVersion": self.delete_model_version,
            "PostModelVersionMetrics": self.post_model_version_metrics,
            "GetModelVersionMetrics": self.get_model_version_metrics,
        }

    # models

    def post_models(
        self, request: service_pb2.PostModelsRequest, ctx: CallContext
    ) -> service_pb2.SingleModelResponse:
        """Create one custom model (in ``models``, or the older ``model`` field)."""
        app = require_app(ctx)
        given = list(request.models) or ([request.model] if request.HasField("model") else [])
        if len(given) != 1:
            raise InvalidArgument(f"PostModels creates one model at a time, got {len(given)}")
        record = self._new_model(app, given[0])
        with conflicts_as("model", record.id):
            created = self._store.create_model(app_pk(app), record)
        return service_pb2.SingleModelResponse(model=custom_model_to_proto(app, created, None))

    def _new_model(self, app: AppRecord, model: resources_pb2.Model) -> ModelRecord:
        model_id = check_id("model", model.id) if model.id else uuid.uuid4().hex
        if model.model_version.HasField("train_info"):
            raise ModelInvalidArgument(
                "model.model_version.train_info is not stored: send it with each version to "
                "train, in "
                "PostModelVersions' model_versions[0].train_info (as Model.train() does)"
            )
        if self._models.find(model_id) is not None:
            raise ModelInvalidArgument(f"Model id '{model_id}' is taken by a built-in model")
        _check_private(model)
        return ModelRecord(
            id=model_id,
            model_type_id=_checked_type(model.model_type_id),
            name=model.name or model.display_name,
            description=model.description,
            notes=model.notes,
            metadata=struct_to_dict(model.metadata),
            concepts=self._concepts(app, model.output_info.data.concepts),
            output_config=_checked_config(model.output_info.output_config),
        )

    def patch_models(
        self, request: service_pb2.PatchModelsRequest, ctx: CallContext
    ) -> service_pb2.MultiModelResponse:
        app = require_app(ctx)
        action = patch_action(request.action, default="merge")
        current = [self._model(app, patch.id) for patch in request.models]
        patched = [
            self._store.update_model(app_pk(app), self._patched(app, model, patch, action))
            for model, patch in zip(current, request.models, strict=True)
        ]
        return service_pb2.MultiModelResponse(
            models=[custom_model_to_proto(app, model, None) for model in patched]
        )

    def _patched(
        self, app: AppRecord, model: ModelRecord, patch: resources_pb2.Model, action: Action
    ) -> ModelRecord:
        _check_private(patch)
        changes: dict[str, Any] = {
            name: getattr(patch, name)
            for name in ("name", "description", "notes")
            if getattr(patch, name)
        }
        if patch.HasField("metadata"):
            changes["metadata"] = patched_metadata(
                model.metadata, struct_to_dict(patch.metadata), action
            )
        if patch.output_info.data.concepts or (
            action == "overwrite" and patch.HasField("output_info")
        ):
            given = self._concepts(app, patch.output_info.data.concepts)
            changes["concepts"] = tuple(
                patched_by_id(model.concepts, given, action, lambda concept: concept.id)
            )
        if patch.output_info.HasField("output_config"):
            config = _checked_config(patch.output_info.output_config)
            changes["output_config"] = patched_metadata(model.output_config, config, action)
        return replace(model, **changes)

    def delete_model(
        self, request: service_pb2.DeleteModelRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        app = require_app(ctx)
        self._deletable(app, [request.model_id])
        self._store.delete_models(app_pk(app), [request.model_id])
        return status_pb2.BaseResponse()

    def delete_models(
        self, request: service_pb2.DeleteModelsRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        app = require_app(ctx)
        if request.delete_all:
            self._store.delete_models(app_pk(app), None)
            return status_pb2.BaseResponse()
        if not request.ids:
            raise InvalidArgument("Set 'ids' (or 'delete_all') to say which models to delete")
        self._deletable(app, list(request.ids))
        self._store.delete_models(app_pk(app), list(request.ids))
        return status_pb2.BaseResponse()

    def _deletable(self, app: AppRecord, ids: Sequence[str]) -> None:
        for model_id in ids:
            if self._store.get_model(app_pk(app), model_id) is not None:
                continue
            if self._models.find(model_id) is not None:
                raise ModelInvalidArgument(f"Model '{model_id}' is built in: it cannot be deleted")
            raise ModelNotFound("model", model_id)

    # versions

    def post_model_versions(
        self, request: service_pb2.PostModelVersionsRequest, ctx: CallContext
    ) -> service_pb2.SingleModelResponse:
        """Queue the training of a new version (the model's concepts, or the version's)."""
        app = require_app(ctx)
        model = self._trainable(app, request.model_id)
        if len(request.model_versions) > 1:
            raise InvalidArgument("PostModelVersions trains one version at a time")
        asked = (
            request.model_versions[0] if request.model_versions else resources_pb2.ModelVersion()
        )
        if model.model_type_id in RUNNER_SERVED_TYPES:
            return self._post_served_version(app, model, asked, request.description)
        given = self._concepts(app, asked.output_info.data.concepts)
        concepts = given or model.concepts
        if not concepts:
            raise ModelInvalidArgument(
                f"Model '{model.id}' has no concepts to train: set "
                "model_versions[0].output_info.data.concepts (or the model's)"
            )
        config = deep_merge(model.output_config, _checked_config(asked.output_info.output_config))
        config = deep_merge(config, inference_params(asked))
        version = VersionRecord(
            id=uuid.uuid4().hex,
            model_id=model.id,
            description=request.description or asked.description,
            concepts=concepts,
            output_config=config,
            train_params=self._training_params(app, asked),
        )
        version = self._store.create_version(app_pk(app), model.id, version, bool(given))
        self._wake_workers()
        model = replace(model, concepts=concepts)
        return service_pb2.SingleModelResponse(model=custom_model_to_proto(app, model, version))

    def _post_served_version(
        self, app: AppRecord, model: ModelRecord, asked: resources_pb2.ModelVersion, note: str
    ) -> service_pb2.SingleModelResponse:
        """A version a runner serves as it is (``pretrained_model_config.local_dev``, what
        ``clarifai model local-runner`` creates): ready at once, with its runner's methods."""
        if not asked.pretrained_model_config.local_dev:
            raise NotImplementedMethod(
                f"Model '{model.id}' is of type '{model.model_type_id}', served by runners: "
                "Clarion stores versions for a runner of your own "
                "(pretrained_model_config.local_dev, as `clarifai model local-runner` sends); "
                "upload model code with `clarifai model upload` (PostModelVersionsUpload)"
            )
        version = VersionRecord(
            id=uuid.uuid4().hex,
            model_id=model.id,
            status_code=MODEL_TRAINED,
            status_description="Served by a runner",
            description=note or asked.description,
            method_signatures=tuple(
                MessageToDict(signature, preserving_proto_field_name=True)
                for signature in asked.method_signatures
            ),
        )
        version = self._store.create_version(app_pk(app), model.id, version, False, train=False)
        return service_pb2.SingleModelResponse(model=custom_model_to_proto(app, model, version))

    def delete_model_version(
        self, request: service_pb2.DeleteModelVersionRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        app = require_app(ctx)
        model = self._trainable(app, request.model_id)
        if not self._store.delete_version(app_pk(app), model.id, request.version_id):
            raise ModelNotFound("model version", f"{model.id}/{request.version_id}")
        return status_pb2.BaseResponse()

    def post_model_version_metrics(
        self, request: service_pb2.PostModelVersionMetricsRequest, ctx: CallContext
    ) -> service_pb2.SingleModelVersionResponse:
        """Queue a cross-validated evaluation of a trained version."""
        app = require_app(ctx)
        model = self._trainable(app, request.model_id)
        if model.model_type_id in RUNNER_SERVED_TYPES:
            raise ModelInvalidArgument(
                f"Model '{model.id}' is served by runners: Clarion evaluates the "
                "embedding-classifier models it trains, not runner-served ones"
            )
        version = self._version(app, model, request.version_id)
        if version.status_code != MODEL_TRAINED:
            raise ModelUntrained(f"Version '{version.id}' of model '{model.id}' is not trained")
        assert version.pk is not None
        queued = self._store.request_evaluation(version.pk)
        # Read back before waking the workers: the answer tells what this call did, and a
        # woken worker can finish a small model's evaluation before a later read.
        version = self._version(app, model, version.id)
        if queued:
            self._wake_workers()
        return service_pb2.SingleModelVersionResponse(
            model_version=custom_version_to_proto(app, version)
        )

    def get_model_version_metrics(
        self, request: service_pb2.GetModelVersionMetricsRequest, ctx: CallContext
    ) -> service_pb2.SingleModelVersionResponse:
        """A version with its evaluation: ``fields`` picks the parts beyond the summary."""
        app = require_app(ctx)
        model = self._store.get_model(app_pk(app), request.model_id)
        if model is None:
            info = require_builtin(self._models, request.model_id, request.version_id)
            message = builtin_version_to_proto(info, with_concepts=True)
            message.metrics.status.CopyFrom(
                status(MODEL_NOT_EVALUATED, "Built-in models are not evaluated here")
            )
            return service_pb2.SingleModelVersionResponse(model_version=message)
        version = self._version(app, model, request.version_id)
        message = custom_version_to_proto(app, version)
        fields = request.fields if request.HasField("fields") else None
        message.metrics.CopyFrom(eval_metrics_to_proto(app, version, fields))
        return service_pb2.SingleModelVersionResponse(model_version=message)

    def _training_params(self, app: AppRecord, asked: resources_pb2.ModelVersion) -> dict[str, Any]:
        params = training_params(asked)
        dataset_id = params.get("dataset_id", "")
        if dataset_id and self._datasets.get_dataset(app_pk(app), dataset_id) is None:
            raise NotFound("dataset", dataset_id)
        version_id = params.get("dataset_version_id", "")
        if version_id and (
            self._versions is None
            or self._versions.get_version(app_pk(app), dataset_id, version_id) is None
        ):
            raise NotFound(f"version of dataset '{dataset_id}'", version_id)
        return params

    # helpers

    def _model(self, app: AppRecord, model_id: str) -> ModelRecord:
        model = self._store.get_model(app_pk(app), model_id) if model_id else None
        if model is None:
            raise ModelNotFound("model", model_id)
        return model

    def _trainable(self, app: AppRecord, model_id: str) -> ModelRecord:
        model = self._store.get_model(app_pk(app), model_id) if model_id else None
        if model is not None:
            return model
        if self._models.find(model_id) is not None:
            raise ModelInvalidArgument(
                f"Model '{model_id}' is built in: it has one version, which is not retrained "
                "or evaluated here. Create an embedding-classifier to train your own"
            )
        raise ModelNotFound("model", model_id)

    def _version(self, app: AppRecord, model: ModelRecord, version_id: str) -> VersionRecord:
        version = find_version(self._store, app_pk(app), model.id, version_id)
        if version is None:
            raise ModelNotFound("model version", f"{model.id}/{version_id or '(latest)'}")
        return version

    def _concepts(
        self, app: AppRecord, concepts: Sequence[resources_pb2.Concept]
    ) -> tuple[ModelConcept, ...]:
        """Concepts by id (or name), named as given, else as the app names them."""
        found: dict[str, ModelConcept] = {}
        for concept in concepts:
            concept_id = concept.id or concept.name
            if not concept_id:
                raise ModelInvalidArgument("Each of a model's concepts needs an id or a name")
            name = concept.name
            if not name:
                stored = self._concept_store.get_concept(app_pk(app), concept_id)
                name = stored.name if stored is not None else concept_id
            found.setdefault(concept_id, ModelConcept(concept_id, name))
        return tuple(found.values())


def _checked_type(model_type_id: str) -> str:
    if model_type_id in ("", EMBEDDING_CLASSIFIER):
        return EMBEDDING_CLASSIFIER
    if model_type_id in RUNNER_SERVED_TYPES:
        return model_type_id
    if model_type_id in _OTHER_TRAINABLE:
        raise ModelInvalidArgument(
            f"Model type '{model_type_id}' cannot be created here: Clarion trains "
            f"'{EMBEDDING_CLASSIFIER}' models (a classifier on the built-in image embedder)"
        )
    served = ", ".join(f"'{name}'" for name in sorted(RUNNER_SERVED_TYPES))
    raise ModelInvalidArgument(
        f"Unknown model type '{model_type_id}': Clarion creates '{EMBEDDING_CLASSIFIER}' "
        f"models, and {served} models that runners serve"
    )


def _check_private(model: resources_pb2.Model) -> None:
    """Custom models are private to their app here (``clarifai model local-runner`` sets
    PRIVATE, and PUBLIC with ``--public``): any other visibility is refused, not ignored."""
    gettable = model.visibility.gettable
    if gettable not in (0, PRIVATE):
        raise ModelInvalidArgument(
            f"visibility.gettable {gettable} is not supported: Clarion's custom models are "
            f"private to their app (PRIVATE, {PRIVATE})"
        )


def _checked_config(config: resources_pb2.OutputConfig) -> dict[str, Any]:
    embedder = config.embed_model_version_id
    if embedder and embedder != GENERAL_IMAGE_EMBEDDING_VERSION:
        raise ModelInvalidArgument(
            f"embed_model_version_id '{embedder}' is no embedder here: custom models train on "
            f"general-image-embedding ({GENERAL_IMAGE_EMBEDDING_VERSION})"
        )
    return output_config_json(config)
