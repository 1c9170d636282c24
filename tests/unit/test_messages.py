"""Round trips of the message builders (``clarion.services.messages``).

Each record goes record -> message -> the server's JSON -> message (the same message) and
message -> record (every field of the record read back from where the message shows it).
A record field a message does not show is named, with why; a builder without a round trip
here fails the completeness test, as a new record field nobody placed fails its case.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from clarifai_grpc.grpc.api import resources_pb2
from google.protobuf import struct_pb2, timestamp_pb2
from google.protobuf.message import Message

import clarion.services.messages as messages_package
from clarion.codes import (
    ANNOTATION_SUCCESS,
    APP_DUPLICATION_SUCCESS,
    FAILURE,
    INPUT_DOWNLOAD_FAILED,
    INPUT_INVALID_ARGUMENT,
    MIXED_STATUS,
    MODEL_EVALUATED,
    MODEL_TRAINED,
    SUCCESS,
)
from clarion.errors import InputRejected
from clarion.inference.base import ColorScore, ConceptScore, ModelInfo, Prediction, Region
from clarion.inference.workflow import (
    PUBLIC_APP,
    PUBLIC_USER,
    PUBLIC_WORKFLOWS,
    GraphNode,
    NodeResult,
    NodeSpec,
    RegionResult,
)
from clarion.jobs.training import metrics_json
from clarion.protocol.json_codec import json_to_message, message_to_json
from clarion.protocol.retired import RETIRED_STRING_FIELDS, set_retired_strings
from clarion.runtime.model_resolver import ResolvedNode
from clarion.services.messages.accounts import (
    app_to_proto,
    duplication_to_proto,
    key_to_proto,
    user_to_proto,
)
from clarion.services.messages.bulk_operations import bulk_operation_to_proto
from clarion.services.messages.concept_graph import (
    concept_language_to_proto,
    concept_relation_to_proto,
    knowledge_graph_to_proto,
)
from clarion.services.messages.concepts import concept_to_proto, model_concepts_to_proto
from clarion.services.messages.data import (
    annotation_filter_to_proto,
    annotation_to_proto,
    dataset_to_proto,
    echo_input,
    input_to_proto,
    video_to_proto,
)
from clarion.services.messages.evaluations import eval_metrics_to_proto, evaluation_to_proto
from clarion.services.messages.models import (
    BUILT_IN_AT,
    builtin_concepts_to_proto,
    builtin_model_to_proto,
    builtin_version_to_proto,
    custom_model_to_proto,
    custom_version_to_proto,
)
from clarion.services.messages.outputs import (
    fill_data,
    output_config_json,
    output_config_of,
    overall_status,
    prediction_output,
)
from clarion.services.messages.regions import region_to_proto
from clarion.services.messages.values import json_of, status, struct, struct_to_dict
from clarion.services.messages.workflows import (
    node_of,
    node_to_proto,
    public_workflow_to_proto,
    stored_workflow_to_proto,
    workflow_result,
    workflow_to_proto,
    workflow_version_to_proto,
)
from clarion.storage.accounts import AppRecord, KeyRecord, UserRecord
from clarion.storage.annotation_filters import AnnotationFilterRecord
from clarion.storage.annotations import AnnotationRecord
from clarion.storage.app_copies import COPY_KINDS, DuplicationRecord
from clarion.storage.bulk_operations import BulkOperationRecord
from clarion.storage.concept_graph import (
    ConceptLanguageRecord,
    ConceptRelationRecord,
    KnowledgeGraphRecord,
)
from clarion.storage.concepts import ConceptRecord
from clarion.storage.datasets import DatasetRecord
from clarion.storage.evaluations import EvaluationRecord
from clarion.storage.inputs import INPUT_SUCCESS, InputRecord
from clarion.storage.models import ModelConcept, ModelRecord, VersionRecord, WorkflowRecord
from clarion.storage.videos import VideoFacts
from clarion.storage.workflow_versions import WorkflowVersionRecord

CREATED = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
MODIFIED = datetime(2026, 4, 5, 6, 7, 8, 654321, tzinfo=UTC)
APP = AppRecord(
    user_id="ana",
    id="photos",
    name="Photos",
    description="Holiday photos",
    default_language="fr",
    default_workflow_id="pets",
    visibility=50,
    notes="# notes",
    metadata={"owner": "ana", "tags": ["a", "b"], "nested": {"n": 1.5}},
    created_at=CREATED,
    modified_at=MODIFIED,
    pk=7,
)
CONCEPTS = (ModelConcept("cat", "Cat"), ModelConcept("dog", "Dog"))
BUILTIN = ModelInfo(
    id="general-image-recognition",
    legacy_ids=("aaa03c23b3724a16a56b629203edc62c",),
    version_id="v1",
    name="General",
    model_type_id="visual-classifier",
    description="Everyday things",
    concepts=(ConceptScore("ai_1", "cat", 1.0), ConceptScore("ai_2", "dog", 1.0)),
    legacy_names=("general-v1.3",),
    legacy_version_ids=("aa7f35c01e0642fda5cf400f543e7c40",),
)


def _metrics() -> dict[str, Any]:
    """An evaluation's stored metrics, as the evaluation job writes them."""
    scores = np.array([[0.9, 0.2], [0.3, 0.8], [0.6, 0.4]], dtype=np.float32)
    targets = np.array([[True, False], [False, True], [True, False]])
    return metrics_json(["i1", "i2", "i3"], scores, targets, ["cat", "dog"], folds=3)


