"""Labelling tasks: their settings (Post/Get/List/Patch/DeleteTasks), their counts per
labeller, the labellers of an app, and the status of a task's annotations."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from clarifai_grpc.grpc.api import service_pb2
from clarifai_grpc.grpc.api.status import status_pb2

from clarion.codes import (
    ANNOTATION_AWAITING_REVIEW,
    ANNOTATION_PENDING,
    ANNOTATION_REVIEW_DENIED,
    ANNOTATION_SUCCESS,
)
from clarion.errors import InvalidArgument
from clarion.services.base import HandlerTable, app_pk, check_id, conflicts_as, require_app
from clarion.services.context import CallContext
from clarion.services.labelling_rules import checked_spec, existing_task, rules_of
from clarion.services.messages.labelling import counts_per_user, task_to_proto, worker
from clarion.services.paging import page_of
from clarion.services.patching import patch_action
from clarion.storage.base import Page
from clarion.storage.datasets import DatasetStore
from clarion.storage.labelling import LabellingStore, StatusCount, TaskRecord

# The statuses PatchAnnotationsStatus may set on a task's annotations.
_ANNOTATION_STATUSES = (
    ANNOTATION_PENDING,
    ANNOTATION_AWAITING_REVIEW,
    ANNOTATION_SUCCESS,
    ANNOTATION_REVIEW_DENIED,
)
# ListTasks filters by labeller or reviewer over this many tasks an app at most.
_MOST_TASKS_FILTERED = 10_000


class TasksService:
    def __init__(self, labelling: LabellingStore, datasets: DatasetStore) -> None:
        self._labelling = labelling
        self._datasets = datasets

    def handlers(self) -> HandlerTable:
        return {
            "PostTasks": self.post_tasks,
            "GetTask": self.get_task,
            "ListTasks": self.list_tasks,
            "PatchTasks": self.patch_tasks,
            "DeleteTasks": self.delete_tasks,
            "GetTaskAnnotationCount": self.get_task_annotation_count,
            "GetTaskInputCount": self.get_task_input_count,
            "ListAnnotationWorkers": self.list_annotation_workers,
            "PatchAnnotationsStatus": self.patch_annotations_status,
        }

    def post_tasks(
        self, request: service_pb2.PostTasksRequest, ctx: CallContext
    ) -> service_pb2.MultiTaskResponse:
        app = require_app(ctx)
        if not request.tasks:
            raise InvalidArgument("PostTasks needs at least one task")
        records = [
            TaskRecord(
                id=check_id("task", task.id) if task.id else uuid.uuid4().hex,
                spec=checked_spec(task, app, self._datasets),
            )
            for task in request.tasks
        ]
        with conflicts_as("task", ", ".join(record.id for record in records)):
            created = self._labelling.create_tasks(app_pk(app), records)
        return service_pb2.MultiTaskResponse(tasks=[task_to_proto(t, app) for t in created])

    def get_task(
        self, request: service_pb2.GetTaskRequest, ctx: CallContext
    ) -> service_pb2.SingleTaskResponse:
        app = require_app(ctx)
        _refuse_additional_fields(request.additional_fields)
        found = existing_task(self._labelling, app, request.task_id)
        return service_pb2.SingleTaskResponse(task=task_to_proto(found, app))

    def list_tasks(
        self, request: service_pb2.ListTasksRequest, ctx: CallContext
    ) -> service_pb2.MultiTaskResponse:
        app = require_app(ctx)
        _refuse_additional_fields(request.additional_fields)
        _refuse_unsupported_task_filters(request)
        page = page_of(request.page, request.per_page)
        people = set(request.worker_user_ids) | set(request.review_user_ids)
        if people:
            found = self._tasks_of(app_pk(app), request, page)
        else:
            found = self._labelling.list_tasks(app_pk(app), page, ids=list(request.ids))
        return service_pb2.MultiTaskResponse(tasks=[task_to_proto(t, app) for t in found])

    def patch_tasks(
        self, request: service_pb2.PatchTasksRequest, ctx: CallContext
    ) -> service_pb2.MultiTaskResponse:
        app = require_app(ctx)
        patch_action(request.action, default="overwrite", allowed=("overwrite",))
        if not request.tasks:
            raise InvalidArgument("PatchTasks needs at least one task")
        patched = []
        for task in request.tasks:
            current = existing_task(self._labelling, app, task.id)
            changed = TaskRecord(
                id=current.id,
                spec=checked_spec(task, app, self._datasets),
                created_at=current.created_at,
            )
            patched.append(self._labelling.update_task(app_pk(app), changed))
        return service_pb2.MultiTaskResponse(tasks=[task_to_proto(t, app) for t in patched])

    def delete_tasks(
        self, request: service_pb2.DeleteTasksRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        app = require_app(ctx)
        if not request.ids:
            raise InvalidArgument("DeleteTasks needs ids")
        for task_id in request.ids:
            existing_task(self._labelling, app, task_id)
        self._labelling.delete_tasks(app_pk(app), list(request.ids))
        return status_pb2.BaseResponse()

    def get_task_annotation_count(
        self, request: service_pb2.GetTaskCountRequest, ctx: CallContext
    ) -> service_pb2.SingleTaskCountResponse:
        return self._counts(request, ctx, self._labelling.annotation_counts)

    def get_task_input_count(
        self, request: service_pb2.GetTaskCountRequest, ctx: CallContext
    ) -> service_pb2.SingleTaskCountResponse:
        return self._counts(request, ctx, self._labelling.assignment_counts)

    def list_annotation_workers(
        self, request: service_pb2.ListAnnotationWorkersRequest, ctx: CallContext
    ) -> service_pb2.MultiWorkerResponse:
        app = require_app(ctx)
        _refuse_additional_fields(request.additional_fields)
        if request.trusted_only:
            raise InvalidArgument(
                "trusted_only is not supported: Clarion does not mark workers as trusted; "
                "leave it unset to list every labeller"
            )
        page = page_of(request.page, request.per_page)
        user_ids = self._labelling.annotation_workers(app_pk(app), page)
        return service_pb2.MultiWorkerResponse(workers=[worker(u) for u in user_ids])

    def patch_annotations_status(
        self, request: service_pb2.PatchAnnotationsStatusRequest, ctx: CallContext
    ) -> service_pb2.PatchAnnotationsStatusResponse:
        app = require_app(ctx)
        patch_action(request.action, default="overwrite", allowed=("overwrite",))
        task = existing_task(self._labelling, app, request.task_id)
        if request.status_code not in _ANNOTATION_STATUSES:
            raise InvalidArgument(
                "PatchAnnotationsStatus needs status_code ANNOTATION_SUCCESS, "
                "ANNOTATION_REVIEW_DENIED, ANNOTATION_AWAITING_REVIEW or ANNOTATION_PENDING"
            )
        updated = self._labelling.set_annotation_status(
            app_pk(app),
            task.id,
            list(request.user_ids),
            [int(code) for code in request.status_codes],
            int(request.status_code),
        )
        return service_pb2.PatchAnnotationsStatusResponse(
            user_ids=request.user_ids, updated_count=updated
        )

    def _counts(
        self,
        request: service_pb2.GetTaskCountRequest,
        ctx: CallContext,
        count: Callable[[int, str], list[StatusCount]],
    ) -> service_pb2.SingleTaskCountResponse:
        app = require_app(ctx)
        if request.model_version_ids or request.workflow_version_ids:
            raise InvalidArgument(
                "Clarion's task workers are people: counts by model_version_ids or "
                "workflow_version_ids are not supported; use user_ids"
            )
        task = existing_task(self._labelling, app, request.task_id)
        counts = count(app_pk(app), task.id)
        if request.user_ids:
            wanted = set(request.user_ids)
            counts = [c for c in counts if c.user_id in wanted]
        return service_pb2.SingleTaskCountResponse(
            app_id=app.id, task_id=task.id, counts=counts_per_user(counts)
        )

    def _tasks_of(
        self, app_pk_: int, request: service_pb2.ListTasksRequest, page: Page
    ) -> list[TaskRecord]:
        """The app's tasks that name one of the request's labellers or reviewers, paged."""
        every = self._labelling.list_tasks(
            app_pk_, Page(1, _MOST_TASKS_FILTERED), ids=list(request.ids)
        )
        workers, reviewers = set(request.worker_user_ids), set(request.review_user_ids)
        matching = [
            task
            for task in every
            if (workers and rules_of(task).workers & workers)
            or (reviewers and rules_of(task).reviewers & reviewers)
        ]
        return matching[page.offset : page.offset + page.per_page]


def _refuse_additional_fields(fields: object) -> None:
    if fields:
        raise InvalidArgument(
            "additional_fields is not supported for tasks: Clarion computes no task metrics; "
            "use GetTaskInputCount and GetTaskAnnotationCount"
        )


def _refuse_unsupported_task_filters(request: service_pb2.ListTasksRequest) -> None:
    if request.label_order_ids or request.including_label_order_tasks:
        raise InvalidArgument("Label orders are not supported, so no task belongs to one")
    if request.input_source_type or request.input_source_ids or request.worker_ids:
        raise InvalidArgument(
            "ListTasks filters by ids, worker_user_ids and review_user_ids; input_source and "
            "worker_ids filters are not supported"
        )
