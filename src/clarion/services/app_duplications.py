"""Copies of apps: ``PostAppDuplications``, ``ListAppDuplications``, ``GetAppDuplication``.

A duplication creates the new app at once (so a taken id is refused in the answer) and queues
a job that copies the chosen resources of the source app into it (``clarion.storage.
app_copies`` says what, exactly); its status goes from APP_DUPLICATION_PENDING to
APP_DUPLICATION_SUCCESS (with what was copied in ``progress``) or APP_DUPLICATION_FAILED.
Without ``filter`` everything is copied. A copy is always a new app of the caller's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from clarifai_grpc.grpc.api import resources_pb2, service_pb2

from clarion.errors import InvalidArgument, NotFound
from clarion.inference.workflow import PUBLIC_WORKFLOWS
from clarion.services.base import (
    HandlerTable,
    check_id,
    conflicts_as,
    require_app,
    require_own_user,
)
from clarion.services.context import CallContext
from clarion.services.messages.accounts import duplication_to_proto
from clarion.services.messages.values import PRIVATE
from clarion.services.paging import page_of
from clarion.services.tokens import new_token
from clarion.storage.accounts import AppRecord
from clarion.storage.app_copies import COPY_KINDS, AppCopyStore


class AppDuplicationsService:
    def __init__(self, copies: AppCopyStore, wake_workers: Callable[[], None]) -> None:
        self._copies = copies
        self._wake_workers = wake_workers

    def handlers(self) -> HandlerTable:
        return {
            "PostAppDuplications": self.post_app_duplications,
            "ListAppDuplications": self.list_app_duplications,
            "GetAppDuplication": self.get_app_duplication,
        }

    def post_app_duplications(
        self, request: service_pb2.PostAppDuplicationsRequest, ctx: CallContext
    ) -> service_pb2.MultiAppDuplicationsResponse:
        user_id = require_own_user(ctx)
        source = require_app(ctx)
        if len(request.app_duplications) != 1:
            raise InvalidArgument(
                "PostAppDuplications makes one copy at a time: send one entry in "
                f"'app_duplications', got {len(request.app_duplications)}"
            )
        asked = request.app_duplications[0]
        copy = _chosen_kinds(asked)
        destination = _destination(user_id, source, asked, copy)
        with conflicts_as("app", destination.id):
            record = self._copies.start(user_id, source.id, destination, copy)
        self._wake_workers()
        return service_pb2.MultiAppDuplicationsResponse(
            app_duplications=[duplication_to_proto(user_id, record)]
        )

    def list_app_duplications(
        self, request: service_pb2.ListAppDuplicationsRequest, ctx: CallContext
    ) -> service_pb2.MultiAppDuplicationsResponse:
        """The caller's duplications, newest first."""
        user_id = require_own_user(ctx)
        found = self._copies.list(user_id, page_of(request.page, request.per_page))
        return service_pb2.MultiAppDuplicationsResponse(
            app_duplications=[duplication_to_proto(user_id, record) for record in found]
        )

    def get_app_duplication(
        self, request: service_pb2.GetAppDuplicationRequest, ctx: CallContext
    ) -> service_pb2.SingleAppDuplicationResponse:
        user_id = require_own_user(ctx)
        record = self._copies.get(user_id, request.app_duplication_id)
        if record is None:
            raise NotFound("app duplication", request.app_duplication_id)
        return service_pb2.SingleAppDuplicationResponse(
            app_duplication=duplication_to_proto(user_id, record)
        )


def _chosen_kinds(asked: resources_pb2.AppDuplication) -> list[str]:
    """What to copy: everything without a filter, else what the filter sets."""
    if not asked.HasField("filter"):
        return list(COPY_KINDS)
    chosen = [kind for kind in COPY_KINDS if getattr(asked.filter, f"copy_{kind}")]
    if not chosen:
        raise InvalidArgument("The filter copies nothing: set at least one copy_* field")
    if "annotations" in chosen and "inputs" not in chosen:
        raise InvalidArgument("Annotations belong to inputs: set copy_inputs with copy_annotations")
    if "workflows" in chosen and "models" not in chosen:
        raise InvalidArgument(
            "Workflows may run the app's models: set copy_models with copy_workflows"
        )
    return chosen


def _destination(
    user_id: str, source: AppRecord, asked: resources_pb2.AppDuplication, copy: Sequence[str]
) -> AppRecord:
    """The new app: the source's settings under the id and name asked for."""
    if asked.existing_app_id:
        raise InvalidArgument(
            "Clarion copies into a new app only: set new_app_id (or destination_app.id), not "
            "existing_app_id"
        )
    given = asked.destination_app.id or asked.new_app_id
    app_id = check_id("app", given) if given else new_token()
    base = source.default_workflow_id
    # The copy keeps the base workflow only where it has it: copied, or public.
    keep_base = not base or "workflows" in copy or base in PUBLIC_WORKFLOWS
    return AppRecord(
        user_id=user_id,
        id=app_id,
        name=asked.destination_app.name or asked.new_app_name or app_id,
        description=asked.destination_app.description or source.description,
        default_language=source.default_language,
        default_workflow_id=base if keep_base else "",
        visibility=PRIVATE,
        notes=source.notes,
        metadata=dict(source.metadata),
    )