VERSION = VersionRecord(
    id="v2",
    model_id="pets",
    status_code=MODEL_TRAINED,
    status_description="Model is trained and ready",
    description="second try",
    concepts=CONCEPTS,
    output_config={"concepts_mutually_exclusive": True, "max_concepts": 5},
    weights=b"weights",
    train_stats={"total_input_count": 12},
    metrics_status_code=MODEL_EVALUATED,
    metrics_description="Model was successfully evaluated",
    metrics=_metrics(),
    created_at=CREATED,
    modified_at=MODIFIED,
    completed_at=MODIFIED,
    pk=3,
    train_params={"dataset_id": "train", "enrich_dataset": "Automatic"},
)


def _through_json(message: Message) -> Message:
    """The message, sent as the server's JSON and parsed as the client parses it."""
    sent = message_to_json(message)
    parsed = json_to_message(sent, type(message), ignore_unknown_fields=True)
    _restore_retired(parsed, sent)
    return parsed


def _restore_retired(message: Message, data: Any) -> None:
    """Put back the retired fields (``output_info.type``) the JSON names: the schema has no
    field for them, so a parser skips them, and the message carries them as unknown fields."""
    names = RETIRED_STRING_FIELDS.get(message.DESCRIPTOR.full_name, {}).values()
    found = {name: data[name] for name in names if name in data}
    if found:
        set_retired_strings(message, found)
    for field_descriptor, value in message.ListFields():
        inner = data.get(field_descriptor.name)
        if (
            field_descriptor.message_type is None
            or field_descriptor.message_type.GetOptions().map_entry
        ):
            continue
        if isinstance(inner, list):
            for item, item_data in zip(value, inner, strict=True):
                _restore_retired(item, item_data)
        elif isinstance(inner, dict):
            _restore_retired(value, inner)


# Reading a record back from a message.


def _plain(value: Any) -> Any:
    """A message's value, or a record's, in one comparable form."""
    if isinstance(value, timestamp_pb2.Timestamp):
        return value.ToDatetime(tzinfo=UTC)
    if isinstance(value, struct_pb2.Struct):
        return _plain(struct_to_dict(value))
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, Message):
        return _plain(json_of(value))
    if isinstance(value, str | bytes):
        return value
    if isinstance(value, Sequence) or hasattr(value, "__iter__"):  # repeated fields, tuples
        return tuple(_plain(item) for item in value)
    return value


def _at(path: str) -> Callable[[Any], Any]:
    """The value at a dotted field path of a message."""

    def read(message: Any) -> Any:
        for name in path.split("."):
            message = getattr(message, name)
        return message

    return read


Reader = Callable[[Any], Any]


def _concepts(path: str) -> Reader:
    """A message's concepts as (id, name) pairs, as a record keeps a model's concepts."""
    return lambda message: tuple(ModelConcept(c.id, c.name) for c in _at(path)(message))


@dataclass(frozen=True)
class Case:
    """One builder on one record: where each record field shows, and which never do."""

    builder: Callable[..., Message]
    record: Any
    shown: Mapping[str, Reader | str]
    hidden: Mapping[str, str] = field(default_factory=dict)  # field -> why it is not shown
    extra: tuple[Any, ...] = ()  # the builder's other arguments (after the record)
    before: tuple[Any, ...] = ()  # its arguments before the record

    def build(self) -> Message:
        return self.builder(*self.before, self.record, *self.extra)


