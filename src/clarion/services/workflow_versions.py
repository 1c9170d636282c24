"""Workflow versions: ``ListWorkflowVersions``, ``GetWorkflowVersion``,
``PatchWorkflowVersions``, ``DeleteWorkflowVersions``, ``PostWorkflowVersionsPublish`` and
``PostWorkflowVersionsUnPublish``.

A version is made each time a workflow's nodes change (``PostWorkflows``, ``PatchWorkflows``
with nodes); its nodes never change after. The newest is the one the workflow runs, so it
cannot be deleted; ``PostWorkflowResults`` with ``version_id`` runs an older one. Publishing
marks a version PUBLIC and needs the app to be public (others reach a workflow through its
app); access stays app-wide. The public workflows of ``clarifai/main`` are built in and have
no stored versions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2

from clarion.errors import InvalidArgument, WorkflowInvalidArgument, WorkflowNotFound
from clarion.inference.workflow import PUBLIC_WORKFLOWS
from clarion.services.base import HandlerTable, app_pk, require_app
from clarion.services.context import CallContext
from clarion.services.licenses import checked_license
from clarion.services.messages.values import PRIVATE, PUBLIC, struct_to_dict
from clarion.services.messages.workflows import workflow_version_to_proto
from clarion.services.paging import page_of
from clarion.services.patching import Action, patch_action, patched_metadata
from clarion.storage.accounts import AppRecord
from clarion.storage.models import ModelStore
from clarion.storage.workflow_versions import WorkflowVersionRecord, WorkflowVersionStore

# The fields of a WorkflowVersion that PatchWorkflowVersions changes.
_PATCHABLE = frozenset({"id", "description", "metadata", "license", "visibility", "workflow_id"})


class WorkflowVersionsService:
    def __init__(self, versions: WorkflowVersionStore, workflows: ModelStore) -> None:
        self._versions = versions
        self._workflows = workflows

    def handlers(self) -> HandlerTable:
        return {
            "ListWorkflowVersions": self.list_workflow_versions,
            "GetWorkflowVersion": self.get_workflow_version,
            "PatchWorkflowVersions": self.patch_workflow_versions,
            "DeleteWorkflowVersions": self.delete_workflow_versions,
            "PostWorkflowVersionsPublish": self.post_workflow_versions_publish,
            "PostWorkflowVersionsUnPublish": self.post_workflow_versions_unpublish,
        }

    def list_workflow_versions(
        self, request: service_pb2.ListWorkflowVersionsRequest, ctx: CallContext
    ) -> service_pb2.MultiWorkflowVersionResponse:
        """The workflow's versions, newest (the one it runs) first."""
        app = self._workflow_app(ctx, request.workflow_id)
        page = page_of(request.page, request.per_page)
        found = self._versions.list_versions(app_pk(app), request.workflow_id, page)
        return service_pb2.MultiWorkflowVersionResponse(
            workflow_versions=[workflow_version_to_proto(app, record) for record in found]
        )

    def get_workflow_version(
        self, request: service_pb2.GetWorkflowVersionRequest, ctx: CallContext
    ) -> service_pb2.SingleWorkflowVersionResponse:
        app = self._workflow_app(ctx, request.workflow_id)
        record = self._version(app, request.workflow_id, request.workflow_version_id)
        return service_pb2.SingleWorkflowVersionResponse(
            workflow_version=workflow_version_to_proto(app, record)
        )

    def patch_workflow_versions(
        self, request: service_pb2.PatchWorkflowVersionsRequest, ctx: CallContext
    ) -> service_pb2.MultiWorkflowVersionResponse:
        """Each version's description, license, metadata (by ``action``) and visibility; all
        are checked before any is stored."""
        app = self._workflow_app(ctx, request.workflow_id)
        action = patch_action(request.action, default="merge")
        if not request.workflow_versions:
            raise InvalidArgument(
                "Set 'workflow_versions' to the versions to patch, each with 'id'"
            )
        patched = [
            self._patched(app, request.workflow_id, patch, action)
            for patch in request.workflow_versions
        ]
        for record in patched:
            self._versions.update_version(app_pk(app), record)
        stored = [self._version(app, request.workflow_id, record.id) for record in patched]
        return service_pb2.MultiWorkflowVersionResponse(
            workflow_versions=[workflow_version_to_proto(app, record) for record in stored]
        )

    def _patched(
        self, app: AppRecord, workflow_id: str, patch: resources_pb2.WorkflowVersion, action: Action
    ) -> WorkflowVersionRecord:
        _check_patchable(patch)
        record = self._version(app, workflow_id, patch.id)
        if patch.description:
            record = replace(record, description=patch.description)
        if patch.HasField("metadata"):
            merged = patched_metadata(record.metadata, struct_to_dict(patch.metadata), action)
            record = replace(record, metadata=merged)
        if patch.license:
            record = replace(record, license=checked_license(patch.license))
        if patch.HasField("visibility") and patch.visibility.gettable:
            visibility = int(patch.visibility.gettable)
            _check_publishable(app, visibility)
            record = replace(record, visibility=visibility)
        return record

    def delete_workflow_versions(
        self, request: service_pb2.DeleteWorkflowVersionsRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        app = self._workflow_app(ctx, request.workflow_id)
        ids = list(dict.fromkeys(request.workflow_version_ids))
        if not ids:
            raise InvalidArgument("Set 'workflow_version_ids' to the versions to delete")
        for version_id in ids:
            self._version(app, request.workflow_id, version_id)
        if self._versions.newest_id(app_pk(app), request.workflow_id) in ids:
            raise WorkflowInvalidArgument(
                f"The newest version of workflow '{request.workflow_id}' is the one it runs and "
                "cannot be deleted: patch the workflow's nodes (a new version), or delete the "
                "workflow"
            )
        self._versions.delete_versions(app_pk(app), request.workflow_id, ids)
        return status_pb2.BaseResponse()

    def post_workflow_versions_publish(
        self, request: service_pb2.PostWorkflowVersionsPublishRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        ids = [entry.version_id for entry in request.publications]
        self._set_visibility(ctx, request.workflow_id, ids, PUBLIC)
        return status_pb2.BaseResponse()

    def post_workflow_versions_unpublish(
        self, request: service_pb2.PostWorkflowVersionsUnPublishRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        ids = [entry.version_id for entry in request.publications]
        self._set_visibility(ctx, request.workflow_id, ids, PRIVATE)
        return status_pb2.BaseResponse()

    def _set_visibility(
        self, ctx: CallContext, workflow_id: str, ids: Sequence[str], visibility: int
    ) -> None:
        app = self._workflow_app(ctx, workflow_id)
        if not ids:
            raise InvalidArgument("Set 'publications' to the versions, each with 'version_id'")
        _check_publishable(app, visibility)
        records = [self._version(app, workflow_id, version_id) for version_id in ids]
        for record in records:
            self._versions.update_version(app_pk(app), replace(record, visibility=visibility))

    def _workflow_app(self, ctx: CallContext, workflow_id: str) -> AppRecord:
        """The app, once the workflow is known to be one of its stored workflows."""
        app = require_app(ctx)
        if self._workflows.get_workflow(app_pk(app), workflow_id) is not None:
            return app
        if workflow_id in PUBLIC_WORKFLOWS:
            raise WorkflowInvalidArgument(
                f"Workflow '{workflow_id}' is public and built in: it has no stored versions"
            )
        raise WorkflowNotFound("workflow", workflow_id)

    def _version(self, app: AppRecord, workflow_id: str, version_id: str) -> WorkflowVersionRecord:
        if not version_id:
            raise InvalidArgument("Each workflow version needs its id")
        record = self._versions.get_version(app_pk(app), workflow_id, version_id)
        if record is None:
            raise WorkflowNotFound("workflow version", f"{workflow_id}/{version_id}")
        return record


def _check_publishable(app: AppRecord, visibility: int) -> None:
    if visibility not in (PRIVATE, PUBLIC):
        raise InvalidArgument(f"Unknown visibility {visibility}: use PRIVATE (10) or PUBLIC (50)")
    if visibility == PUBLIC and app.visibility != PUBLIC:
        raise WorkflowInvalidArgument(
            f"App '{app.id}' is private, so no one else could reach a published version: "
            "make the app public first (PatchApps with visibility.gettable PUBLIC)"
        )


def _check_patchable(patch: resources_pb2.WorkflowVersion) -> None:
    others = sorted(
        descriptor.name for descriptor, _ in patch.ListFields() if descriptor.name not in _PATCHABLE
    )
    if others:
        raise WorkflowInvalidArgument(
            f"PatchWorkflowVersions changes description, license, metadata and visibility, "
            f"not {', '.join(others)}: a version's nodes are fixed (PatchWorkflows with new "
            "nodes makes a new version)"
        )
