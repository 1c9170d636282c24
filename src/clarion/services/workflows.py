"""Workflows: create, read, patch and delete them, and run them (``PostWorkflowResults``).

A workflow's nodes name models by id (and version): the app's custom models, or built-in
ones. ``node_inputs`` must form a DAG of at most 20 nodes; a node whose parent finds regions
runs on each region (a classifier after a face detector classifies each face). The public
``General`` workflow of ``clarifai/main`` is reachable from every app, and an app's base
workflow (``default_workflow_id``) is any of these.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import replace
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2

from clarion.blobs.base import BlobStore
from clarion.errors import (
    InputRejected,
    InvalidArgument,
    WorkflowInvalidArgument,
    WorkflowNotFound,
)
from clarion.inference.workflow import (
    PUBLIC_APP,
    PUBLIC_USER,
    PUBLIC_WORKFLOWS,
    NodeResult,
    NodeSpec,
    graph_order,
    run_graph,
)
from clarion.runtime.model_resolver import ModelResolver, ResolvedNode
from clarion.services.base import (
    HandlerTable,
    app_pk,
    check_workflow_id,
    conflicts_as,
    require_app,
)
from clarion.services.batches import WORKFLOW_RESULTS
from clarion.services.context import CallContext
from clarion.services.messages.frames import frames_result
from clarion.services.messages.outputs import overall_status
from clarion.services.messages.values import struct_to_dict
from clarion.services.messages.workflows import (
    node_of,
    public_workflow_to_proto,
    stored_workflow_to_proto,
    workflow_result,
)
from clarion.services.paging import page_of
from clarion.services.patching import Action, patch_action, patched_metadata
from clarion.services.reading import InputLoader, InputReader
from clarion.services.video_predict import VideoPredictions
from clarion.storage.accounts import AppRecord
from clarion.storage.inputs import InputStore
from clarion.storage.models import ModelStore, WorkflowRecord
from clarion.storage.workflow_versions import WorkflowVersionStore


class WorkflowsService:
    """Workflow resources and ``PostWorkflowResults``."""

    def __init__(
        self,
        store: ModelStore,
        resolver: ModelResolver,
        reader: InputReader,
        data: InputStore,
        blobs: BlobStore,
        executor: Executor,
        videos: VideoPredictions | None = None,
        versions: WorkflowVersionStore | None = None,
    ) -> None:
        self._videos = videos
        self._versions = versions
        self._store = store
        self._resolver = resolver
        self._loader = InputLoader(reader, data, blobs)
        self._executor = executor

    def handlers(self) -> HandlerTable:
        return {
            "PostWorkflows": self.post_workflows,
            "GetWorkflow": self.get_workflow,
            "ListWorkflows": self.list_workflows,
            "PatchWorkflows": self.patch_workflows,
            "DeleteWorkflow": self.delete_workflow,
            "DeleteWorkflows": self.delete_workflows,
            "PostWorkflowResults": self.post_workflow_results,
        }

    # CRUD

    def post_workflows(
        self, request: service_pb2.PostWorkflowsRequest, ctx: CallContext
    ) -> service_pb2.MultiWorkflowResponse:
        app = require_app(ctx)
        if not request.workflows:
            raise InvalidArgument("PostWorkflows needs at least one workflow in 'workflows'")
        records = [self._new_workflow(app, workflow) for workflow in request.workflows]
        ids = [record.id for record in records]
        if len(set(ids)) != len(ids):
            raise WorkflowInvalidArgument("A workflow id appears twice in one request")
        with conflicts_as("workflow", ", ".join(ids)):
            created = self._store.create_workflows(app_pk(app), records)
        return service_pb2.MultiWorkflowResponse(
            workflows=[stored_workflow_to_proto(app, record) for record in created]
        )

    def _new_workflow(self, app: AppRecord, workflow: resources_pb2.Workflow) -> WorkflowRecord:
        workflow_id = check_workflow_id(workflow.id)
        specs = self._checked_specs(app, workflow.nodes)
        return WorkflowRecord(
            id=workflow_id,
            nodes=tuple(spec.to_json() for spec in specs),
            description=workflow.description,
            notes=workflow.notes,
            metadata=struct_to_dict(workflow.metadata),
        )

    def _checked_specs(
        self, app: AppRecord, nodes: Sequence[resources_pb2.WorkflowNode]
    ) -> list[NodeSpec]:
        """The nodes as specs, checked: a DAG of known models this app may use."""
        specs = [_owned(app, node_of(node)) for node in nodes]
        graph_order(specs)
        for spec in specs:
            self._resolver.check_model(app_pk(app), spec)
        return specs

    def get_workflow(
        self, request: service_pb2.GetWorkflowRequest, ctx: CallContext
    ) -> service_pb2.SingleWorkflowResponse:
        app = require_app(ctx)
        message = self._proto(app, request.workflow_id)
        newest = self._versions.newest_id(app_pk(app), message.id) if self._versions else None
        if newest is not None:  # the version the workflow runs
            message.version.CopyFrom(
                resources_pb2.WorkflowVersion(id=newest, workflow_id=message.id)
            )
        return service_pb2.SingleWorkflowResponse(workflow=message)

    def list_workflows(
        self, request: service_pb2.ListWorkflowsRequest, ctx: CallContext
    ) -> service_pb2.MultiWorkflowResponse:
        """The app's workflows, newest first; ``clarifai/main`` lists the public ones."""
        app = require_app(ctx)
        page = page_of(request.page, request.per_page)
        if _is_public(app):
            listed = [public_workflow_to_proto(workflow_id) for workflow_id in PUBLIC_WORKFLOWS]
            stored = self._store.list_workflows(app_pk(app), page_of(1, 1000))
            listed += [stored_workflow_to_proto(app, record) for record in stored]
            return service_pb2.MultiWorkflowResponse(
                workflows=listed[page.offset : page.offset + page.per_page]
            )
        stored = self._store.list_workflows(app_pk(app), page)
        return service_pb2.MultiWorkflowResponse(
            workflows=[stored_workflow_to_proto(app, record) for record in stored]
        )

    def patch_workflows(
        self, request: service_pb2.PatchWorkflowsRequest, ctx: CallContext
    ) -> service_pb2.MultiWorkflowResponse:
        """Given nodes replace the workflow's (checked again); metadata follows ``action``."""
        app = require_app(ctx)
        action = patch_action(request.action, default="overwrite")
        patched = [
            self._store.update_workflow(app_pk(app), self._patched(app, patch, action))
            for patch in request.workflows
        ]
        return service_pb2.MultiWorkflowResponse(
            workflows=[stored_workflow_to_proto(app, record) for record in patched]
        )

    def _patched(
        self, app: AppRecord, patch: resources_pb2.Workflow, action: Action
    ) -> WorkflowRecord:
        record = self._stored(app, patch.id)
        changes: dict[str, Any] = {
            name: getattr(patch, name) for name in ("description", "notes") if getattr(patch, name)
        }
        if patch.nodes:
            specs = self._checked_specs(app, patch.nodes)
            changes["nodes"] = tuple(spec.to_json() for spec in specs)
        if patch.HasField("metadata"):
            changes["metadata"] = patched_metadata(
                record.metadata, struct_to_dict(patch.metadata), action
            )
        return replace(record, **changes)

    def delete_workflow(
        self, request: service_pb2.DeleteWorkflowRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        app = require_app(ctx)
        self._deletable(app, [request.workflow_id])
        self._store.delete_workflows(app_pk(app), [request.workflow_id])
        return status_pb2.BaseResponse()

    def delete_workflows(
        self, request: service_pb2.DeleteWorkflowsRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        app = require_app(ctx)
        if request.delete_all:
            self._store.delete_workflows(app_pk(app), None)
            return status_pb2.BaseResponse()
        if not request.ids:
            raise InvalidArgument("Set 'ids' (or 'delete_all') to say which workflows to delete")
        self._deletable(app, list(request.ids))
        self._store.delete_workflows(app_pk(app), list(request.ids))
        return status_pb2.BaseResponse()

    def _deletable(self, app: AppRecord, ids: Sequence[str]) -> None:
        for workflow_id in ids:
            if self._store.get_workflow(app_pk(app), workflow_id) is not None:
                continue
            if workflow_id in PUBLIC_WORKFLOWS:
                raise WorkflowInvalidArgument(
                    f"Workflow '{workflow_id}' is public and built in: it cannot be deleted"
                )
            raise WorkflowNotFound("workflow", workflow_id)

    def _stored(self, app: AppRecord, workflow_id: str) -> WorkflowRecord:
        record = self._store.get_workflow(app_pk(app), workflow_id) if workflow_id else None
        if record is None:
            raise WorkflowNotFound("workflow", workflow_id)
        return record

    def _proto(self, app: AppRecord, workflow_id: str) -> resources_pb2.Workflow:
        record = self._store.get_workflow(app_pk(app), workflow_id) if workflow_id else None
        if record is not None:
            return stored_workflow_to_proto(app, record)
        if workflow_id in PUBLIC_WORKFLOWS:
            return public_workflow_to_proto(workflow_id)
        raise WorkflowNotFound("workflow", workflow_id)

    # PostWorkflowResults

    def post_workflow_results(
        self, request: service_pb2.PostWorkflowResultsRequest, ctx: CallContext
    ) -> service_pb2.PostWorkflowResultsResponse:
        """One result per input, with one output per node (but suppressed ones)."""
        app = require_app(ctx)
        # Counted first, as the HTTP gateway counts before anything else, so both agree.
        WORKFLOW_RESULTS.check(len(request.inputs))
        specs = self._specs(app, request.workflow_id, request.version_id)
        _check_some_inputs(len(request.inputs))
        nodes = self._resolver.graph(app_pk(app), specs)
        reads = list(self._executor.map(lambda m: self._loader.read_any(ctx, m), request.inputs))
        items = {index: read.item for index, read in enumerate(reads) if read.item is not None}
        good = list(items)
        ctx.check_deadline("running the workflow")
        ran = run_graph([node.graph for node in nodes], list(items.values()))
        by_input: dict[int, dict[str, NodeResult]] = dict(zip(good, ran, strict=True))
        results = [
            workflow_result(
                app, specs, nodes, message, read.error, by_input.get(index), request.output_config
            )
            for index, (message, read) in enumerate(zip(request.inputs, reads, strict=True))
        ]
        if self._videos is not None:
            results = [
                self._video_result(app, specs, nodes, message, request.output_config, ctx)
                if self._videos.is_video(ctx, message)
                else result
                for message, result in zip(request.inputs, results, strict=True)
            ]
        response = service_pb2.PostWorkflowResultsResponse(
            workflow=self._proto(app, request.workflow_id), results=results
        )
        response.status.CopyFrom(overall_status(results))
        return response

    def _video_result(
        self,
        app: AppRecord,
        specs: Sequence[NodeSpec],
        nodes: Sequence[ResolvedNode],
        message: resources_pb2.Input,
        config: resources_pb2.OutputConfig,
        ctx: CallContext,
    ) -> resources_pb2.WorkflowResult:
        """A video's result: the workflow run on each sampled frame (``video_predict``),
        batch by batch."""
        assert self._videos is not None
        positions: list[tuple[int, int]] = []
        per_frame: list[resources_pb2.WorkflowResult] = []
        try:
            with self._videos.frames(ctx, message, config.sample_ms) as batches:
                for batch in batches:
                    ctx.check_deadline("running the workflow on the video's frames")
                    ran = run_graph([node.graph for node in nodes], [f.image for f in batch])
                    for frame, results in zip(batch, ran, strict=True):
                        per_frame.append(
                            workflow_result(app, specs, nodes, message, None, results, config)
                        )
                        positions.append((frame.index, frame.time_ms))
        except InputRejected as rejected:
            return workflow_result(app, specs, nodes, message, rejected, None, config)
        return frames_result(positions, per_frame)

    def _specs(self, app: AppRecord, workflow_id: str, version_id: str) -> Sequence[NodeSpec]:
        """The nodes to run: the workflow's newest version, or the version asked for."""
        specs = self._resolver.workflow_specs(app_pk(app), workflow_id)
        if specs is None:
            raise WorkflowNotFound("workflow", workflow_id)
        if not version_id:
            return specs
        if (
            workflow_id in PUBLIC_WORKFLOWS
            and self._store.get_workflow(app_pk(app), workflow_id) is None
        ):
            raise WorkflowInvalidArgument(
                f"Workflow '{workflow_id}' is public and built in: it has no versions, leave "
                "version_id empty"
            )
        found = (
            self._versions.get_version(app_pk(app), workflow_id, version_id)
            if self._versions is not None
            else None
        )
        if found is None:
            raise WorkflowNotFound("workflow version", f"{workflow_id}/{version_id}")
        return tuple(NodeSpec.from_json(node) for node in found.nodes)


def _owned(app: AppRecord, spec: NodeSpec) -> NodeSpec:
    """The spec, if its model is this app's or public; the app's own ids are dropped."""
    owner = (spec.model_user_id, spec.model_app_id)
    if owner in (("", ""), (PUBLIC_USER, PUBLIC_APP)):
        return spec
    if owner in ((app.user_id, app.id), ("", app.id)):
        return replace(spec, model_user_id="", model_app_id="")
    raise WorkflowInvalidArgument(
        f"Workflow node '{spec.id}': model '{spec.model_id}' of app '{'/'.join(owner)}' cannot "
        f"be used here: nodes run this app's models or those of {PUBLIC_USER}/{PUBLIC_APP}"
    )


def _check_some_inputs(count: int) -> None:
    if count == 0:
        raise InvalidArgument("PostWorkflowResults needs at least one input")


def _is_public(app: AppRecord) -> bool:
    return (app.user_id, app.id) == (PUBLIC_USER, PUBLIC_APP)
