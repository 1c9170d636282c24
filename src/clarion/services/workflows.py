"""Workflows: create, read, patch and delete them, and run them (``PostWorkflowResults``).

A workflow's nodes name models by id (and version): the app's custom models, or built-in
ones. ``node_inputs`` must form a DAG of at most 20 nodes; a node whose parent finds regions
runs on each region (a classifier after a face detector classifies each face). The public
``General`` workflow of ``clarifai/main`` is reachable from every app, and an app's base
workflow (``default_workflow_id``) is any of these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2

from clarion.blobs.base import BlobStore
from clarion.codes import SUCCESS, WORKFLOW_NO_MATCHING_INPUT
from clarion.errors import InvalidArgument, WorkflowInvalidArgument, WorkflowNotFound
from clarion.inference.workflow import (
    PUBLIC_APP,
    PUBLIC_USER,
    PUBLIC_WORKFLOWS,
    NodeResult,
    NodeSpec,
    RegionResult,
    graph_order,
    run_graph,
)
from clarion.runtime.model_resolver import ModelResolver, ResolvedNode
from clarion.services.base import HandlerTable, app_pk, conflicts_as, require_app
from clarion.services.batches import WORKFLOW_RESULTS
from clarion.services.context import CallContext
from clarion.services.convert import now_timestamp, response_id, status, struct_to_dict
from clarion.services.model_convert import (
    custom_model_to_proto,
    node_of,
    output_config_of,
    workflow_to_proto,
)
from clarion.services.models import model_to_proto
from clarion.services.paging import page_of
from clarion.services.patching import Action, patch_action, patched_metadata
from clarion.services.predict import (
    echo_input,
    fill_data,
    new_output,
    overall_status,
    region_to_proto,
)
from clarion.services.reading import InputLoader, InputReader, Read
from clarion.services.workflow_versions import WorkflowVersions
from clarion.storage.base import AppRecord
from clarion.storage.data import SqlDataStore
from clarion.storage.modeldata import SqlModelStore, WorkflowRecord

PUBLIC = 50  # Visibility.gettable
MAX_WORKFLOW_ID = 32  # "Max workflow ID is capped at 32 chars" (the proto's comment)
_CREATED_AT = datetime(2026, 1, 1, tzinfo=UTC)  # the public workflows ship with Clarion


class WorkflowsService:
    """Workflow resources and ``PostWorkflowResults``."""

    def __init__(
        self,
        store: SqlModelStore,
        resolver: ModelResolver,
        reader: InputReader,
        data: SqlDataStore,
        blobs: BlobStore,
        executor: Executor,
        versions: WorkflowVersions | None = None,
    ) -> None:
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
            workflows=[stored_workflow_proto(app, record) for record in created]
        )

    def _new_workflow(self, app: AppRecord, workflow: resources_pb2.Workflow) -> WorkflowRecord:
        workflow_id = _checked_id(workflow.id)
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
            listed = [_public_proto(workflow_id) for workflow_id in PUBLIC_WORKFLOWS]
            stored = self._store.list_workflows(app_pk(app), page_of(1, 1000))
            listed += [stored_workflow_proto(app, record) for record in stored]
            return service_pb2.MultiWorkflowResponse(
                workflows=listed[page.offset : page.offset + page.per_page]
            )
        stored = self._store.list_workflows(app_pk(app), page)
        return service_pb2.MultiWorkflowResponse(
            workflows=[stored_workflow_proto(app, record) for record in stored]
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
            workflows=[stored_workflow_proto(app, record) for record in patched]
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
            return stored_workflow_proto(app, record)
        if workflow_id in PUBLIC_WORKFLOWS:
            return _public_proto(workflow_id)
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
            self._result(
                app, specs, nodes, message, read, by_input.get(index), request.output_config
            )
            for index, (message, read) in enumerate(zip(request.inputs, reads, strict=True))
        ]
        response = service_pb2.PostWorkflowResultsResponse(
            workflow=self._proto(app, request.workflow_id), results=results
        )
        response.status.CopyFrom(overall_status(results))
        return response

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

    def _result(
        self,
        app: AppRecord,
        specs: Sequence[NodeSpec],
        nodes: Sequence[ResolvedNode],
        message: resources_pb2.Input,
        read: Read,
        ran: Mapping[str, NodeResult] | None,
        config: resources_pb2.OutputConfig,
    ) -> resources_pb2.WorkflowResult:
        result = resources_pb2.WorkflowResult(id=response_id(), created_at=now_timestamp())
        result.input.CopyFrom(echo_input(message))
        if read.error is not None:
            result.status.CopyFrom(status(read.error.code, read.error.description))
            return result
        assert ran is not None, "every readable input ran"
        result.status.CopyFrom(status(SUCCESS, "Ok"))
        resolved = {node.graph.spec.id: node for node in nodes}
        region_ids: dict[tuple[str, int], str] = {}
        for spec in specs:  # the workflow's own node order
            if not spec.suppress_output:
                node = resolved[spec.id]
                output = _node_output(app, node, message, ran[spec.id], config, region_ids)
                result.outputs.append(output)
        return result


def _node_output(
    app: AppRecord,
    node: ResolvedNode,
    message: resources_pb2.Input,
    ran: NodeResult,
    request_config: resources_pb2.OutputConfig,
    region_ids: dict[tuple[str, int], str],
) -> resources_pb2.Output:
    spec = node.graph.spec
    config = output_config_of(spec.output_config) if spec.output_config else request_config
    output = new_output(_model_proto(app, node), message)
    if ran.error:
        output.status.CopyFrom(status(WORKFLOW_NO_MATCHING_INPUT, f"Node '{spec.id}': {ran.error}"))
        return output
    output.status.CopyFrom(status(SUCCESS, "Ok"))
    app_id = app.id if node.custom is not None else PUBLIC_APP
    if ran.prediction is not None:
        fill_data(output.data, ran.prediction, config, app_id)
        for position, region in enumerate(output.data.regions):
            region.id = _region_id(region_ids, spec.id, position)
    for passed in ran.regions or ():
        output.data.regions.append(_fed_region(passed, config, app_id, region_ids))
    return output


def _fed_region(
    passed: RegionResult,
    config: resources_pb2.OutputConfig,
    app_id: str,
    region_ids: dict[tuple[str, int], str],
) -> resources_pb2.Region:
    """A region a parent found, holding what this node said about it."""
    bare = replace(passed.region, concepts=(), text="")
    region = region_to_proto(bare, _region_id(region_ids, passed.source, passed.index))
    if passed.prediction is not None:
        fill_data(region.data, passed.prediction, config, app_id)
    return region


def _region_id(region_ids: dict[tuple[str, int], str], source: str, index: int) -> str:
    # One id per region and input, so every node's output names a region the same way.
    return region_ids.setdefault((source, index), response_id())


def _model_proto(app: AppRecord, node: ResolvedNode) -> resources_pb2.Model:
    if node.custom is not None:
        custom = node.custom
        return custom_model_to_proto(app, custom.model, custom.version, with_concepts=False)
    assert node.info is not None
    return model_to_proto(node.info)


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


def _checked_id(workflow_id: str) -> str:
    if not workflow_id:
        raise WorkflowInvalidArgument("Each workflow needs an 'id'")
    if len(workflow_id) > MAX_WORKFLOW_ID or not all(
        ch.isascii() and (ch.isalnum() or ch in "-_") for ch in workflow_id
    ):
        raise WorkflowInvalidArgument(
            f"Invalid workflow id '{workflow_id}': use 1 to {MAX_WORKFLOW_ID} letters, "
            "digits, '_' or '-'"
        )
    if workflow_id in PUBLIC_WORKFLOWS:
        raise WorkflowInvalidArgument(f"'{workflow_id}' is the id of a public workflow")
    return workflow_id


def _check_some_inputs(count: int) -> None:
    if count == 0:
        raise InvalidArgument("PostWorkflowResults needs at least one input")


def _is_public(app: AppRecord) -> bool:
    return (app.user_id, app.id) == (PUBLIC_USER, PUBLIC_APP)


def stored_workflow_proto(app: AppRecord, record: WorkflowRecord) -> resources_pb2.Workflow:
    specs = [NodeSpec.from_json(node) for node in record.nodes]
    return workflow_to_proto(app.id, app.user_id, record, specs)


def _public_proto(workflow_id: str) -> resources_pb2.Workflow:
    record = WorkflowRecord(
        id=workflow_id,
        description="Built in: general concepts and image embeddings",
        created_at=_CREATED_AT,
        modified_at=_CREATED_AT,
    )
    message = workflow_to_proto(PUBLIC_APP, PUBLIC_USER, record, PUBLIC_WORKFLOWS[workflow_id])
    message.visibility.CopyFrom(resources_pb2.Visibility(gettable=PUBLIC))  # type: ignore[arg-type]
    return message