CASES = [
    pytest.param(
        Case(
            user_to_proto,
            UserRecord("ana", "Ana", "Lima", "Acme", "ana@example.com", CREATED),
            {
                "id": "id",
                "first_name": "first_name",
                "last_name": "last_name",
                "company_name": "company_name",
                "email": "primary_email",
                "created_at": "created_at",
            },
        ),
        id="user_to_proto",
    ),
    pytest.param(
        Case(
            app_to_proto,
            APP,
            {
                "user_id": "user_id",
                "id": "id",
                "name": "name",
                "description": "description",
                "default_language": "default_language",
                "default_workflow_id": "default_workflow_id",
                "visibility": "visibility.gettable",
                "notes": "notes",
                "metadata": "metadata",
                "created_at": "created_at",
                "modified_at": "modified_at",
            },
            {"pk": "the storage key"},
        ),
        id="app_to_proto",
    ),
    pytest.param(
        Case(
            duplication_to_proto,
            DuplicationRecord(
                id="dup1",
                source_app_id="photos",
                destination_app_id="photos-copy",
                copy=("inputs", "concepts", "annotations"),
                status_code=APP_DUPLICATION_SUCCESS,
                status_description="Copied",
                progress={"inputs": 3, "concepts": 2, "annotations": 4, "inputs_left_out": 1},
                created_at=CREATED,
                modified_at=MODIFIED,
            ),
            {
                "id": "id",
                "destination_app_id": "new_app_id",
                "copy": lambda m: tuple(k for k in COPY_KINDS if getattr(m.filter, f"copy_{k}")),
                "status_code": "status.code",
                "status_description": "status.description",
                "progress": lambda m: {p.field: p.value for p in m.progress},
                "created_at": "created_at",
                "modified_at": "last_modified_at",
            },
            {"source_app_id": "the app in the request's path: AppDuplication has no field for it"},
            before=("ana",),
        ),
        id="duplication_to_proto",
    ),
    pytest.param(
        Case(
            key_to_proto,
            KeyRecord(
                ref="ref123",
                token_hash="secret-hash",
                user_id="ana",
                type="app_specific_key",
                description="ci",
                scopes=("Predict", "Inputs:Get"),
                endpoints=("/v2/models",),
                app_id="photos",
                created_at=CREATED,
                expires_at=MODIFIED,
                rate_limit=5.0,
            ),
            {
                "ref": "id",
                "user_id": "apps.0.user_id",
                "type": "type",
                "description": "description",
                "scopes": "scopes",
                "endpoints": "endpoints",
                "app_id": "apps.0.id",
                "created_at": "created_at",
                "expires_at": "expires_at",
            },
            {
                "token_hash": "the token is shown once, at creation, never its hash",
                "rate_limit": "Clarifai's Key has no rate limit field",
            },
        ),
        id="key_to_proto",
    ),
    pytest.param(
        Case(
            input_to_proto,
            InputRecord(
                id="in1",
                kind="image",
                url="https://example.com/cat.jpg",
                blob="ab" * 32,
                metadata={"source": "camera"},
                geo=(-9.5, 38.25),
                width=640,
                height=480,
                format="JPEG",
                status_code=INPUT_SUCCESS,
                status_description="Download complete",
                add_job_id="job1",
                dataset_ids=("train", "test"),
                created_at=CREATED,
                modified_at=MODIFIED,
                pk=11,
            ),
            {
                "id": "id",
                "kind": lambda m: _kind(m.data),
                "url": "data.image.url",
                "text": "data.text.raw",
                "metadata": "data.metadata",
                "geo": lambda m: (m.data.geo.geo_point.longitude, m.data.geo.geo_point.latitude),
                "width": "data.image.image_info.width",
                "height": "data.image.image_info.height",
                "format": "data.image.image_info.format",
                "status_code": "status.code",
                "status_description": "status.description",
                "dataset_ids": "dataset_ids",
                "created_at": "created_at",
                "modified_at": "modified_at",
            },
            {
                "blob": "a content address: the image shows as its hosted URL",
                "add_job_id": "the add job is the ingestion's, not the input's",
                "pk": "the storage key",
            },
        ),
        id="input_to_proto-image",
    ),
    pytest.param(
        Case(
            input_to_proto,
            InputRecord(
                id="in2",
                kind="text",
                text="a cat on a mat",
                status_code=INPUT_DOWNLOAD_FAILED,
                status_description="could not fetch",
            ),
            {
                "id": "id",
                "kind": lambda m: _kind(m.data),
                "text": "data.text.raw",
                "url": "data.text.url",
                "status_code": "status.code",
                "status_description": "status.description",
            },
            {
                name: "not set on this record: the image case reads it"
                for name in (
                    "blob",
                    "metadata",
                    "geo",
                    "width",
                    "height",
                    "format",
                    "add_job_id",
                    "dataset_ids",
                    "created_at",
                    "modified_at",
                    "pk",
                )
            },
        ),
        id="input_to_proto-text",
    ),
    pytest.param(
        Case(
            input_to_proto,
            InputRecord(
                id="in3",
                kind="video",
                url="https://example.com/clip.mp4",
                blob="cd" * 32,
                width=320,
                height=240,
                format="mp4",
                status_code=INPUT_SUCCESS,
                status_description="Download complete",
                created_at=CREATED,
                modified_at=MODIFIED,
                pk=13,
            ),
            {
                "id": "id",
                "kind": lambda m: _kind(m.data),
                "url": "data.video.url",
                "text": "data.text.raw",
                "metadata": "data.metadata",
                "geo": lambda m: None if not m.data.HasField("geo") else "geo",
                "width": "data.video.video_info.width",
                "height": "data.video.video_info.height",
                "format": "data.video.video_info.video_format",
                "status_code": "status.code",
                "status_description": "status.description",
                "dataset_ids": "dataset_ids",
                "created_at": "created_at",
                "modified_at": "modified_at",
            },
            {
                "blob": "a content address: the video shows as its hosted URL",
                "add_job_id": "the add job is the ingestion's, not the input's",
                "pk": "the storage key",
            },
            extra=(None, None, VideoFacts(fps=10.0, duration_ms=3000, frame_count=3)),
        ),
        id="input_to_proto-video",
    ),
    pytest.param(
        Case(
            video_to_proto,
            InputRecord(
                id="in3",
                kind="video",
                url="https://example.com/clip.webm",
                blob="cd" * 32,
                width=320,
                height=240,
                format="webm",
                pk=13,
            ),
            {
                "url": "url",
                "width": "video_info.width",
                "height": "video_info.height",
                "format": "video_info.video_format",
            },
            {
                name: "the input's, shown by input_to_proto around the Video message"
                for name in (
                    "id",
                    "kind",
                    "text",
                    "metadata",
                    "geo",
                    "status_code",
                    "status_description",
                    "add_job_id",
                    "dataset_ids",
                    "created_at",
                    "modified_at",
                    "pk",
                    "blob",
                )
            },
            extra=(
                resources_pb2.HostedURL(
                    prefix="http://h/hosted", suffix="users/u/apps/a/inputs/in3", sizes=["orig"]
                ),
                VideoFacts(fps=10.0, duration_ms=3000, frame_count=3),
            ),
        ),
        id="video_to_proto",
    ),
    pytest.param(
        Case(
            concept_to_proto,
            ConceptRecord("cat", "Cat", "fr", {"kind": "animal"}, CREATED, MODIFIED),
            {
                "id": "id",
                "name": "name",
                "language": "language",
                "metadata": "metadata",
                "created_at": "created_at",
            },
            {"modified_at": "Clarifai's Concept has no modified_at"},
            extra=(APP,),
        ),
        id="concept_to_proto",
    ),
    pytest.param(
        Case(
            annotation_to_proto,
            AnnotationRecord(
                id="an1",
                input_id="in1",
                data={"concepts": [{"id": "cat", "name": "Cat", "value": 1.0}]},
                input_level=True,
                status_code=ANNOTATION_SUCCESS,
                created_at=CREATED,
                modified_at=MODIFIED,
            ),
            {
                "id": "id",
                "input_id": "input_id",
                "data": "data",
                "input_level": "input_level",
                "status_code": "status.code",
                "created_at": "created_at",
                "modified_at": "modified_at",
            },
            extra=(APP,),
        ),
        id="annotation_to_proto",
    ),
    pytest.param(
        Case(
            annotation_filter_to_proto,
            AnnotationFilterRecord(
                id="cats",
                search=json_of(
                    resources_pb2.Search(
                        name="cats only",
                        query=resources_pb2.Query(
                            filters=[
                                resources_pb2.Filter(
                                    annotation=resources_pb2.Annotation(
                                        data=resources_pb2.Data(
                                            concepts=[resources_pb2.Concept(id="cat", value=1)]
                                        )
                                    )
                                )
                            ]
                        ),
                    )
                ),
                created_at=CREATED,
                modified_at=MODIFIED,
            ),
            {
                "id": "id",
                "search": "search",
                "created_at": "created_at",
                "modified_at": "modified_at",
            },
            extra=(APP,),
        ),
        id="annotation_filter_to_proto",
    ),
    pytest.param(
        Case(
            concept_language_to_proto,
            ConceptLanguageRecord("cat", "fr", "Chat", "un petit félin", CREATED, MODIFIED),
            {"language": "id", "name": "name", "definition": "definition"},
            {
                "concept_id": "the request names the concept",
                "created_at": "Clarifai's ConceptLanguage has no timestamps",
                "modified_at": "Clarifai's ConceptLanguage has no timestamps",
            },
        ),
        id="concept_language_to_proto",
    ),
    pytest.param(
        Case(
            knowledge_graph_to_proto,
            KnowledgeGraphRecord("pets", "Pets", "animals at home", "ex", "sampled", CREATED),
            {
                "id": "id",
                "name": "name",
                "description": "description",
                "examples_app_id": "examples_app_id",
                "sampled_examples_app_id": "sampled_examples_app_id",
            },
            {"created_at": "Clarifai's KnowledgeGraph has no timestamps"},
        ),
        id="knowledge_graph_to_proto",
    ),
    pytest.param(
        Case(
            concept_relation_to_proto,
            ConceptRelationRecord("r1", "dog", "animal", "hyponym", "pets", CREATED),
            {
                "id": "id",
                "subject_id": "subject_concept.id",
                "object_id": "object_concept.id",
                "predicate": "predicate",
                "knowledge_graph_id": "knowledge_graph_id",
            },
            {"created_at": "Clarifai's ConceptRelation has no timestamps"},
            extra=("dog", {}, APP),
        ),
        id="concept_relation_to_proto",
    ),
    pytest.param(
        Case(
            bulk_operation_to_proto,
            BulkOperationRecord(
                id="op",
                operation={"add_metadata": {"metadata": {"batch": 7.0}}},
                input_ids=("a", "b"),
                source="input_ids",
                state="in_progress",
                processed=1,
                last_processed_id="a",
                description="half way",
                created_by="ana",
                created_at=CREATED,
                modified_at=MODIFIED,
            ),
            {
                "id": "id",
                "operation": "operation",
                "input_ids": "input_ids.input_ids",
                "source": lambda message: message.WhichOneof("input_source"),
                # Clarifai's codes for the states, written out here on their own.
                "state": lambda message: {25403: "in_progress"}[message.status.code],
                "processed": "progress.processed",
                "last_processed_id": "progress.last_processed_id",
                "description": "status.description",
                "created_by": "created_by",
                "created_at": "created_at",
                "modified_at": "last_modified_at",
            },
            extra=(APP,),
        ),
        id="bulk_operation_to_proto",
    ),
    pytest.param(
        Case(
            dataset_to_proto,
            DatasetRecord("train", "training set", "# notes", {"split": 0.8}, CREATED, MODIFIED),
            {
                "id": "id",
                "description": "description",
                "notes": "notes",
                "metadata": "metadata",
                "created_at": "created_at",
                "modified_at": "modified_at",
            },
            extra=(APP,),
        ),
        id="dataset_to_proto",
    ),
    pytest.param(
        Case(
            custom_model_to_proto,
            ModelRecord(
                id="pets",
                model_type_id="embedding-classifier",
                name="Pets",
                description="cats and dogs",
                notes="# notes",
                metadata={"team": "a"},
                concepts=CONCEPTS,
                output_config={"concepts_mutually_exclusive": True},
                created_at=CREATED,
                modified_at=MODIFIED,
            ),
            {
                "id": "id",
                "model_type_id": "model_type_id",
                "name": "name",
                "description": "description",
                "notes": "notes",
                "metadata": "metadata",
                "concepts": _concepts("output_info.data.concepts"),
                "output_config": "output_info.output_config",
                "created_at": "created_at",
                "modified_at": "modified_at",
            },
            extra=(VERSION,),
            before=(APP,),
        ),
        id="custom_model_to_proto",
    ),
    pytest.param(
        Case(
            custom_version_to_proto,
            VERSION,
            {
                "id": "id",
                "status_code": "status.code",
                "status_description": "status.description",
                "description": "description",
                "concepts": _concepts("output_info.data.concepts"),
                "output_config": "output_info.output_config",
                "train_stats": lambda m: {"total_input_count": m.total_input_count},
                "metrics_status_code": "metrics.status.code",
                "metrics_description": "metrics.status.description",
                "metrics": lambda m: {"summary": json_of(m.metrics.summary)},
                "created_at": "created_at",
                "modified_at": "modified_at",
                "completed_at": "completed_at",
                "train_params": "train_info.params",
            },
            {
                "model_id": "the version sits in its model's message",
                "weights": "the trained classifier stays on the server",
                "pk": "the storage key",
            },
            before=(APP,),
        ),
        id="custom_version_to_proto",
    ),
    pytest.param(
        Case(
            eval_metrics_to_proto,
            VERSION,
            {
                "id": "id",
                "metrics_status_code": "status.code",
                "metrics_description": "status.description",
                "metrics": lambda m: _metrics_read_back(m),
            },
            {
                name: "a version's own fields: custom_version_to_proto reads them"
                for name in (
                    "model_id",
                    "status_code",
                    "status_description",
                    "description",
                    "concepts",
                    "output_config",
                    "weights",
                    "train_stats",
                    "created_at",
                    "modified_at",
                    "completed_at",
                    "pk",
                    "train_params",
                )
            },
            extra=(resources_pb2.FieldsValue(test_set=True, binary_metrics=True),),
            before=(APP,),
        ),
        id="eval_metrics_to_proto",
    ),
    pytest.param(
        Case(
            evaluation_to_proto,
            EvaluationRecord(
                id="ev1",
                model_id="pets",
                version_id="v2",
                dataset_id="holdout",
                status_code=MODEL_EVALUATED,
                status_description="done",
                metrics=_metrics(),
                created_at=CREATED,
                modified_at=MODIFIED,
                version_pk=3,
                pk=4,
            ),
            {
                "id": "id",
                "model_id": "model.id",
                "version_id": "model.model_version.id",
                "dataset_id": "ground_truth_dataset.id",
                "status_code": "status.code",
                "status_description": "status.description",
            },
            {
                "metrics": "added by the caller, as much as it asks for (eval_metrics_to_proto)",
                "created_at": "Clarifai's EvalMetrics has no timestamps",
                "modified_at": "Clarifai's EvalMetrics has no timestamps",
                "version_pk": "a storage key",
                "pk": "the storage key",
            },
            before=(APP,),
        ),
        id="evaluation_to_proto",
    ),
    pytest.param(
        Case(
            stored_workflow_to_proto,
            WorkflowRecord(
                id="pets",
                nodes=(
                    NodeSpec("detect", "face-detection").to_json(),
                    NodeSpec(
                        "classify",
                        "pets",
                        version_id="v2",
                        parents=("detect",),
                        output_config={"min_value": 0.5},
                    ).to_json(),
                ),
                description="faces, then pets",
                notes="# notes",
                metadata={"team": "a"},
                created_at=CREATED,
                modified_at=MODIFIED,
            ),
            {
                "id": "id",
                "nodes": lambda m: tuple(node_of(node).to_json() for node in m.nodes),
                "description": "description",
                "notes": "notes",
                "metadata": "metadata",
                "created_at": "created_at",
                "modified_at": "modified_at",
            },
            before=(APP,),
        ),
        id="stored_workflow_to_proto",
    ),
    pytest.param(
        Case(
            workflow_version_to_proto,
            WorkflowVersionRecord(
                id="wv1",
                workflow_id="pets",
                nodes=(
                    NodeSpec("detect", "face-detection").to_json(),
                    NodeSpec("classify", "pets", version_id="v2", parents=("detect",)).to_json(),
                ),
                description="the first nodes",
                metadata={"team": "a"},
                license="MIT",
                visibility=50,
                created_at=CREATED,
                modified_at=MODIFIED,
            ),
            {
                "id": "id",
                "workflow_id": "workflow_id",
                "nodes": lambda m: tuple(node_of(node).to_json() for node in m.nodes),
                "description": "description",
                "metadata": "metadata",
                "license": "license",
                "visibility": "visibility.gettable",
                "created_at": "created_at",
                "modified_at": "modified_at",
            },
            before=(APP,),
        ),
        id="workflow_version_to_proto",
    ),
    pytest.param(
        Case(
            region_to_proto,
            Region(
                top_row=0.125,
                left_col=0.25,
                bottom_row=0.5,
                right_col=0.75,
                value=0.875,
                concepts=(ConceptScore("face", "face", 0.5),),
                text="EXIT",
            ),
            {
                "top_row": "region_info.bounding_box.top_row",
                "left_col": "region_info.bounding_box.left_col",
                "bottom_row": "region_info.bounding_box.bottom_row",
                "right_col": "region_info.bounding_box.right_col",
                "value": "value",
                "concepts": lambda m: tuple(
                    ConceptScore(c.id, c.name, c.value) for c in m.data.concepts
                ),
                "text": "data.text.raw",
            },
            {"polygon": "not shown today: a text line's outline is left out (its box is kept)"},
        ),
        id="region_to_proto",
    ),
]


