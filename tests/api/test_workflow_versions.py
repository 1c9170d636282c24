"""Workflow versions through the official client on both channels: a version per set of nodes,
the newest one runs, an older one runs when named, and versions are patched, published and
deleted."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf import struct_pb2

from tests.api.conftest import Api
from tests.api.photos import training_photos
from tests.api.test_model_extras import set_app_visibility
from tests.api.test_training import new_app, post_model
from tests.api.test_workflows import node, post_workflow, run
from tests.conftest import unique_id

SUCCESS = status_code_pb2.SUCCESS
GENERAL = "general-image-recognition"
EMBED = "general-image-embedding"
PUBLIC = 50


def list_versions(api: Api, ua: Any, workflow_id: str, **paging: int) -> Any:
    response = api.stub.ListWorkflowVersions(
        service_pb2.ListWorkflowVersionsRequest(user_app_id=ua, workflow_id=workflow_id, **paging),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    return list(response.workflow_versions)


def get_version(api: Api, ua: Any, workflow_id: str, version_id: str) -> Any:
    return api.stub.GetWorkflowVersion(
        service_pb2.GetWorkflowVersionRequest(
            user_app_id=ua, workflow_id=workflow_id, workflow_version_id=version_id
        ),
        metadata=api.pat,
    )


def patch_nodes(api: Api, ua: Any, workflow_id: str, *nodes: Any, **fields: Any) -> None:
    response = api.stub.PatchWorkflows(
        service_pb2.PatchWorkflowsRequest(
            user_app_id=ua,
            workflows=[resources_pb2.Workflow(id=workflow_id, nodes=nodes, **fields)],
            action="overwrite",
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status


def run_version(api: Api, ua: Any, workflow_id: str, version_id: str) -> Any:
    return api.stub.PostWorkflowResults(
        service_pb2.PostWorkflowResultsRequest(
            user_app_id=ua,
            workflow_id=workflow_id,
            version_id=version_id,
            inputs=[
                resources_pb2.Input(
                    data=resources_pb2.Data(
                        image=resources_pb2.Image(base64=training_photos("cat")[0])
                    )
                )
            ],
        ),
        metadata=api.pat,
    )


def test_new_nodes_make_a_new_version_and_an_old_one_still_runs(api: Api) -> None:
    ua = new_app(api)
    assert post_workflow(api, ua, "flow", node("concepts", GENERAL)).status.code == SUCCESS
    (first,) = list_versions(api, ua, "flow")
    assert [n.model.id for n in first.nodes] == [GENERAL]
    assert (first.workflow_id, first.app_id) == ("flow", ua.app_id)
    got = api.stub.GetWorkflow(
        service_pb2.GetWorkflowRequest(user_app_id=ua, workflow_id="flow"), metadata=api.pat
    )
    assert got.workflow.version.id == first.id

    patch_nodes(api, ua, "flow", node("concepts", GENERAL), node("embed", EMBED))
    patch_nodes(api, ua, "flow", description="same nodes: no new version")

    second, older = list_versions(api, ua, "flow")
    assert older.id == first.id
    assert [n.id for n in second.nodes] == ["concepts", "embed"]
    newest = run(api, ua, "flow", training_photos("cat")[0])
    assert len(newest.results[0].outputs) == 2
    old = run_version(api, ua, "flow", first.id)
    assert old.status.code == SUCCESS, old.status
    assert [o.model.id for o in old.results[0].outputs] == [GENERAL]
    page_one = list_versions(api, ua, "flow", page=1, per_page=1)
    page_two = list_versions(api, ua, "flow", page=2, per_page=1)
    assert [v.id for v in page_one + page_two] == [second.id, first.id]


def test_versions_are_patched_and_only_old_ones_deleted(api: Api) -> None:
    ua = new_app(api)
    assert post_workflow(api, ua, "flow", node("concepts", GENERAL)).status.code == SUCCESS
    patch_nodes(api, ua, "flow", node("embed", EMBED))
    newest, first = list_versions(api, ua, "flow")
    metadata = struct_pb2.Struct()
    metadata.update({"stage": "retired"})

    patched = api.stub.PatchWorkflowVersions(
        service_pb2.PatchWorkflowVersionsRequest(
            user_app_id=ua,
            workflow_id="flow",
            workflow_versions=[
                resources_pb2.WorkflowVersion(
                    id=first.id, description="the first", license="MIT", metadata=metadata
                )
            ],
        ),
        metadata=api.pat,
    )

    assert patched.status.code == SUCCESS, patched.status
    stored = get_version(api, ua, "flow", first.id).workflow_version
    assert (stored.description, stored.license) == ("the first", "MIT")
    assert stored.metadata["stage"] == "retired"
    assert [n.model.id for n in stored.nodes] == [GENERAL]  # nodes untouched
    with_nodes = api.stub.PatchWorkflowVersions(
        service_pb2.PatchWorkflowVersionsRequest(
            user_app_id=ua,
            workflow_id="flow",
            workflow_versions=[
                resources_pb2.WorkflowVersion(id=first.id, nodes=[node("x", EMBED)])
            ],
        ),
        metadata=api.pat,
    )
    assert with_nodes.status.code == status_code_pb2.WORKFLOW_INVALID_ARGUMENT
    assert "nodes" in with_nodes.status.description

    def delete(version_id: str) -> Any:
        return api.stub.DeleteWorkflowVersions(
            service_pb2.DeleteWorkflowVersionsRequest(
                user_app_id=ua, workflow_id="flow", workflow_version_ids=[version_id]
            ),
            metadata=api.pat,
        )

    refused = delete(newest.id)
    assert refused.status.code == status_code_pb2.WORKFLOW_INVALID_ARGUMENT
    assert "runs" in refused.status.description
    assert delete(first.id).status.code == SUCCESS
    assert [v.id for v in list_versions(api, ua, "flow")] == [newest.id]
    gone = get_version(api, ua, "flow", first.id)
    assert gone.status.code == status_code_pb2.WORKFLOW_DOES_NOT_EXIST
    ran = run_version(api, ua, "flow", first.id)
    assert ran.status.code == status_code_pb2.WORKFLOW_DOES_NOT_EXIST


def test_publishing_a_workflow_version_needs_a_public_app(api: Api) -> None:
    ua = new_app(api)
    assert post_workflow(api, ua, "flow", node("concepts", GENERAL)).status.code == SUCCESS
    (version,) = list_versions(api, ua, "flow")

    def publish(method: str) -> Any:
        publication = (
            service_pb2.WorkflowVersionPublishRequest
            if not method.endswith("UnPublish")
            else service_pb2.WorkflowVersionUnPublishRequest
        )
        return getattr(api.stub, method)(
            getattr(service_pb2, f"{method}Request")(
                user_app_id=ua,
                workflow_id="flow",
                publications=[publication(version_id=version.id)],
            ),
            metadata=api.pat,
        )

    refused = publish("PostWorkflowVersionsPublish")
    assert refused.status.code == status_code_pb2.WORKFLOW_INVALID_ARGUMENT
    assert "make the app public" in refused.status.description
    set_app_visibility(api, ua, PUBLIC)
    assert publish("PostWorkflowVersionsPublish").status.code == SUCCESS
    assert get_version(api, ua, "flow", version.id).workflow_version.visibility.gettable == PUBLIC
    assert publish("PostWorkflowVersionsUnPublish").status.code == SUCCESS
    assert get_version(api, ua, "flow", version.id).workflow_version.visibility.gettable == 10


def test_versions_follow_a_renamed_model_and_public_workflows_have_none(api: Api) -> None:
    ua = new_app(api)
    old, new = unique_id("mine"), unique_id("ours")
    assert post_model(api, ua, old, ["cat"]).status.code == SUCCESS
    assert post_workflow(api, ua, "flow", node("mine", old)).status.code == SUCCESS
    patch_nodes(api, ua, "flow", node("mine", old), node("concepts", GENERAL))
    renamed = api.stub.PatchModelIds(
        service_pb2.PatchModelIdsRequest(
            user_app_id=ua, ids=[service_pb2.IdUpdateSource(id=old, new_id=new)]
        ),
        metadata=api.pat,
    )
    assert renamed.status.code == SUCCESS, renamed.status
    for version in list_versions(api, ua, "flow"):
        assert [n.model.id for n in version.nodes if n.id == "mine"] == [new]
    public = api.stub.ListWorkflowVersions(
        service_pb2.ListWorkflowVersionsRequest(user_app_id=ua, workflow_id="General"),
        metadata=api.pat,
    )
    assert public.status.code == status_code_pb2.WORKFLOW_INVALID_ARGUMENT
    assert "built in" in public.status.description
    absent = api.stub.ListWorkflowVersions(
        service_pb2.ListWorkflowVersionsRequest(user_app_id=ua, workflow_id="nope"),
        metadata=api.pat,
    )
    assert absent.status.code == status_code_pb2.WORKFLOW_DOES_NOT_EXIST
