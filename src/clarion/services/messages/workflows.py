"""Workflows: their nodes (both ways: a node is stored as a ``NodeSpec``), the workflow
itself (an app's or a public one), and what a workflow made of one input."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from clarifai_grpc.grpc.api import resources_pb2

from clarion.codes import SUCCESS, WORKFLOW_NO_MATCHING_INPUT
from clarion.errors import InputRejected
from clarion.inference.workflow import (
    PUBLIC_APP,
    PUBLIC_USER,
    PUBLIC_WORKFLOWS,
    NodeResult,
    NodeSpec,
    RegionResult,
)
from clarion.runtime.model_resolver import ResolvedNode
from clarion.services.messages.data import echo_input
from clarion.services.messages.models import (
    BUILT_IN_AT,
    builtin_model_to_proto,
    custom_model_to_proto,
)
from clarion.services.messages.outputs import (
    fill_data,
    new_output,
    output_config_json,
    output_config_of,
    overridden,
    requested_output_config,
)
from clarion.services.messages.regions import region_to_proto
from clarion.services.messages.values import (
    PRIVATE,
    PUBLIC,
    now_timestamp,
    response_id,
    status,
    struct,
    timestamp,
    visibility,
)
from clarion.storage.accounts import AppRecord
from clarion.storage.models import WorkflowRecord
from clarion.storage.workflow_versions import WorkflowVersionRecord

# which region a node's output names: one id per (node that found it, its index) and input
RegionIds = dict[tuple[str, int], str]


# nodes


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


# workflows


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
        visibility=visibility(PRIVATE),
    )


def stored_workflow_to_proto(app: AppRecord, record: WorkflowRecord) -> resources_pb2.Workflow:
    """An app's own workflow, its nodes read back from storage."""
    specs = [NodeSpec.from_json(node) for node in record.nodes]
    return workflow_to_proto(app.id, app.user_id, record, specs)


def public_workflow_to_proto(workflow_id: str) -> resources_pb2.Workflow:
    """A public workflow of ``clarifai/main`` (they ship with Clarion)."""
    record = WorkflowRecord(
        id=workflow_id,
        description="Built in: general concepts and image embeddings",
        created_at=BUILT_IN_AT,
        modified_at=BUILT_IN_AT,
    )
    message = workflow_to_proto(PUBLIC_APP, PUBLIC_USER, record, PUBLIC_WORKFLOWS[workflow_id])
    message.visibility.CopyFrom(visibility(PUBLIC))
    return message


def workflow_version_to_proto(
    app: AppRecord, record: WorkflowVersionRecord
) -> resources_pb2.WorkflowVersion:
    """A stored version of an app's workflow, with the nodes it runs."""
    message = resources_pb2.WorkflowVersion(
        id=record.id,
        workflow_id=record.workflow_id,
        app_id=app.id,
        user_id=app.user_id,
        description=record.description,
        license=record.license,
        created_at=timestamp(record.created_at),
        modified_at=timestamp(record.modified_at),
        visibility=visibility(record.visibility),
        nodes=[node_to_proto(NodeSpec.from_json(node)) for node in record.nodes],
    )
    if record.metadata:
        message.metadata.CopyFrom(struct(record.metadata))
    return message


# results


def workflow_result(
    app: AppRecord,
    specs: Sequence[NodeSpec],
    nodes: Sequence[ResolvedNode],
    message: resources_pb2.Input,
    error: InputRejected | None,
    ran: Mapping[str, NodeResult] | None,
    config: resources_pb2.OutputConfig,
) -> resources_pb2.WorkflowResult:
    """One input's result: an output per node, in the workflow's own order (``specs``; the
    ``nodes`` ran in graph order), but the suppressed ones; or why the input was unreadable."""
    result = resources_pb2.WorkflowResult(id=response_id(), created_at=now_timestamp())
    result.input.CopyFrom(echo_input(message))
    if error is not None:
        result.status.CopyFrom(status(error.code, error.description))
        return result
    assert ran is not None, "every readable input ran"
    result.status.CopyFrom(status(SUCCESS, "Ok"))
    resolved = {node.graph.spec.id: node for node in nodes}
    region_ids: RegionIds = {}
    for spec in specs:
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
    region_ids: RegionIds,
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
    region_ids: RegionIds,
) -> resources_pb2.Region:
    """A region a parent found, holding what this node said about it."""
    bare = replace(passed.region, concepts=(), text="")
    region = region_to_proto(bare, _region_id(region_ids, passed.source, passed.index))
    if passed.prediction is not None:
        fill_data(region.data, passed.prediction, config, app_id)
    return region


def _region_id(region_ids: RegionIds, source: str, index: int) -> str:
    # One id per region and input, so every node's output names a region the same way.
    return region_ids.setdefault((source, index), response_id())


def _model_proto(app: AppRecord, node: ResolvedNode) -> resources_pb2.Model:
    if node.custom is not None:
        custom = node.custom
        return custom_model_to_proto(app, custom.model, custom.version, with_concepts=False)
    assert node.info is not None
    return builtin_model_to_proto(node.info)
