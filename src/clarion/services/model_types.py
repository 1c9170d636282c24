"""Model types: what ListModelTypes and GetModelType describe, and the training fields they list.

A trainable type lists its ``model_type_fields``, the fields the modern SDK's
``Model.get_params()`` turns into a params YAML and ``Model.train()`` sends back in
``PostModelVersions``. Each field listed is one training honours; ``training_params`` checks
what a request sets against that list, so a value Clarion cannot honour is refused, never
ignored. ``embedding-classifier``, the one type Clarion trains, has no templates (Clarifai's
has none either: the SDK refuses a template for it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from google.protobuf import struct_pb2

from clarion.errors import ModelInvalidArgument, NotFound
from clarion.services.base import HandlerTable
from clarion.services.context import CallContext
from clarion.services.messages.values import struct_to_dict
from clarion.services.paging import page_of

EMBEDDING_CLASSIFIER = "embedding-classifier"
# Clarifai's enrich_dataset options: "Automatic" adds the base model's stored negative
# embeddings when it has some; Clarion's embedder has none, so both train on the app's data.
ENRICH_OPTIONS = ("Automatic", "Disabled")
# The training parameters (train_info.params) an embedding-classifier version honours.
TRAIN_PARAMS = ("dataset_id", "dataset_version_id", "enrich_dataset")
# The inference parameters (output_info.params) it honours: those of its output_config.
INFERENCE_PARAMS = ("concepts_mutually_exclusive",)

_FieldType = resources_pb2.ModelTypeField.ModelTypeFieldType


@dataclass(frozen=True, slots=True)
class TypeSummary:
    """One model type: what it reads and writes, and what it is for."""

    input_field: str
    output_field: str
    description: str


_TYPES = {
    "visual-classifier": TypeSummary("image", "concepts", "Classify images into concepts"),
    "visual-embedder": TypeSummary("image", "embeddings", "Embed images as vectors"),
    "visual-detector": TypeSummary("image", "regions", "Detect regions of images"),
    "image-to-text": TypeSummary("image", "regions", "Read the text in images"),
    "text-embedder": TypeSummary("text", "embeddings", "Embed text as vectors"),
    "text-classifier": TypeSummary("text", "concepts", "Classify text into concepts"),
    EMBEDDING_CLASSIFIER: TypeSummary(
        "image", "concepts", "A classifier trained on your concepts, on the image embedder"
    ),
}


def _embedding_classifier_fields() -> list[resources_pb2.ModelTypeField]:
    return [
        resources_pb2.ModelTypeField(
            path="output_info.data.concepts",
            field_type=_FieldType.ARRAY_OF_CONCEPTS,
            description="The concepts to learn, from the app's concepts (the model's when "
            "none are given)",
            placeholder="concepts",
            required=True,
        ),
        resources_pb2.ModelTypeField(
            path="output_info.output_config.concepts_mutually_exclusive",
            field_type=_FieldType.BOOLEAN,
            default_value=struct_pb2.Value(bool_value=False),
            description="Each input shows one of the concepts: scores are a softmax over "
            "them (sum to 1) instead of independent sigmoids",
            placeholder="concepts_mutually_exclusive",
        ),
        resources_pb2.ModelTypeField(
            path="train_info.params.dataset_id",
            field_type=_FieldType.DATASET,
            description="Train on this dataset's inputs only (empty: all the app's inputs)",
            placeholder="dataset_id",
        ),
        resources_pb2.ModelTypeField(
            path="train_info.params.dataset_version_id",
            field_type=_FieldType.DATASET_VERSION,
            description="Clarion has no dataset versions: leave empty (a dataset trains "
            "as it is when training starts)",
            placeholder="dataset_version_id",
        ),
        resources_pb2.ModelTypeField(
            path="train_info.params.enrich_dataset",
            field_type=_FieldType.ENUM,
            default_value=struct_pb2.Value(string_value="Automatic"),
            description="Add the base embedder's stored negative embeddings to training when "
            "it has some (Automatic) or never (Disabled); Clarion's embedder has none",
            placeholder="enrich_dataset",
            model_type_enum_options=[
                resources_pb2.ModelTypeEnumOption(
                    id="Automatic", description="Use stored negatives when there are some"
                ),
                resources_pb2.ModelTypeEnumOption(
                    id="Disabled", description="Train on your inputs alone"
                ),
            ],
        ),
    ]


def model_type(type_id: str) -> resources_pb2.ModelType:
    summary = _TYPES[type_id]
    trainable = type_id == EMBEDDING_CLASSIFIER
    message = resources_pb2.ModelType(
        id=type_id,
        title=type_id.replace("-", " ").title(),
        description=summary.description,
        input_fields=[summary.input_field],
        output_fields=[summary.output_field],
        trainable=trainable,
        creatable=trainable,
    )
    if trainable:
        message.model_type_fields.extend(_embedding_classifier_fields())
    return message


class ModelTypesService:
    """ListModelTypes and GetModelType."""

    def handlers(self) -> HandlerTable:
        return {"ListModelTypes": self.list_model_types, "GetModelType": self.get_model_type}

    def list_model_types(
        self, request: service_pb2.ListModelTypesRequest, ctx: CallContext
    ) -> service_pb2.MultiModelTypeResponse:
        types = [model_type(type_id) for type_id in _TYPES]
        page = page_of(request.page, request.per_page)
        return service_pb2.MultiModelTypeResponse(
            model_types=types[page.offset : page.offset + page.per_page]
        )

    def get_model_type(
        self, request: service_pb2.GetModelTypeRequest, ctx: CallContext
    ) -> service_pb2.SingleModelTypeResponse:
        if request.model_type_id not in _TYPES:
            raise NotFound("model type", request.model_type_id)
        return service_pb2.SingleModelTypeResponse(model_type=model_type(request.model_type_id))


def training_params(version: resources_pb2.ModelVersion) -> dict[str, Any]:
    """The checked ``train_info.params`` of a version to train (only non-default values).

    Refuses a parameter an embedding-classifier does not have, a value it cannot honour, and
    the parts of ``train_info`` other than ``params``."""
    info = version.train_info
    for name in ("dataset", "resume_from_model"):
        if info.HasField(name):
            raise ModelInvalidArgument(
                f"train_info.{name} is not supported: set train_info.params.dataset_id "
                "to train on a dataset; a version always trains from scratch"
            )
    given = struct_to_dict(info.params)
    _refuse_unknown("train_info.params", given, TRAIN_PARAMS)
    checked: dict[str, Any] = {}
    dataset_id = _string(given, "dataset_id")
    if dataset_id:
        checked["dataset_id"] = dataset_id
    if _string(given, "dataset_version_id"):
        raise ModelInvalidArgument(
            "train_info.params.dataset_version_id is not supported: Clarion has no dataset "
            "versions; leave it empty to train on the dataset as it is"
        )
    enrich = _string(given, "enrich_dataset") or ENRICH_OPTIONS[0]
    if enrich not in ENRICH_OPTIONS:
        raise ModelInvalidArgument(
            f"train_info.params.enrich_dataset '{enrich}' is not one of {', '.join(ENRICH_OPTIONS)}"
        )
    if enrich != ENRICH_OPTIONS[0]:
        checked["enrich_dataset"] = enrich
    return checked


def inference_params(version: resources_pb2.ModelVersion) -> dict[str, Any]:
    """``output_info.params`` as output_config settings (the SDK copies the YAML's
    ``inference_params`` there): only those an embedding-classifier has, with their types."""
    given = struct_to_dict(version.output_info.params)
    _refuse_unknown("output_info.params", given, INFERENCE_PARAMS)
    exclusive = given.get("concepts_mutually_exclusive", False)
    if not isinstance(exclusive, bool):
        raise ModelInvalidArgument(
            "output_info.params.concepts_mutually_exclusive must be true or false"
        )
    return {"concepts_mutually_exclusive": True} if exclusive else {}


def _refuse_unknown(where: str, given: Mapping[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ModelInvalidArgument(
            f"{where} {', '.join(repr(name) for name in unknown)} not supported for "
            f"{EMBEDDING_CLASSIFIER} models: the parameters are {', '.join(known)} "
            "(ListModelTypes lists them in model_type_fields)"
        )


def _string(given: Mapping[str, Any], name: str) -> str:
    value = given.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ModelInvalidArgument(f"train_info.params.{name} must be a string")
    return value
