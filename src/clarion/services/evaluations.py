"""The evaluation API: evaluate a trained custom model version, list and read evaluations.

``PostEvaluations`` and ``PostModelVersionEvaluations`` queue an evaluation and answer at once
with it in ``MODEL_QUEUED_FOR_EVALUATION``; a worker computes it (``clarion.jobs.evaluation``).
Without ``ground_truth_dataset`` an evaluation cross-validates the version's training recipe
on the inputs it trains on (as ``PostModelVersionMetrics`` does); with one, it compares the
trained version's predictions on that dataset's inputs with their annotations. The metrics
come back in the shape ``GetModelVersionMetrics`` gives: status, summary, per-concept
precision, recall and F1 in ``extended_metrics.user_metrics``, and the parts ``fields`` picks.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from clarifai_grpc.grpc.api import resources_pb2, service_pb2

from clarion.codes import MODEL_EVALUATED, MODEL_TRAINED
from clarion.errors import (
    AlreadyExists,
    EvaluationInvalidArgument,
    ModelInvalidArgument,
    ModelNotFound,
    ModelUntrained,
    NotFound,
)
from clarion.runtime.model_resolver import find_version
from clarion.services.base import HandlerTable, app_pk, check_id, conflicts_as, require_app
from clarion.services.context import CallContext
from clarion.services.messages.evaluations import add_metrics, evaluation_to_proto
from clarion.services.paging import page_of
from clarion.storage.accounts import AppRecord
from clarion.storage.datasets import DatasetStore
from clarion.storage.evaluations import EvaluationFilter, EvaluationRecord, EvaluationStore
from clarion.storage.models import ModelStore, VersionRecord

# What a request's EvalMetrics may set: the rest is computed here, and refused if sent.
_SETTABLE = frozenset({"id", "model", "ground_truth_dataset", "user_id", "app_id", "eval_info"})
# The ListEvaluations orders Clarion does not offer (it lists by creation time).
_UNSUPPORTED_SORTS = (
    "sort_by_app_id",
    "sort_by_roc_auc",
    "sort_by_f1",
    "sort_by_mean_avg_precision",
    "sort_by_precision",
    "sort_by_recall",
    "sort_by_model_id",
    "sort_by_eval_dataset_id",
    "sort_by_train_dataset_id",
)


class EvaluationsService:
    """Post, list and get evaluations of an app's custom model versions."""

    def __init__(
        self,
        evaluations: EvaluationStore,
        models: ModelStore,
        datasets: DatasetStore,
        is_builtin: Callable[[str], bool],
        wake_workers: Callable[[], None],
    ) -> None:
        self._evaluations = evaluations
        self._models = models
        self._datasets = datasets
        self._is_builtin = is_builtin
        self._wake_workers = wake_workers

    def handlers(self) -> HandlerTable:
        return {
            "PostEvaluations": self.post_evaluations,
            "ListEvaluations": self.list_evaluations,
            "GetEvaluation": self.get_evaluation,
            "PostModelVersionEvaluations": self.post_model_version_evaluations,
            "ListModelVersionEvaluations": self.list_model_version_evaluations,
            "GetModelVersionEvaluation": self.get_model_version_evaluation,
        }

    # posting

    def post_evaluations(
        self, request: service_pb2.PostEvaluationsRequest, ctx: CallContext
    ) -> service_pb2.MultiEvalMetricsResponse:
        """Queue an evaluation of each ``eval_metrics[].model.model_version``."""
        app = require_app(ctx)
        asked = _at_least_one(request.eval_metrics)
        records = [
            self._record(app, metrics, metrics.model.id, metrics.model.model_version.id)
            for metrics in asked
        ]
        return self._posted(app, records)

    def post_model_version_evaluations(
        self, request: service_pb2.PostModelVersionEvaluationsRequest, ctx: CallContext
    ) -> service_pb2.MultiEvalMetricsResponse:
        """Queue evaluations of the version the path names."""
        app = require_app(ctx)
        asked = _at_least_one(request.eval_metrics)
        for metrics in asked:
            _same_version(metrics, request.model_id, request.model_version_id)
        records = [
            self._record(app, metrics, request.model_id, request.model_version_id)
            for metrics in asked
        ]
        return self._posted(app, records)

    def _posted(
        self, app: AppRecord, records: Sequence[EvaluationRecord]
    ) -> service_pb2.MultiEvalMetricsResponse:
        """Store the evaluations, every one checked first (so a refusal stores none)."""
        ids = [record.id for record in records]
        if len(set(ids)) != len(ids):
            raise EvaluationInvalidArgument("eval_metrics[] gives one id to two evaluations")
        for record in records:
            if self._evaluations.get_evaluation(app_pk(app), record.id) is not None:
                raise AlreadyExists("evaluation", record.id)
        with conflicts_as("evaluation", ", ".join(ids)):  # taken since the check above
            queued = self._evaluations.create_evaluations(app_pk(app), records)
        self._wake_workers()
        return service_pb2.MultiEvalMetricsResponse(
            eval_metrics=[evaluation_to_proto(app, record) for record in queued]
        )

    def _record(
        self, app: AppRecord, asked: resources_pb2.EvalMetrics, model_id: str, version_id: str
    ) -> EvaluationRecord:
        """The evaluation ``asked`` for, once checked: a trained version, a dataset of the app."""
        _check_settable(app, asked)
        version = self._trained_version(app, model_id, version_id)
        return EvaluationRecord(
            id=check_id("evaluation", asked.id) if asked.id else uuid.uuid4().hex,
            model_id=model_id,
            version_id=version.id,
            dataset_id=self._dataset_id(app, asked.ground_truth_dataset),
            version_pk=version.pk,
        )

    def _trained_version(self, app: AppRecord, model_id: str, version_id: str) -> VersionRecord:
        if not model_id:
            raise EvaluationInvalidArgument("Set the model to evaluate: eval_metrics[].model.id")
        if self._models.get_model(app_pk(app), model_id) is None:
            if self._is_builtin(model_id):
                raise ModelInvalidArgument(
                    f"Model '{model_id}' is built in: it is not evaluated here. Evaluate a "
                    "custom embedding-classifier trained in this app"
                )
            raise ModelNotFound("model", model_id)
        version = find_version(self._models, app_pk(app), model_id, version_id, trained_only=True)
        if version is None:
            raise ModelNotFound("model version", f"{model_id}/{version_id or '(trained)'}")
        if version.status_code != MODEL_TRAINED:
            raise ModelUntrained(f"Version '{version.id}' of model '{model_id}' is not trained")
        return version

    def _dataset_id(self, app: AppRecord, dataset: resources_pb2.Dataset) -> str:
        """The ground-truth dataset's id, once checked ("" for none: cross-validation)."""
        if not dataset.id:
            if dataset.version.id:
                raise EvaluationInvalidArgument(
                    "ground_truth_dataset.version is set without its id"
                )
            return ""
        if dataset.user_id not in ("", "me", app.user_id) or dataset.app_id not in ("", app.id):
            raise EvaluationInvalidArgument(
                f"ground_truth_dataset must be a dataset of the model's app '{app.id}': "
                "evaluating across apps is not supported"
            )
        if dataset.version.id:
            raise EvaluationInvalidArgument(
                "ground_truth_dataset.version is not supported: Clarion has no dataset "
                "versions; leave it empty to evaluate on the dataset as it is"
            )
        if self._datasets.get_dataset(app_pk(app), dataset.id) is None:
            raise NotFound("dataset", dataset.id)
        return dataset.id

    # reading

    def list_evaluations(
        self, request: service_pb2.ListEvaluationsRequest, ctx: CallContext
    ) -> service_pb2.MultiEvalMetricsResponse:
        """The app's evaluations, newest first (oldest with ``sort_ascending``)."""
        app = require_app(ctx)
        _check_listing(request)
        chosen = EvaluationFilter(
            model_type_id=request.model_type_id,
            dataset_ids=tuple(request.eval_dataset_ids),
            # Clarifai leaves failed evaluations out of this listing unless asked for them.
            with_failed=request.show_failed_metrics,
        )
        found = self._listed(app, request.page, request.per_page, chosen, request.sort_ascending)
        return _listing(app, found)

    def list_model_version_evaluations(
        self, request: service_pb2.ListModelVersionEvaluationsRequest, ctx: CallContext
    ) -> service_pb2.MultiEvalMetricsResponse:
        """A version's evaluations, newest first (the model's, with no version given)."""
        app = require_app(ctx)
        self._custom_model(app, request.model_id)
        chosen = EvaluationFilter(model_id=request.model_id, version_id=request.model_version_id)
        return _listing(app, self._listed(app, request.page, request.per_page, chosen, False))

    def _listed(
        self, app: AppRecord, page: int, per_page: int, chosen: EvaluationFilter, ascending: bool
    ) -> list[EvaluationRecord]:
        paging = page_of(page, per_page)
        return self._evaluations.list_evaluations(app_pk(app), paging, chosen, ascending=ascending)

    def get_evaluation(
        self, request: service_pb2.GetEvaluationRequest, ctx: CallContext
    ) -> service_pb2.SingleEvalMetricsResponse:
        app = require_app(ctx)
        record = self._evaluation(app, request.evaluation_id)
        return self._detailed(app, record, request.fields if request.HasField("fields") else None)

    def get_model_version_evaluation(
        self, request: service_pb2.GetModelVersionEvaluationRequest, ctx: CallContext
    ) -> service_pb2.SingleEvalMetricsResponse:
        app = require_app(ctx)
        record = self._evaluation(app, request.evaluation_id)
        if record.model_id != request.model_id or (
            request.model_version_id and record.version_id != request.model_version_id
        ):
            path = f"{request.model_id}/{request.model_version_id}"
            raise NotFound("evaluation", f"{request.evaluation_id}' of model version '{path}")
        return self._detailed(app, record, request.fields if request.HasField("fields") else None)

    def _detailed(
        self,
        app: AppRecord,
        record: EvaluationRecord,
        fields: resources_pb2.FieldsValue | None,
    ) -> service_pb2.SingleEvalMetricsResponse:
        if fields is not None and fields.metrics_by_area:
            raise EvaluationInvalidArgument(
                "fields.metrics_by_area is for detectors: an embedding-classifier has no regions"
            )
        message = evaluation_to_proto(app, record)
        if record.status_code == MODEL_EVALUATED and record.metrics:
            version = self._models.get_version(app_pk(app), record.model_id, record.version_id)
            names = {c.id: c.name for c in version.concepts} if version else {}
            add_metrics(message, record.metrics, names, fields)
        return service_pb2.SingleEvalMetricsResponse(eval_metrics=message)

    def _evaluation(self, app: AppRecord, evaluation_id: str) -> EvaluationRecord:
        record = (
            self._evaluations.get_evaluation(app_pk(app), evaluation_id) if evaluation_id else None
        )
        if record is None:
            raise NotFound("evaluation", evaluation_id)
        return record

    def _custom_model(self, app: AppRecord, model_id: str) -> None:
        if not model_id or self._models.get_model(app_pk(app), model_id) is None:
            raise ModelNotFound("model", model_id)


