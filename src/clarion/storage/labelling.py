"""Labelling tasks: the records and the ``LabellingStore`` protocol.

A task names who labels (workers), who reviews, and which inputs (all of the app's, or one
dataset's). An assignment is one input handed to one labeller, with where it stands:
``TASK_ASSIGNMENT_PENDING`` while being labelled, ``..._AWAITING_REVIEW`` once submitted, then
``..._SUCCESS`` or ``..._REJECTED`` after review. Annotations made for a task carry its id and
their labeller (``AnnotationRecord.task_id``, ``worker_user_id``); reviewing an assignment sets
the status of those annotations with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from clarion.storage.base import Page


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """``spec`` is the Task message as plain JSON, less its id, timestamps and status."""

    id: str
    spec: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    modified_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AssignmentRecord:
    id: str
    task_id: str
    input_id: str
    worker_user_id: str
    status_code: int
    created_at: datetime | None = None
    modified_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StatusCount:
    """How many of a task's items (assignments or annotations) a user has in one status."""

    user_id: str
    status_code: int
    count: int


@dataclass(frozen=True, slots=True)
class NextInputs:
    """Which inputs ``assign_next`` may hand out: those of ``dataset_id`` (all of the app's
    when empty), or only ``input_ids``; ``exclusive`` skips inputs another labeller has."""

    dataset_id: str = ""
    input_ids: Sequence[str] = ()
    exclusive: bool = False


class LabellingStore(Protocol):
    """Tasks of apps, by the app's ``pk``, and their assignments."""

    def create_tasks(self, app_pk: int, records: Sequence[TaskRecord]) -> list[TaskRecord]: ...
    def get_task(self, app_pk: int, task_id: str) -> TaskRecord | None: ...
    def list_tasks(
        self, app_pk: int, page: Page, *, ids: Sequence[str] = ()
    ) -> list[TaskRecord]: ...
    def update_task(self, app_pk: int, record: TaskRecord) -> TaskRecord: ...
    def delete_tasks(self, app_pk: int, ids: Sequence[str]) -> int: ...

    def assign_next(
        self,
        app_pk: int,
        task_id: str,
        worker_user_id: str,
        source: NextInputs,
        limit: int,
        new_ids: Sequence[str],
    ) -> list[AssignmentRecord]:
        """The labeller's pending assignments, topped up to ``limit`` with inputs nobody gave
        them yet (new assignments take their ids from ``new_ids``), oldest first."""
        ...

    def list_assignments(
        self,
        app_pk: int,
        task_id: str,
        *,
        ids: Sequence[str] = (),
        input_ids: Sequence[str] = (),
        worker_user_id: str = "",
        status_codes: Sequence[int] = (),
    ) -> list[AssignmentRecord]: ...

    def set_assignment_status(
        self, app_pk: int, task_id: str, ids: Sequence[str], status_code: int, annotation_code: int
    ) -> list[AssignmentRecord]:
        """Move assignments ``ids`` to ``status_code``, and the annotations their labellers
        made for the task on those inputs to ``annotation_code``."""
        ...

    def assignment_counts(self, app_pk: int, task_id: str) -> list[StatusCount]: ...
    def annotation_counts(self, app_pk: int, task_id: str) -> list[StatusCount]: ...
    def set_annotation_status(
        self,
        app_pk: int,
        task_id: str,
        user_ids: Sequence[str],
        from_codes: Sequence[int],
        to_code: int,
    ) -> int:
        """Set the status of the task's annotations by ``user_ids`` (all labellers when empty)
        now in one of ``from_codes`` (any when empty); how many changed."""
        ...

    def annotation_workers(self, app_pk: int, page: Page) -> list[str]:
        """The users who made annotations for the app's tasks, by user id."""
        ...