def _kind(data: resources_pb2.Data) -> str:
    for kind in ("image", "video", "text"):
        if data.HasField(kind):
            return kind
    return ""


def _metrics_read_back(message: resources_pb2.EvalMetrics) -> dict[str, Any]:
    """The stored metrics, as far as the message shows them (summary, per concept, test set)."""
    summary = json_of(message.summary)
    return {
        "summary": summary,
        "concepts": [
            (binary.concept.id, binary.num_pos, binary.num_neg) for binary in message.binary_metrics
        ],
        "test_set": [
            (entry.input.id, [c.id for c in entry.ground_truth_concepts])
            for entry in message.test_set
        ],
    }


def _expected_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "summary": json_of(resources_pb2.MetricsSummary(**metrics["summary"])),
        "concepts": [(c["concept_id"], c["num_pos"], c["num_neg"]) for c in metrics["concepts"]],
        "test_set": [(entry["input_id"], list(entry["truth"])) for entry in metrics["test_set"]],
    }


def _expected(case: Case, name: str) -> Any:
    value = getattr(case.record, name)
    if name == "metrics" and case.builder is eval_metrics_to_proto:
        return _plain(_expected_metrics(value))
    if name == "metrics":
        return _plain({"summary": json_of(resources_pb2.MetricsSummary(**value["summary"]))})
    if name == "output_config":
        return json_of(output_config_of(value))
    return _plain(value)


