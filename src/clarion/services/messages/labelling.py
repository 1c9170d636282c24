"""Labelling tasks, their assignments and their per-labeller counts."""

from __future__ import annotations

from collections.abc import Iterable

from clarifai_grpc.grpc.api import resources_pb2
from google.protobuf import json_format

from clarion.codes import (
    ANNOTATION_AWAITING_REVIEW,
    ANNOTATION_PENDING,
    ANNOTATION_REVIEW_DENIED,
    ANNOTATION_SUCCESS,
    TASK_ASSIGNMENT_AWAITING_REVIEW,
    TASK_ASSIGNMENT_PENDING,
    TASK_ASSIGNMENT_REJECTED,
    TASK_ASSIGNMENT_SUCCESS,
)
from clarion.services.messages.values import status, timestamp
from clarion.storage.accounts import AppRecord
from clarion.storage.labelling import AssignmentRecord, StatusCount, TaskRecord

# Which TaskStatusCountPerUser field counts a status, for assignments and for annotations.
_COUNT_FIELDS = {
    TASK_ASSIGNMENT_PENDING: "pending",
    TASK_ASSIGNMENT_AWAITING_REVIEW: "awaiting_review",
    TASK_ASSIGNMENT_SUCCESS: "success",
    TASK_ASSIGNMENT_REJECTED: "review_denied",
    ANNOTATION_PENDING: "pending",
    ANNOTATION_AWAITING_REVIEW: "awaiting_review",
    ANNOTATION_SUCCESS: "success",
    ANNOTATION_REVIEW_DENIED: "review_denied",
}


def task_spec(record: TaskRecord) -> resources_pb2.Task:
    """The task's settings as stored, without its id, timestamps or owner."""
    message = resources_pb2.Task()
    json_format.ParseDict(dict(record.spec), message, ignore_unknown_fields=True)
    return message


def task_to_proto(record: TaskRecord, app: AppRecord) -> resources_pb2.Task:
    message = task_spec(record)
    message.id = record.id
    message.app_id = app.id
    message.user_id = app.user_id
    for field, when in (("created_at", record.created_at), ("modified_at", record.modified_at)):
        if (stamp := timestamp(when)) is not None:
            getattr(message, field).CopyFrom(stamp)
    return message


def assignment_to_proto(
    record: AssignmentRecord, input_message: resources_pb2.Input | None = None
) -> resources_pb2.TaskAssignment:
    return resources_pb2.TaskAssignment(
        id=record.id,
        worker=worker(record.worker_user_id),
        input=input_message or resources_pb2.Input(id=record.input_id),
        status=status(record.status_code),
        created_at=timestamp(record.created_at),
        modified_at=timestamp(record.modified_at),
    )


def worker(user_id: str) -> resources_pb2.Worker:
    return resources_pb2.Worker(user=resources_pb2.User(id=user_id))


def counts_per_user(counts: Iterable[StatusCount]) -> list[resources_pb2.TaskStatusCountPerUser]:
    """One TaskStatusCountPerUser a user, in user id order."""
    per_user: dict[str, resources_pb2.TaskStatusCountPerUser] = {}
    for count in counts:
        entry = per_user.setdefault(
            count.user_id,
            resources_pb2.TaskStatusCountPerUser(
                user_id=count.user_id, worker=worker(count.user_id)
            ),
        )
        field = _COUNT_FIELDS.get(count.status_code)
        if field is not None:
            setattr(entry, field, getattr(entry, field) + count.count)
    return [per_user[user_id] for user_id in sorted(per_user)]
