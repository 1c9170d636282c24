"""Custom models, versions, evaluation metrics and workflows <-> protobuf messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from google.protobuf import json_format
from google.protobuf.message import Message

from clarion.codes import MODEL_EVALUATED
from clarion.inference.workflow import NodeSpec
from clarion.services.convert import json_of, status, struct, timestamp
from clarion.services.legacy_types import add_legacy_type
from clarion.services.signatures import method_signatures
from clarion.storage.accounts import AppRecord
from clarion.storage.models import ModelConcept, ModelRecord, VersionRecord, WorkflowRecord

PRIVATE = 10
# Custom models are classifiers: Clarifai's old API typed every one of them "concept".
CUSTOM_MODEL_LEGACY_TYPE = "concept"


def output_config_json(config: resources_pb2.OutputConfig) -> dict[str, Any]:
    return json_of(config)


def output_config_of(values: Mapping[str, Any]) -> resources_pb2.OutputConfig:
    config = resources_pb2.OutputConfig()
    json_format.ParseDict(dict(values), config, ignore_unknown_fields=True)
    return config


def requested_output_config(model: resources_pb2.Model) -> resources_pb2.OutputConfig:
    """The output settings a request's ``model`` carries, wherever the client put them.

    ``clarifai-grpc`` examples set ``model.output_info.output_config``; the modern SDKs set
    ``model.model_version.output_info.output_config``. Both count: a field the version's
    settings give wins over the model's, as the more specific of the two."""
    on_model = model.output_info.output_config
    if not model.model_version.output_info.HasField("output_config"):
        return on_model
    return overridden(on_model, model.model_version.output_info.output_config)


def overridden(
    base: resources_pb2.OutputConfig, override: resources_pb2.OutputConfig
) -> resources_pb2.OutputConfig:
    """``base`` with every field that ``override`` sets taken from ``override`` (a list such as
    ``select_concepts`` replaced whole, not appended to)."""
    merged = resources_pb2.OutputConfig()
    merged.CopyFrom(base)
    cleared: Message = merged  # ClearField by a descriptor's name: any field of the message
    for field, _ in override.ListFields():
        cleared.ClearField(field.name)
    merged.MergeFrom(override)
    return merged


def concepts_to_proto(
    concepts: Sequence[ModelConcept], app: AppRecord, created_at: datetime | None = None
) -> list[resources_pb2.Concept]:
    """A model's concepts; ``created_at`` (the model's) because ``clarifai==2.6.2`` reads
    every concept's ``created_at`` when it builds a model from a response."""
    when = timestamp(created_at)
    return [
        resources_pb2.Concept(
            id=c.id, name=c.name, value=1.0, app_id=app.id, user_id=app.user_id, created_at=when
        )
        for c in concepts
    ]


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
        visibility=resources_pb2.Visibility(gettable=PRIVATE),  # type: ignore[arg-type]
    )
    message.output_info.output_config.CopyFrom(output_config_of(model.output_config))
    add_legacy_type(message.output_info, CUSTOM_MODEL_LEGACY_TYPE)
    if with_concepts:
        concepts = concepts_to_proto(model.concepts, app, model.created_at)
        message.output_info.data.concepts.extend(concepts)
    if version is not None:
        message.model_version.CopyFrom(version_to_proto(app, version, with_concepts=with_concepts))
    return message


def version_to_proto(
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
        visibility=resources_pb2.Visibility(gettable=PRIVATE),  # type: ignore[arg-type]
        # A custom model classifies images, as an embedding-classifier does.
        method_signatures=method_signatures("image", "concepts"),
    )
    message.output_info.output_config.CopyFrom(output_config_of(version.output_config))
    if version.train_params:
        message.train_info.params.CopyFrom(struct(version.train_params))
    if with_concepts:
        concepts = concepts_to_proto(version.concepts, app, version.created_at)
        message.output_info.data.concepts.extend(concepts)
    message.metrics.CopyFrom(eval_metrics_to_proto(app, version, fields=None, summary_only=True))
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


# workflows


def node_to_proto(spec: NodeSpec) -> resources_pb2.WorkflowNode:
    node = resources_pb2.WorkflowNode(
        id=spec.id,
        model=resources_pb2.Model(
            id=spec.model_id,
            user_id=spec.model_user_id,
            app_id=spec.model_app_id,
            model_version=resources_pb2.ModelVersion(id=spec.version_id),
        ),
        node_inputs=[resources_pb2.NodeInput(node_id=parent) for parent in spec.parents],
        suppress_output=spec.suppress_output,
    )
    if spec.output_config:
        node.output_info_override.output_config.CopyFrom(output_config_of(spec.output_config))
    return node


def node_of(node: resources_pb2.WorkflowNode) -> NodeSpec:
    """A node as stored; its output settings from wherever the client put them, the node's
    ``output_info_override`` over those of its ``model`` (and that model's version)."""
    config = overridden(
        requested_output_config(node.model), node.output_info_override.output_config
    )
    return NodeSpec(
        id=node.id,
        model_id=node.model.id,
        version_id=node.model.model_version.id,
        model_user_id=node.model.user_id,
        model_app_id=node.model.app_id,
        parents=tuple(parent.node_id for parent in node.node_inputs),
        suppress_output=node.suppress_output,
        output_config=output_config_json(config) if config.ListFields() else {},
    )


def workflow_to_proto(
    app_id: str, user_id: str, record: WorkflowRecord, specs: Sequence[NodeSpec]
) -> resources_pb2.Workflow:
    return resources_pb2.Workflow(
        id=record.id,
        app_id=app_id,
        user_id=user_id,
        description=record.description,
        notes=record.notes,
        metadata=struct(record.metadata),
        created_at=timestamp(record.created_at),
        modified_at=timestamp(record.modified_at),
        nodes=[node_to_proto(spec) for spec in specs],
        visibility=resources_pb2.Visibility(gettable=PRIVATE),  # type: ignore[arg-type]
    )