def _read(message: Any, where: Reader | str) -> Any:
    if isinstance(where, str):
        step: Any = message
        for name in where.split("."):
            step = step[int(name)] if name.isdigit() else getattr(step, name)
        return _plain(step)
    return _plain(where(message))


@pytest.mark.parametrize("case", CASES)
def test_the_server_s_json_of_a_built_message_parses_back_to_the_same_message(
    case: Case,
) -> None:
    message = case.build()
    parsed = _through_json(message)
    assert parsed == message


@pytest.mark.parametrize("case", CASES)
def test_every_field_of_the_record_reads_back_from_the_message(case: Case) -> None:
    message = case.build()
    names = {f.name for f in dataclasses.fields(case.record)}
    assert names == set(case.shown) | set(case.hidden), "place every record field"
    for name, where in case.shown.items():
        assert _read(message, where) == _expected(case, name), name


def _builders() -> set[str]:
    """Every public ``*_to_proto`` of the messages package."""
    names = set()
    for module_info in pkgutil.iter_modules(messages_package.__path__):
        module = importlib.import_module(f"{messages_package.__name__}.{module_info.name}")
        names |= {
            name
            for name, value in vars(module).items()
            if name.endswith("_to_proto")
            and inspect.isfunction(value)
            and value.__module__ == module.__name__
        }
    return names


