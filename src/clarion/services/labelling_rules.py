"""What the labelling handlers share: a task's settings checked, read back, and who may label
or review it.

Clarion runs labelling by people: each labeller takes inputs from the task's source (all of
the app's inputs, or one dataset's), labels them with annotations that carry the task id, and
submits; with manual review, a reviewer then approves or rejects each submission. The parts of
Clarifai's tasks that need its cloud (AI assistants, model or workflow workers, label orders,
consensus review, saved-search sources) are refused with a status that says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from clarifai_grpc.grpc.api import resources_pb2

from clarion.errors import InvalidArgument, NotFound, PermissionDenied
from clarion.services.base import app_pk, is_valid_id
from clarion.services.context import CallContext
from clarion.services.messages.labelling import task_spec
from clarion.services.messages.values import json_of
from clarion.storage.accounts import AppRecord
from clarion.storage.datasets import DatasetStore
from clarion.storage.labelling import LabellingStore, NextInputs, TaskRecord

Task = resources_pb2.Task
TaskWorker = resources_pb2.TaskWorker
TaskReview = resources_pb2.TaskReview
TaskInputSource = resources_pb2.TaskInputSource

# The fields a stored spec leaves out: the record keeps them, or they are computed.
_NOT_SETTINGS = ("id", "created_at", "modified_at", "status", "app_id", "user_id", "metrics")
_AI_ASSIST = "AI-assisted labelling, which Clarion does not run: leave it out"


@dataclass(frozen=True, slots=True)
class TaskRules:
    """Who labels and reviews a task, and which inputs it hands out."""

    workers: frozenset[str]
    reviewers: frozenset[str]
    manual_review: bool
    source: NextInputs


def rules_of(record: TaskRecord) -> TaskRules:
    task = task_spec(record)
    source = task.input_source
    return TaskRules(
        workers=frozenset(task.worker.user_ids),
        reviewers=frozenset(task.review.user_ids),
        manual_review=task.review.strategy == TaskReview.MANUAL,
        source=NextInputs(
            dataset_id=source.id if source.type == TaskInputSource.DATASET else "",
            input_ids=[source.id] if source.type == TaskInputSource.INPUT else [],
            exclusive=task.worker.strategy == TaskWorker.PARTITIONED,
        ),
    )


def checked_spec(task: Task, app: AppRecord, datasets: DatasetStore) -> dict[str, object]:
    """The task's settings as stored, after refusing what Clarion cannot run."""
    _check_cloud_only(task)
    _check_workers(task.worker)
    _check_review(task.review)
    _check_source(task.input_source, app, datasets)
    for concept in task.concepts:
        if concept.HasField("auto_annotation_config"):
            raise InvalidArgument(
                "Task concepts' auto_annotation_config needs Clarifai's AI-assisted "
                "labelling, which Clarion does not run: leave it out"
            )
    spec = Task()
    spec.CopyFrom(task)
    for name in _NOT_SETTINGS:
        spec.ClearField(name)  # type: ignore[arg-type]
    return json_of(spec)


def existing_task(labelling: LabellingStore, app: AppRecord, task_id: str) -> TaskRecord:
    found = labelling.get_task(app_pk(app), task_id) if task_id else None
    if found is None:
        raise NotFound("task", task_id)
    return found


def require_worker(ctx: CallContext, task: TaskRecord) -> str:
    """The caller's user id, when the task lists them among its labellers."""
    user_id = ctx.caller.user_id
    if user_id not in rules_of(task).workers:
        raise PermissionDenied(
            f"User '{user_id}' is not a labeller of task '{task.id}': the task's owner can "
            "add them to worker.user_ids with PatchTasks"
        )
    return user_id


def require_reviewer(ctx: CallContext, task: TaskRecord) -> str:
    """The caller's user id, when the task has manual review and lists them as a reviewer."""
    rules, user_id = rules_of(task), ctx.caller.user_id
    if not rules.manual_review:
        raise InvalidArgument(
            f"Task '{task.id}' has no manual review: its submissions are accepted as they come"
        )
    if user_id not in rules.reviewers:
        raise PermissionDenied(
            f"User '{user_id}' is not a reviewer of task '{task.id}': the task's owner can "
            "add them to review.user_ids with PatchTasks"
        )
    return user_id


def _check_cloud_only(task: Task) -> None:
    if task.HasField("ai_assistant"):
        raise InvalidArgument(f"Task ai_assistant needs {_AI_ASSIST}")
    if task.HasField("ai_assist_params"):
        raise InvalidArgument(f"Task ai_assist_params needs {_AI_ASSIST}")
    if task.label_order_id:
        raise InvalidArgument(
            "Label orders (Clarifai's managed labelling service) are not supported: "
            "leave label_order_id empty"
        )


def _check_workers(worker: resources_pb2.TaskWorker) -> None:
    if worker.strategy not in (
        TaskWorker.WORKER_STRATEGY_NOT_SET,
        TaskWorker.FULL,
        TaskWorker.PARTITIONED,
    ):
        raise InvalidArgument(
            "Task worker.strategy must be FULL (each labeller labels every input) or "
            "PARTITIONED (each input goes to one labeller); DYNAMIC is not supported"
        )
    if worker.HasField("partitioned_strategy_info") or worker.workers or worker.runner_selectors:
        raise InvalidArgument(
            "Clarion's task workers are people named in worker.user_ids: weighted partitions, "
            "model or workflow workers and runner selectors are not supported"
        )
    if not worker.user_ids:
        raise InvalidArgument("A task needs worker.user_ids: the users who label its inputs")
    for user_id in worker.user_ids:
        if not is_valid_id(user_id):
            raise InvalidArgument(f"Invalid user id '{user_id}' in worker.user_ids")


def _check_review(review: resources_pb2.TaskReview) -> None:
    if review.strategy == TaskReview.CONSENSUS or review.HasField("consensus_strategy_info"):
        raise InvalidArgument(
            "Consensus review is not supported: use MANUAL review with review.user_ids, or NONE"
        )
    if review.strategy == TaskReview.MANUAL and not review.user_ids:
        raise InvalidArgument("A task with MANUAL review needs review.user_ids: its reviewers")
    if review.strategy != TaskReview.MANUAL and review.user_ids:
        raise InvalidArgument("review.user_ids needs review.strategy MANUAL")


def _check_source(
    source: resources_pb2.TaskInputSource, app: AppRecord, datasets: DatasetStore
) -> None:
    kind = source.type
    if kind in (TaskInputSource.INPUT_SOURCE_TYPE_NOT_SET, TaskInputSource.ALL_INPUTS):
        return
    if kind == TaskInputSource.SAVED_SEARCH:
        raise InvalidArgument(
            "A saved search as a task's input source is not supported: put the inputs in a "
            "dataset and use input_source type DATASET"
        )
    if not source.id:
        raise InvalidArgument("A task's input_source of type DATASET or INPUT needs its id")
    if kind == TaskInputSource.DATASET and datasets.get_dataset(app_pk(app), source.id) is None:
        raise NotFound("dataset", source.id)
