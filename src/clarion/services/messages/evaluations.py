"""Evaluations: an evaluation's identity and status, and a version's evaluation metrics in
Clarifai's shape (summary, per-concept, binary, confusion, label counts, test set)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2

from clarion.codes import MODEL_EVALUATED
from clarion.services.messages.values import status, struct
from clarion.storage.accounts import AppRecord
from clarion.storage.evaluations import EvaluationRecord
from clarion.storage.models import VersionRecord


def evaluation_to_proto(app: AppRecord, record: EvaluationRecord) -> resources_pb2.EvalMetrics:
    """An evaluation's identity and status (its metrics are added by the caller)."""
    message = resources_pb2.EvalMetrics(
        id=record.id,
        app_id=app.id,
        user_id=app.user_id,
        status=status(record.status_code, record.status_description),
        model=resources_pb2.Model(
            id=record.model_id,
            app_id=app.id,
            user_id=app.user_id,
            model_version=resources_pb2.ModelVersion(
                id=record.version_id, app_id=app.id, user_id=app.user_id
            ),
        ),
    )
    if record.dataset_id:
        message.ground_truth_dataset.CopyFrom(
            resources_pb2.Dataset(id=record.dataset_id, app_id=app.id, user_id=app.user_id)
        )
    return message


def eval_metrics_to_proto(
    app: AppRecord,
    version: VersionRecord,
    fields: resources_pb2.FieldsValue | None,
    *,
    summary_only: bool = False,
) -> resources_pb2.EvalMetrics:
    """The version's evaluation, in Clarifai's shape.

    Always the status and summary (and per-concept precision, recall and F1 at the 0.5
    threshold in ``extended_metrics.user_metrics``); the parts ``fields`` selects, or, with no
    field selected, all but the per-input ``test_set``.
    """
    message = resources_pb2.EvalMetrics(
        id=version.id,
        app_id=app.id,
        user_id=app.user_id,
        status=status(version.metrics_status_code, version.metrics_description),
    )
    if version.metrics_status_code == MODEL_EVALUATED and version.metrics:
        names = {c.id: c.name for c in version.concepts}
        add_metrics(message, version.metrics, names, fields, summary_only=summary_only)
    return message


def add_metrics(
    message: resources_pb2.EvalMetrics,
    metrics: Mapping[str, Any],
    names: Mapping[str, str],
    fields: resources_pb2.FieldsValue | None,
    *,
    summary_only: bool = False,
) -> None:
    """Fill ``message`` from stored metrics: the summary, and unless ``summary_only`` the
    per-concept metrics and the parts ``fields`` selects (all but ``test_set`` when none)."""
    message.summary.CopyFrom(resources_pb2.MetricsSummary(**metrics["summary"]))
    if summary_only:
        return
    message.extended_metrics.user_metrics.CopyFrom(struct(_per_concept(metrics)))
    wanted = _wanted(fields)
    if "binary_metrics" in wanted:
        message.binary_metrics.extend(_binary(metrics, names))
    if "confusion_matrix" in wanted:
        message.confusion_matrix.CopyFrom(_confusion(metrics, names))
    if "label_counts" in wanted:
        message.label_counts.CopyFrom(_label_counts(metrics, names))
    if "cooccurrence_matrix" in wanted:
        message.cooccurrence_matrix.CopyFrom(_cooccurrence(metrics))
    if "test_set" in wanted:
        message.test_set.extend(_test_set(metrics, names))
    if "metrics_by_class" in wanted:
        # A classifier's metrics by class are its per-concept binary metrics.
        message.metrics_by_class.extend(_binary(metrics, names))


_PARTS = ("binary_metrics", "confusion_matrix", "label_counts", "cooccurrence_matrix")


def _wanted(fields: resources_pb2.FieldsValue | None) -> set[str]:
    chosen = {f.name for f, value in fields.ListFields() if value} if fields else set()
    return chosen or set(_PARTS)


def _per_concept(metrics: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "threshold": metrics["threshold"],
        "folds": metrics["folds"],
        "concepts": {
            c["concept_id"]: {"precision": c["precision"], "recall": c["recall"], "f1": c["f1"]}
            for c in metrics["concepts"]
        },
    }


def _concept(concept_id: str, names: Mapping[str, str], value: float = 1.0) -> Any:
    return resources_pb2.Concept(id=concept_id, name=names.get(concept_id, concept_id), value=value)


def _binary(metrics: Mapping[str, Any], names: Mapping[str, str]) -> list[Any]:
    thresholds = metrics["curve_thresholds"]
    return [
        resources_pb2.BinaryMetrics(
            num_pos=c["num_pos"],
            num_neg=c["num_neg"],
            num_tot=c["num_pos"] + c["num_neg"],
            roc_auc=c["roc_auc"] or 0.0,
            f1=c["f1"],
            avg_precision=c["avg_precision"] or 0.0,
            concept=_concept(c["concept_id"], names),
            roc_curve=resources_pb2.ROC(fpr=c["roc_fpr"], tpr=c["roc_tpr"], thresholds=thresholds),
            precision_recall_curve=resources_pb2.PrecisionRecallCurve(
                precision=c["pr_precision"], recall=c["pr_recall"], thresholds=thresholds
            ),
        )
        for c in metrics["concepts"]
    ]


def _confusion(metrics: Mapping[str, Any], names: Mapping[str, str]) -> Any:
    matrix = resources_pb2.ConfusionMatrix(
        concept_ids=[c["concept_id"] for c in metrics["concepts"]]
    )
    for cell in metrics["confusion"]:
        matrix.matrix.append(
            resources_pb2.ConfusionMatrixEntry(
                actual=cell["actual"],
                predicted=cell["predicted"],
                value=cell["count"],
                actual_concept=_concept(cell["actual"], names),
                predicted_concept=_concept(cell["predicted"], names),
            )
        )
    return matrix


def _label_counts(metrics: Mapping[str, Any], names: Mapping[str, str]) -> Any:
    return resources_pb2.LabelDistribution(
        positive_label_counts=[
            resources_pb2.LabelCount(
                concept_name=names.get(c["concept_id"], c["concept_id"]),
                count=c["num_pos"],
                concept=_concept(c["concept_id"], names),
            )
            for c in metrics["concepts"]
        ]
    )


def _cooccurrence(metrics: Mapping[str, Any]) -> Any:
    """How often two concepts are true of the same input (the diagonal: how often one is)."""
    ids = [c["concept_id"] for c in metrics["concepts"]]
    counts: dict[tuple[str, str], int] = {}
    for entry in metrics["test_set"]:
        for row in entry["truth"]:
            for col in entry["truth"]:
                counts[(row, col)] = counts.get((row, col), 0) + 1
    return resources_pb2.CooccurrenceMatrix(
        concept_ids=ids,
        matrix=[
            resources_pb2.CooccurrenceMatrixEntry(row=row, col=col, count=count)
            for (row, col), count in sorted(counts.items())
        ],
    )


def _test_set(metrics: Mapping[str, Any], names: Mapping[str, str]) -> list[Any]:
    return [
        resources_pb2.EvalTestSetEntry(
            input=resources_pb2.Input(id=entry["input_id"]),
            predicted_concepts=[_concept(cid, names, value) for cid, value in entry["predicted"]],
            ground_truth_concepts=[_concept(cid, names) for cid in entry["truth"]],
        )
        for entry in metrics["test_set"]
    ]