# Builders with a test of their own below (they take no record, or give a list).
_OWN_TESTS = {
    "builtin_model_to_proto",
    "builtin_version_to_proto",
    "builtin_concepts_to_proto",
    "model_concepts_to_proto",
    "public_workflow_to_proto",
    "node_to_proto",
    "workflow_to_proto",
}


def test_every_builder_has_a_round_trip() -> None:
    cases = [value for param in CASES for value in param.values if isinstance(value, Case)]
    covered = {case.builder.__name__ for case in cases} | _OWN_TESTS
    assert _builders() == covered


# Builders with a test of their own.


def test_a_video_shows_what_ingestion_found_and_where_its_still_is_hosted() -> None:
    record = InputRecord(id="v", kind="video", blob="ef" * 32, width=64, height=48, format="gif")
    hosted = resources_pb2.HostedURL(prefix="http://h/hosted", suffix="users/u/apps/a/inputs/v")
    facts = VideoFacts(fps=12.5, duration_ms=2500, frame_count=3)

    video = video_to_proto(record, hosted, facts)

    info = video.video_info
    assert (info.fps, info.duration_seconds, info.frame_count) == (12.5, 2.5, 3)
    assert video.url == "http://h/hosted/orig/users/u/apps/a/inputs/v"  # uploaded bytes
    assert video.thumbnail_url == "http://h/hosted/tiny/users/u/apps/a/inputs/v"
    assert list(video.hosted_thumbnail.sizes) == ["tiny"]


