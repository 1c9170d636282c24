"""PatchAppsIds, PatchModelIds and PatchWorkflowIds, through the official client on both
channels: the new id answers, the old one is gone, and what named the old id follows it."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from tests.api.conftest import Api, key_metadata
from tests.api.test_apps_keys import create_app, create_key
from tests.api.test_training import new_app, post_model
from tests.api.test_workflows import node, post_workflow
from tests.conftest import unique_id

SUCCESS = status_code_pb2.SUCCESS


def rename(ids: list[tuple[str, str]]) -> list[Any]:
    return [service_pb2.IdUpdateSource(id=old, new_id=new) for old, new in ids]


def get_workflow(api: Api, ua: Any, workflow_id: str) -> Any:
    return api.stub.GetWorkflow(
        service_pb2.GetWorkflowRequest(user_app_id=ua, workflow_id=workflow_id), metadata=api.pat
    )


def get_app(api: Api, app_id: str) -> Any:
    ua = resources_pb2.UserAppIDSet(user_id="me", app_id=app_id)
    return api.stub.GetApp(service_pb2.GetAppRequest(user_app_id=ua), metadata=api.pat)


def test_a_renamed_model_is_found_by_its_new_id_and_workflows_follow_it(api: Api) -> None:
    ua = new_app(api)
    old, new = unique_id("pets"), unique_id("animals")
    assert post_model(api, ua, old, ["cat"]).status.code == SUCCESS
    nodes = (node("general", "general-image-recognition"), node("mine", old))
    assert post_workflow(api, ua, "flow", *nodes).status.code == SUCCESS

    response = api.stub.PatchModelIds(
        service_pb2.PatchModelIdsRequest(user_app_id=ua, ids=rename([(old, new)])),
        metadata=api.pat,
    )

    assert response.status.code == SUCCESS, response.status
    assert [model.id for model in response.models] == [new]
    got = api.stub.GetModelOutputInfo(
        service_pb2.GetModelRequest(user_app_id=ua, model_id=new), metadata=api.pat
    )
    assert got.status.code == SUCCESS, got.status
    assert [c.id for c in got.model.output_info.data.concepts] == ["cat"]
    gone = api.stub.GetModel(
        service_pb2.GetModelRequest(user_app_id=ua, model_id=old), metadata=api.pat
    )
    assert gone.status.code == status_code_pb2.MODEL_DOES_NOT_EXIST
    models = {n.id: n.model.id for n in get_workflow(api, ua, "flow").workflow.nodes}
    # The node that named the app's model names it by its new id; the public one is untouched.
    assert models == {"general": "general-image-recognition", "mine": new}


def test_model_renames_that_cannot_be_done_are_refused_and_change_nothing(api: Api) -> None:
    ua = new_app(api)
    first, second = unique_id("one"), unique_id("two")
    for model_id in (first, second):
        assert post_model(api, ua, model_id, ["cat"]).status.code == SUCCESS
    cases = [
        ([(first, second)], status_code_pb2.CONN_INVALID_REQUEST, "already exists"),
        (
            [(first, "general-image-recognition")],
            status_code_pb2.MODEL_INVALID_ARGUMENT,
            "built-in",
        ),
        ([("general-image-recognition", "x1")], status_code_pb2.MODEL_INVALID_ARGUMENT, "built in"),
        ([("absent", "x2")], status_code_pb2.MODEL_DOES_NOT_EXIST, "absent"),
        ([(first, "bad id!")], status_code_pb2.CONN_INVALID_REQUEST, "Invalid model id"),
        ([(first, "x3"), (second, "x3")], status_code_pb2.CONN_INVALID_REQUEST, "twice"),
        ([], status_code_pb2.CONN_INVALID_REQUEST, "new_id"),
    ]
    for pairs, code, words in cases:
        response = api.stub.PatchModelIds(
            service_pb2.PatchModelIdsRequest(user_app_id=ua, ids=rename(pairs)), metadata=api.pat
        )
        assert response.status.code == code, (pairs, response.status)
        assert words in response.status.description, response.status
    merge = api.stub.PatchModelIds(
        service_pb2.PatchModelIdsRequest(
            user_app_id=ua, ids=rename([(first, "x4")]), action="merge"
        ),
        metadata=api.pat,
    )
    assert merge.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "overwrite" in merge.status.description
    listed = api.stub.ListModels(
        service_pb2.ListModelsRequest(user_app_id=ua, dont_fetch_from_main=True), metadata=api.pat
    )
    assert sorted(model.id for model in listed.models) == sorted([first, second])


def test_a_renamed_workflow_stays_the_apps_base_workflow(api: Api) -> None:
    ua = new_app(api)
    assert (
        post_workflow(api, ua, "base", node("general", "general-image-recognition")).status.code
        == SUCCESS
    )
    patched = api.stub.PatchApps(
        service_pb2.PatchAppsRequest(
            apps=[resources_pb2.App(id=ua.app_id, default_workflow_id="base")], action="overwrite"
        ),
        metadata=api.pat,
    )
    assert patched.status.code == SUCCESS, patched.status

    response = api.stub.PatchWorkflowIds(
        service_pb2.PatchWorkflowIdsRequest(user_app_id=ua, ids=rename([("base", "main-flow")])),
        metadata=api.pat,
    )

    assert response.status.code == SUCCESS, response.status
    assert [workflow.id for workflow in response.workflows] == ["main-flow"]
    assert [n.model.id for n in response.workflows[0].nodes] == ["general-image-recognition"]
    assert get_workflow(api, ua, "main-flow").status.code == SUCCESS
    assert get_workflow(api, ua, "base").status.code == status_code_pb2.WORKFLOW_DOES_NOT_EXIST
    assert get_app(api, ua.app_id).app.default_workflow_id == "main-flow"
    public = api.stub.PatchWorkflowIds(
        service_pb2.PatchWorkflowIdsRequest(user_app_id=ua, ids=rename([("General", "mine")])),
        metadata=api.pat,
    )
    assert public.status.code == status_code_pb2.WORKFLOW_INVALID_ARGUMENT
    assert "public" in public.status.description


def test_a_renamed_app_keeps_its_contents_and_its_keys(api: Api) -> None:
    app = create_app(api, name="Before")
    key = create_key(api, app.id, ["All"])
    ua = resources_pb2.UserAppIDSet(user_id="me", app_id=app.id)
    assert post_model(api, ua, "kept", ["cat"]).status.code == SUCCESS
    new_id = unique_id("renamed")

    response = api.stub.PatchAppsIds(
        service_pb2.PatchAppsIdsRequest(
            user_app_id=resources_pb2.UserAppIDSet(user_id="me"), ids=rename([(app.id, new_id)])
        ),
        metadata=api.pat,
    )

    assert response.status.code == SUCCESS, response.status
    assert [(a.id, a.name) for a in response.apps] == [(new_id, "Before")]
    assert get_app(api, app.id).status.code == status_code_pb2.CONN_DOES_NOT_EXIST
    moved = resources_pb2.UserAppIDSet(user_id="me", app_id=new_id)
    model = api.stub.GetModel(
        service_pb2.GetModelRequest(user_app_id=moved, model_id="kept"), metadata=api.pat
    )
    assert model.status.code == SUCCESS, model.status
    assert model.model.app_id == new_id
    # The key was bound to the app, not to its id: it reaches the app under the new id.
    by_key = api.stub.GetApp(service_pb2.GetAppRequest(), metadata=key_metadata(key))
    assert by_key.status.code == SUCCESS, by_key.status
    assert by_key.app.id == new_id


def test_an_app_cannot_take_an_id_in_use(api: Api) -> None:
    first, second = create_app(api), create_app(api)
    response = api.stub.PatchAppsIds(
        service_pb2.PatchAppsIdsRequest(
            user_app_id=resources_pb2.UserAppIDSet(user_id="me"),
            ids=rename([(first.id, second.id)]),
        ),
        metadata=api.pat,
    )
    assert response.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "already exists" in response.status.description
    assert get_app(api, first.id).status.code == SUCCESS