def _at_least_one(
    asked: Sequence[resources_pb2.EvalMetrics],
) -> Sequence[resources_pb2.EvalMetrics]:
    if not asked:
        raise EvaluationInvalidArgument("Set eval_metrics: one entry per evaluation to run")
    return asked


def _same_version(asked: resources_pb2.EvalMetrics, model_id: str, version_id: str) -> None:
    """An entry naming a model or version names the one in the path, or none."""
    named_model, named_version = asked.model.id, asked.model.model_version.id
    if (named_model and named_model != model_id) or (named_version and named_version != version_id):
        raise EvaluationInvalidArgument(
            f"eval_metrics[].model names '{named_model}/{named_version}', not the version in "
            f"the path '{model_id}/{version_id}': leave it empty or name the same one"
        )


def _check_settable(app: AppRecord, asked: resources_pb2.EvalMetrics) -> None:
    computed = sorted(field.name for field, _ in asked.ListFields() if field.name not in _SETTABLE)
    if computed:
        raise EvaluationInvalidArgument(
            f"eval_metrics[] sets {', '.join(computed)}: Clarion computes an evaluation's "
            "metrics itself and does not store metrics sent to it; send the model, version "
            "and ground_truth_dataset only"
        )
    if asked.eval_info.params.fields:
        raise EvaluationInvalidArgument(
            "eval_info.params is not supported: an embedding-classifier's evaluation has no "
            "parameters (its threshold is 0.5)"
        )
    for owner in (asked, asked.model):
        if owner.app_id not in ("", app.id) or owner.user_id not in ("", "me", app.user_id):
            raise EvaluationInvalidArgument(
                f"eval_metrics[] must evaluate a model of the app '{app.id}' the request "
                "targets, in that app: evaluating across apps is not supported"
            )


def _check_listing(request: service_pb2.ListEvaluationsRequest) -> None:
    asked = [name for name in _UNSUPPORTED_SORTS if getattr(request, name)]
    if asked:
        raise EvaluationInvalidArgument(
            f"{', '.join(asked)} is not supported: evaluations list by creation time "
            "(newest first, or oldest with sort_ascending)"
        )
    for name in ("train_dataset_ids", "concept_ids"):
        if getattr(request, name):
            raise EvaluationInvalidArgument(
                f"Filtering evaluations by {name} is not supported: filter by model_type_id "
                "or eval_dataset_ids"
            )


def _listing(
    app: AppRecord, records: Sequence[EvaluationRecord]
) -> service_pb2.MultiEvalMetricsResponse:
    messages = []
    for record in records:
        message = evaluation_to_proto(app, record)
        if record.status_code == MODEL_EVALUATED and record.metrics:
            add_metrics(message, record.metrics, {}, None, summary_only=True)
        messages.append(message)
    return service_pb2.MultiEvalMetricsResponse(eval_metrics=messages)