def test_a_built_in_model_and_its_version_show_its_catalog_entry() -> None:
    model = builtin_model_to_proto(BUILTIN, with_concepts=True)
    assert _through_json(model) == model
    assert (model.id, model.name, model.model_type_id, model.description) == (
        BUILTIN.id,
        BUILTIN.name,
        BUILTIN.model_type_id,
        BUILTIN.description,
    )
    assert (model.app_id, model.user_id, model.model_version.id) == (
        PUBLIC_APP,
        PUBLIC_USER,
        BUILTIN.version_id,
    )
    version = builtin_version_to_proto(BUILTIN, with_concepts=True)
    assert version == model.model_version
    assert version.active_concept_count == len(BUILTIN.concepts)
    shown = [(c.id, c.name) for c in model.output_info.data.concepts]
    assert shown == [(c.id, c.name) for c in BUILTIN.concepts]
    assert not builtin_model_to_proto(BUILTIN).output_info.data.concepts


def test_a_model_s_concepts_name_the_app_that_owns_the_model() -> None:
    custom = model_concepts_to_proto(CONCEPTS, "photos", "ana", CREATED)
    assert [(c.id, c.name, c.app_id, c.user_id) for c in custom] == [
        ("cat", "Cat", "photos", "ana"),
        ("dog", "Dog", "photos", "ana"),
    ]
    assert {c.created_at.ToDatetime(tzinfo=UTC) for c in custom} == {CREATED}
    builtin = builtin_concepts_to_proto(BUILTIN.concepts)
    assert {(c.app_id, c.user_id) for c in builtin} == {(PUBLIC_APP, PUBLIC_USER)}
    assert {c.created_at.ToDatetime(tzinfo=UTC) for c in builtin} == {BUILT_IN_AT}


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(NodeSpec("general", "general-image-recognition"), id="bare"),
        pytest.param(
            NodeSpec(
                "classify",
                "pets",
                version_id="v2",
                model_user_id="ana",
                model_app_id="photos",
                parents=("detect", "crop"),
                suppress_output=True,
                output_config={"min_value": 0.5, "max_concepts": 3},
            ),
            id="every-field",
        ),
    ],
)
def test_a_workflow_node_round_trips_through_its_message(spec: NodeSpec) -> None:
    assert node_of(node_to_proto(spec)) == spec
    message = node_to_proto(spec)
    assert _through_json(message) == message


@pytest.mark.parametrize("workflow_id", sorted(PUBLIC_WORKFLOWS))
def test_a_public_workflow_shows_its_nodes_as_shipped(workflow_id: str) -> None:
    message = public_workflow_to_proto(workflow_id)
    assert [node_of(node) for node in message.nodes] == list(PUBLIC_WORKFLOWS[workflow_id])
    assert (message.app_id, message.user_id, message.visibility.gettable) == (
        PUBLIC_APP,
        PUBLIC_USER,
        50,
    )
    direct = workflow_to_proto(PUBLIC_APP, PUBLIC_USER, WorkflowRecord(workflow_id), [])
    assert direct.id == message.id


# Values and outputs.


def test_output_settings_round_trip_through_their_stored_json() -> None:
    config = resources_pb2.OutputConfig(
        min_value=0.25,
        max_concepts=3,
        select_concepts=[resources_pb2.Concept(id="cat", name="Cat")],
        concepts_mutually_exclusive=True,
    )
    assert output_config_of(output_config_json(config)) == config


def test_a_struct_round_trips_through_a_dict() -> None:
    values = {"a": 1.5, "b": [True, None, "x"], "c": {"d": "e"}}
    assert struct_to_dict(struct(values)) == values


def test_an_echoed_input_keeps_everything_but_its_bytes() -> None:
    sent = resources_pb2.Input(id="in1")
    sent.data.image.base64 = b"\xff\xd8bytes"
    sent.data.metadata.update({"k": "v"})
    part = sent.data.parts.add(id="image")
    part.data.image.base64 = b"more"
    part.data.image.url = "https://example.com/a.jpg"
    echoed = echo_input(sent)
    assert not echoed.data.HasField("image")
    assert echoed.data.parts[0].data.image.url == "https://example.com/a.jpg"
    assert not echoed.data.parts[0].data.image.base64
    assert (echoed.id, struct_to_dict(echoed.data.metadata)) == ("in1", {"k": "v"})
    assert sent.data.image.base64, "the sent message is left as it was"


PREDICTION = Prediction(
    concepts=(
        ConceptScore("cat", "cat", 0.875),
        ConceptScore("dog", "dog", 0.5),
        ConceptScore("car", "car", 0.125),
    ),
    embedding=np.array([0.5, -0.25, 0.125], dtype=np.float32),
    colors=(ColorScore("#102030", "#000080", "Navy", 0.75),),
    regions=(Region(0.0, 0.25, 0.5, 0.75, 0.625, (ConceptScore("face", "face", 0.5),)),),
    text="hello",
)


