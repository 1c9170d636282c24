"""Labelling work: a labeller takes the next inputs of a task (ListNextTaskAssignments,
PutTaskAssignments LABEL_START), submits them once labelled (LABEL_SUBMIT), and a reviewer
takes the submissions (REVIEW_START) and approves, rejects or sends them back
(REVIEW_APPROVE, REVIEW_REJECT, REVIEW_REQUEST_CHANGES).

Submitting or reviewing an assignment sets the status of the annotations its labeller made
for the task on that input, so a search or an export can tell reviewed labels apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from clarifai_grpc.grpc.api import resources_pb2, service_pb2

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
from clarion.errors import InvalidArgument, NotFound
from clarion.services.base import HandlerTable, app_pk, require_app
from clarion.services.context import CallContext
from clarion.services.hosted import HostedUrls
from clarion.services.labelling_rules import (
    existing_task,
    require_reviewer,
    require_worker,
    rules_of,
)
from clarion.services.messages.data import input_to_proto
from clarion.services.messages.labelling import assignment_to_proto
from clarion.storage.accounts import AppRecord
from clarion.storage.inputs import InputStore
from clarion.storage.labelling import AssignmentRecord, LabellingStore, TaskRecord

Action = service_pb2.PutTaskAssignmentsRequestAction
# How many inputs a labeller holds at once: the batch a labelling screen shows.
BATCH_SIZE = 10
# A review's outcome: the assignment's new status and its annotations' new status.
_REVIEW_OUTCOMES = {
    service_pb2.REVIEW_APPROVE: (TASK_ASSIGNMENT_SUCCESS, ANNOTATION_SUCCESS),
    service_pb2.REVIEW_REJECT: (TASK_ASSIGNMENT_REJECTED, ANNOTATION_REVIEW_DENIED),
    service_pb2.REVIEW_REQUEST_CHANGES: (TASK_ASSIGNMENT_PENDING, ANNOTATION_PENDING),
}


class TaskAssignmentsService:
    def __init__(self, labelling: LabellingStore, inputs: InputStore, hosted: HostedUrls) -> None:
        self._labelling = labelling
        self._inputs = inputs
        self._hosted = hosted

    def handlers(self) -> HandlerTable:
        return {
            "ListNextTaskAssignments": self.list_next_task_assignments,
            "PutTaskAssignments": self.put_task_assignments,
        }

    def list_next_task_assignments(
        self, request: service_pb2.ListNextTaskAssignmentsRequest, ctx: CallContext
    ) -> service_pb2.MultiInputResponse:
        app = require_app(ctx)
        task = existing_task(self._labelling, app, request.task_id)
        assigned = self._next(app, task, require_worker(ctx, task))
        return service_pb2.MultiInputResponse(
            inputs=[self._input(app, record.input_id) for record in assigned]
        )

    def put_task_assignments(
        self, request: service_pb2.PutTaskAssignmentsRequest, ctx: CallContext
    ) -> service_pb2.MultiTaskAssignmentResponse:
        app = require_app(ctx)
        task = existing_task(self._labelling, app, request.task_id)
        action = request.action
        if action == service_pb2.LABEL_START:
            done = self._next(app, task, require_worker(ctx, task))
        elif action == service_pb2.LABEL_SUBMIT:
            done = self._submit(app, task, require_worker(ctx, task), request)
        elif action == service_pb2.REVIEW_START:
            require_reviewer(ctx, task)
            done = self._awaiting_review(app, task, request.review_start_config.workers)
        elif action in _REVIEW_OUTCOMES:
            require_reviewer(ctx, task)
            done = self._review(app, task, request)
        else:
            raise InvalidArgument(
                "PutTaskAssignments needs an action: LABEL_START, LABEL_SUBMIT, REVIEW_START, "
                "REVIEW_APPROVE, REVIEW_REJECT or REVIEW_REQUEST_CHANGES"
            )
        return service_pb2.MultiTaskAssignmentResponse(
            task_assignments=[
                assignment_to_proto(record, self._input(app, record.input_id)) for record in done
            ]
        )

    def _next(self, app: AppRecord, task: TaskRecord, user_id: str) -> list[AssignmentRecord]:
        new_ids = [uuid.uuid4().hex for _ in range(BATCH_SIZE)]
        source = rules_of(task).source
        return self._labelling.assign_next(
            app_pk(app), task.id, user_id, source, BATCH_SIZE, new_ids
        )

    def _submit(
        self,
        app: AppRecord,
        task: TaskRecord,
        user_id: str,
        request: service_pb2.PutTaskAssignmentsRequest,
    ) -> list[AssignmentRecord]:
        ids = [a.id for a in request.label_submit_config.task_assignments]
        if not ids and not request.input_id:
            raise InvalidArgument(
                "LABEL_SUBMIT needs label_submit_config.task_assignments (their ids) or input_id"
            )
        found = self._labelling.list_assignments(
            app_pk(app),
            task.id,
            ids=ids,
            input_ids=[request.input_id] if request.input_id else [],
            worker_user_id=user_id,
            status_codes=[TASK_ASSIGNMENT_PENDING],
        )
        _check_all_found(ids, found, "pending assignments of yours")
        if not found:
            raise NotFound("task assignment", request.input_id or ", ".join(ids))
        manual = rules_of(task).manual_review
        status = TASK_ASSIGNMENT_AWAITING_REVIEW if manual else TASK_ASSIGNMENT_SUCCESS
        annotations = ANNOTATION_AWAITING_REVIEW if manual else ANNOTATION_SUCCESS
        return self._labelling.set_assignment_status(
            app_pk(app), task.id, [a.id for a in found], status, annotations
        )

    def _awaiting_review(
        self, app: AppRecord, task: TaskRecord, workers: Sequence[resources_pb2.Worker]
    ) -> list[AssignmentRecord]:
        found = self._labelling.list_assignments(
            app_pk(app), task.id, status_codes=[TASK_ASSIGNMENT_AWAITING_REVIEW]
        )
        wanted = {w.user.id for w in workers if w.user.id}
        if wanted:
            found = [record for record in found if record.worker_user_id in wanted]
        return found[:BATCH_SIZE]

    def _review(
        self, app: AppRecord, task: TaskRecord, request: service_pb2.PutTaskAssignmentsRequest
    ) -> list[AssignmentRecord]:
        ids, workers = _review_targets(request)
        if not ids and not workers and not request.input_id:
            raise InvalidArgument(
                "A review needs the task_assignments it decides (their ids), workers, or input_id"
            )
        found = self._labelling.list_assignments(
            app_pk(app),
            task.id,
            ids=ids,
            input_ids=[request.input_id] if request.input_id else [],
            status_codes=[TASK_ASSIGNMENT_AWAITING_REVIEW],
        )
        _check_all_found(ids, found, "assignments awaiting review")
        if workers:
            found = [record for record in found if record.worker_user_id in workers]
        status, annotations = _REVIEW_OUTCOMES[request.action]
        return self._labelling.set_assignment_status(
            app_pk(app), task.id, [a.id for a in found], status, annotations
        )

    def _input(self, app: AppRecord, input_id: str) -> resources_pb2.Input:
        record = self._inputs.get_input(app_pk(app), input_id)
        if record is None:  # deleted since: the assignment went with it
            return resources_pb2.Input(id=input_id)
        return input_to_proto(record, hosted=self._hosted.for_input(app, record))


def _review_targets(
    request: service_pb2.PutTaskAssignmentsRequest,
) -> tuple[list[str], set[str]]:
    """The assignment ids and labellers' user ids the review action's config names."""
    if request.action == service_pb2.REVIEW_APPROVE:
        config: (
            service_pb2.ReviewApproveConfig
            | service_pb2.ReviewRejectConfig
            | service_pb2.ReviewRequestChangesConfig
        ) = request.review_approve_config
    elif request.action == service_pb2.REVIEW_REJECT:
        config = request.review_reject_config
    else:
        config = request.review_request_changes_config
    ids = [assignment.id for assignment in config.task_assignments]
    return ids, {w.user.id for w in config.workers if w.user.id}


def _check_all_found(ids: Sequence[str], found: Sequence[AssignmentRecord], what: str) -> None:
    missing = sorted(set(ids) - {record.id for record in found})
    if missing:
        raise InvalidArgument(
            f"Task assignments {', '.join(missing)} are not {what}: list them with "
            "PutTaskAssignments (LABEL_START or REVIEW_START) first"
        )
