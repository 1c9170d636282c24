"""Models and their versions: the built-in models of ``clarifai/main`` and an app's custom
models (classifiers trained on the built-in image embedder)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from clarifai_grpc.grpc.api import resources_pb2

from clarion.codes import MODEL_NOT_DEPLOYED, MODEL_TRAINED
from clarion.inference.base import ModelInfo
from clarion.inference.workflow import PUBLIC_APP, PUBLIC_USER
from clarion.services.messages.concepts import NamedConcept, model_concepts_to_proto
from clarion.services.messages.evaluations import eval_metrics_to_proto
from clarion.services.messages.legacy_types import add_legacy_type, legacy_type
from clarion.services.messages.outputs import output_config_of
from clarion.services.messages.values import PRIVATE, PUBLIC, status, struct, timestamp, visibility
from clarion.services.signatures import method_signatures
from clarion.storage.accounts import AppRecord
from clarion.storage.model_extras import VersionExtras
from clarion.storage.models import ModelRecord, VersionRecord

# Built-in models ship with Clarion; this date stands for "as old as the release".
BUILT_IN_AT = datetime(2026, 1, 1, tzinfo=UTC)
# Custom models are classifiers: Clarifai's old API typed every one of them "concept".
CUSTOM_MODEL_LEGACY_TYPE = "concept"


# built-in models


def builtin_model_to_proto(
    info: ModelInfo, *, with_concepts: bool = False, not_installed: str | None = None
) -> resources_pb2.Model:
    return resources_pb2.Model(
        id=info.id,
        name=info.name,
        display_name=info.name,
        app_id=PUBLIC_APP,
        user_id=PUBLIC_USER,
        model_type_id=info.model_type_id,
        description=info.description,
        created_at=timestamp(BUILT_IN_AT),
        modified_at=timestamp(BUILT_IN_AT),
        visibility=visibility(PUBLIC),
        output_info=_builtin_output_info(info, with_concepts),
        model_version=builtin_version_to_proto(
            info, with_concepts=with_concepts, not_installed=not_installed
        ),
    )


def builtin_version_to_proto(
    info: ModelInfo, *, with_concepts: bool = False, not_installed: str | None = None
) -> resources_pb2.ModelVersion:
    """The model's one version; ``not_installed`` (why it cannot run on this server) makes it
    MODEL_NOT_DEPLOYED, so a listing shows which models answer and which do not."""
    ready = status(MODEL_TRAINED, "Model is trained and ready")
    if not_installed is not None:
        ready = status(MODEL_NOT_DEPLOYED, f"Not installed on this server: {not_installed}")
    return resources_pb2.ModelVersion(
        id=info.version_id,
        created_at=timestamp(BUILT_IN_AT),
        completed_at=timestamp(BUILT_IN_AT),
        status=ready,
        active_concept_count=len(info.concepts),
        app_id=PUBLIC_APP,
        user_id=PUBLIC_USER,
        visibility=visibility(PUBLIC),
        output_info=_builtin_output_info(info, with_concepts),
        method_signatures=method_signatures(info.input_kind, info.output_kind),
    )


def builtin_concepts_to_proto(concepts: Iterable[NamedConcept]) -> list[resources_pb2.Concept]:
    """Concepts of a built-in model (the old clients read every one's ``created_at``)."""
    return model_concepts_to_proto(concepts, PUBLIC_APP, PUBLIC_USER, BUILT_IN_AT)


def _builtin_output_info(info: ModelInfo, with_concepts: bool) -> resources_pb2.OutputInfo:
    output_info = resources_pb2.OutputInfo()
    concept_ids = lambda: frozenset(concept.id for concept in info.concepts)  # noqa: E731
    add_legacy_type(output_info, legacy_type(info.model_type_id, info.output_kind, concept_ids))
    if with_concepts:
        output_info.data.concepts.extend(builtin_concepts_to_proto(info.concepts))
    return output_info


# custom models


def custom_model_to_proto(
    app: AppRecord,
    model: ModelRecord,
    version: VersionRecord | None,
    *,
    with_concepts: bool = True,
) -> resources_pb2.Model:
    """A custom model; ``model_version`` is ``version`` when given."""
    message = resources_pb2.Model(
        id=model.id,
        name=model.name or model.id,
        display_name=model.name or model.id,
        app_id=app.id,
        user_id=app.user_id,
        model_type_id=model.model_type_id,
        description=model.description,
        notes=model.notes,
        metadata=struct(model.metadata),
        created_at=timestamp(model.created_at),
        modified_at=timestamp(model.modified_at),
        visibility=visibility(PRIVATE),
    )
    message.output_info.output_config.CopyFrom(output_config_of(model.output_config))
    add_legacy_type(message.output_info, CUSTOM_MODEL_LEGACY_TYPE)
    if with_concepts:
        concepts = model_concepts_to_proto(model.concepts, app.id, app.user_id, model.created_at)
        message.output_info.data.concepts.extend(concepts)
    if version is not None:
        custom_version = custom_version_to_proto(app, version, with_concepts=with_concepts)
        message.model_version.CopyFrom(custom_version)
    return message


def custom_version_to_proto(
    app: AppRecord, version: VersionRecord, *, with_concepts: bool = True
) -> resources_pb2.ModelVersion:
    stats = version.train_stats
    message = resources_pb2.ModelVersion(
        id=version.id,
        description=version.description,
        created_at=timestamp(version.created_at),
        modified_at=timestamp(version.modified_at),
        completed_at=timestamp(version.completed_at),
        status=status(version.status_code, version.status_description),
        active_concept_count=len(version.concepts),
        total_input_count=int(stats.get("total_input_count", 0)),
        app_id=app.id,
        user_id=app.user_id,
        visibility=visibility(PRIVATE),
        # A custom model classifies images, as an embedding-classifier does.
        method_signatures=method_signatures("image", "concepts"),
    )
    message.output_info.output_config.CopyFrom(output_config_of(version.output_config))
    if version.train_params:
        message.train_info.params.CopyFrom(struct(version.train_params))
    if with_concepts:
        concepts = model_concepts_to_proto(
            version.concepts, app.id, app.user_id, version.created_at
        )
        message.output_info.data.concepts.extend(concepts)
    message.metrics.CopyFrom(eval_metrics_to_proto(app, version, fields=None, summary_only=True))
    return message


def add_labels(model: resources_pb2.Model, labels: Mapping[str, Sequence[str]]) -> None:
    """A custom model's message with its stored labels (``clarion.storage.model_extras``)."""
    model.toolkits[:] = labels.get("toolkits", [])
    model.use_cases[:] = labels.get("use_cases", [])
    model.languages[:] = labels.get("languages", [])
    model.check_consents[:] = labels.get("check_consents", [])


def add_version_extras(version: resources_pb2.ModelVersion, extras: VersionExtras) -> None:
    """A custom version's message with its visibility, license and metadata."""
    version.visibility.CopyFrom(visibility(extras.visibility))
    version.license = extras.license
    if extras.metadata:
        version.metadata.CopyFrom(struct(extras.metadata))