def test_a_prediction_reads_back_from_its_output_data() -> None:
    data = resources_pb2.Data()
    fill_data(data, PREDICTION, resources_pb2.OutputConfig(min_value=0.5), "photos")
    assert _through_json(data) == data
    assert [(c.id, c.value, c.app_id) for c in data.concepts] == [
        ("cat", 0.875, "photos"),
        ("dog", 0.5, "photos"),
    ]
    assert list(data.embeddings[0].vector) == [0.5, -0.25, 0.125]
    assert data.embeddings[0].num_dimensions == 3
    color = data.colors[0]
    assert (color.raw_hex, color.w3c.hex, color.w3c.name, color.value) == (
        "#102030",
        "#000080",
        "Navy",
        0.75,
    )
    box = data.regions[0].region_info.bounding_box
    assert (box.top_row, box.left_col, box.bottom_row, box.right_col) == (0.0, 0.25, 0.5, 0.75)
    assert data.text.raw == "hello"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        pytest.param(resources_pb2.OutputConfig(), ["cat", "dog", "car"], id="all"),
        pytest.param(resources_pb2.OutputConfig(max_concepts=1), ["cat"], id="max_concepts"),
        pytest.param(resources_pb2.OutputConfig(min_value=0.4), ["cat", "dog"], id="min_value"),
        pytest.param(
            resources_pb2.OutputConfig(
                min_value=0.9,
                select_concepts=[
                    resources_pb2.Concept(name="car"),
                    resources_pb2.Concept(id="dog"),
                ],
            ),
            ["dog", "car"],
            id="select_concepts-wins",
        ),
    ],
)
def test_the_output_settings_choose_the_concepts(
    config: resources_pb2.OutputConfig, expected: list[str]
) -> None:
    data = resources_pb2.Data()
    fill_data(data, PREDICTION, config)
    assert [c.id for c in data.concepts] == expected


def test_an_input_that_could_not_be_read_fails_its_output_alone() -> None:
    model = builtin_model_to_proto(BUILTIN)
    sent = resources_pb2.Input(id="in1")
    rejected = InputRejected(INPUT_DOWNLOAD_FAILED, "could not fetch")
    failed = prediction_output(model, sent, None, rejected, resources_pb2.OutputConfig(), "main")
    assert (failed.status.code, failed.status.description) == (
        INPUT_DOWNLOAD_FAILED,
        "could not fetch",
    )
    assert not failed.data.concepts and failed.input.id == "in1" and failed.model == model
    unread = prediction_output(model, sent, None, None, resources_pb2.OutputConfig(), "main")
    assert unread.status.code == INPUT_INVALID_ARGUMENT
    done = prediction_output(model, sent, PREDICTION, None, resources_pb2.OutputConfig(), "main")
    assert done.status.code == SUCCESS and [c.id for c in done.data.concepts][:1] == ["cat"]


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        pytest.param([SUCCESS, SUCCESS], SUCCESS, id="all-succeed"),
        pytest.param([SUCCESS, INPUT_DOWNLOAD_FAILED], MIXED_STATUS, id="some-fail"),
        pytest.param([INPUT_DOWNLOAD_FAILED] * 2, INPUT_DOWNLOAD_FAILED, id="all-fail-alike"),
        pytest.param([INPUT_DOWNLOAD_FAILED, INPUT_INVALID_ARGUMENT], FAILURE, id="all-differ"),
    ],
)
def test_a_call_s_status_sums_up_its_outputs(codes: list[int], expected: int) -> None:
    outputs = [resources_pb2.Output(status=status(code, "why")) for code in codes]
    assert overall_status(outputs).code == expected


def test_a_workflow_result_names_each_region_the_same_in_every_node_s_output() -> None:
    detect = NodeSpec("detect", "face-detection")
    classify = NodeSpec("classify", "general-image-recognition", parents=("detect",))
    hidden = NodeSpec("hidden", "general-image-recognition", suppress_output=True)
    face = Region(0.0, 0.0, 0.5, 0.5, 0.875, (ConceptScore("face", "face", 0.875),))
    ran = {
        "detect": NodeResult(prediction=Prediction(regions=(face,))),
        "classify": NodeResult(
            regions=(RegionResult("detect", 0, face, Prediction(concepts=PREDICTION.concepts)),)
        ),
        "hidden": NodeResult(prediction=PREDICTION),
    }
    nodes = [_resolved(spec) for spec in (hidden, detect, classify)]  # run order
    sent = resources_pb2.Input(id="in1")
    config = resources_pb2.OutputConfig()
    result = workflow_result(APP, [detect, classify, hidden], nodes, sent, None, ran, config)
    assert _through_json(result) == result
    assert result.status.code == SUCCESS and result.input.id == "in1"
    detected, classified = result.outputs  # the workflow's order, the suppressed node left out
    assert detected.data.regions[0].id == classified.data.regions[0].id
    assert [c.id for c in classified.data.regions[0].data.concepts] == ["cat", "dog", "car"]
    unread = InputRejected(INPUT_DOWNLOAD_FAILED, "gone")
    failed = workflow_result(APP, [detect], nodes[1:2], sent, unread, None, config)
    assert failed.status.code == INPUT_DOWNLOAD_FAILED and not failed.outputs


def _resolved(spec: NodeSpec) -> ResolvedNode:
    graph = GraphNode(
        spec=spec,
        model_id=spec.model_id,
        builtin=True,
        input_kind="image",
        yields_regions=spec.id == "detect",
        predict=lambda items: [],
    )
    return ResolvedNode(graph, info=BUILTIN)
