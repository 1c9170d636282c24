"""Every Patch method reads ``action`` the same way: the actions it takes, and what each does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf import json_format, struct_pb2

from tests.api.conftest import Api
from tests.api.test_apps_keys import create_app

SUCCESS = status_code_pb2.SUCCESS


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def user_app(app_id: str) -> resources_pb2.UserAppIDSet:
    return resources_pb2.UserAppIDSet(app_id=app_id)


# method -> (request builder for an app, the actions it takes); the requests' types differ.
PATCHES: dict[str, tuple[Callable[[str], Any], str]] = {
    "PatchApps": (
        lambda app: service_pb2.PatchAppsRequest(apps=[resources_pb2.App(id=app)]),
        "merge, overwrite or remove",
    ),
    "PatchInputs": (
        lambda app: service_pb2.PatchInputsRequest(
            user_app_id=user_app(app), inputs=[resources_pb2.Input(id="any")]
        ),
        "merge, overwrite or remove",
    ),
    "PatchDatasets": (
        lambda app: service_pb2.PatchDatasetsRequest(
            user_app_id=user_app(app), datasets=[resources_pb2.Dataset(id="any")]
        ),
        "merge or overwrite",
    ),
    "PatchSearches": (
        lambda app: service_pb2.PatchSearchesRequest(
            user_app_id=user_app(app), searches=[resources_pb2.Search(id="any")]
        ),
        "use overwrite",
    ),
    "PatchModels": (
        lambda app: service_pb2.PatchModelsRequest(
            user_app_id=user_app(app), models=[resources_pb2.Model(id="any")]
        ),
        "merge, overwrite or remove",
    ),
    "PatchWorkflows": (
        lambda app: service_pb2.PatchWorkflowsRequest(
            user_app_id=user_app(app), workflows=[resources_pb2.Workflow(id="any")]
        ),
        "merge, overwrite or remove",
    ),
    "PatchAnnotations": (
        lambda app: service_pb2.PatchAnnotationsRequest(
            user_app_id=user_app(app), annotations=[resources_pb2.Annotation(id="any")]
        ),
        "merge, overwrite or remove",
    ),
}


@pytest.mark.parametrize("method", sorted(PATCHES))
def test_an_unknown_action_is_refused_naming_the_ones_taken(api: Api, method: str) -> None:
    app = create_app(api)
    build, choices = PATCHES[method]
    request = build(app.id)
    request.action = "replace"

    response = getattr(api.stub, method)(request, metadata=api.pat)

    assert response.status.code == status_code_pb2.CONN_INVALID_REQUEST, response.status
    assert "Unknown action 'replace'" in response.status.description
    assert choices in response.status.description


def patch_app_metadata(api: Api, app_id: str, metadata: dict[str, Any], action: str) -> Any:
    response = api.stub.PatchApps(
        service_pb2.PatchAppsRequest(
            apps=[resources_pb2.App(id=app_id, metadata=struct(metadata))], action=action
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    return json_format.MessageToDict(response.apps[0].metadata)


def test_app_metadata_merges_deeply_and_removes_nested_keys_as_inputs_do(api: Api) -> None:
    app = create_app(api, metadata=struct({"team": {"lead": "ann", "size": 3}, "tier": "a"}))

    merged = patch_app_metadata(api, app.id, {"team": {"size": 4}}, "merge")
    removed = patch_app_metadata(api, app.id, {"team": {"lead": {}}}, "remove")
    overwritten = patch_app_metadata(api, app.id, {"fresh": True}, "overwrite")

    assert merged == {"team": {"lead": "ann", "size": 4}, "tier": "a"}
    assert removed == {"team": {"size": 4}, "tier": "a"}
    assert overwritten == {"fresh": True}


def test_dataset_metadata_merges_deeply(api: Api) -> None:
    app = create_app(api)
    api.stub.PostDatasets(
        service_pb2.PostDatasetsRequest(
            user_app_id=user_app(app.id),
            datasets=[resources_pb2.Dataset(id="d", metadata=struct({"a": {"x": 1, "y": 2}}))],
        ),
        metadata=api.pat,
    )

    response = api.stub.PatchDatasets(
        service_pb2.PatchDatasetsRequest(
            user_app_id=user_app(app.id),
            datasets=[resources_pb2.Dataset(id="d", metadata=struct({"a": {"y": 3}}))],
            action="merge",
        ),
        metadata=api.pat,
    )

    assert response.status.code == SUCCESS, response.status
    assert json_format.MessageToDict(response.datasets[0].metadata) == {"a": {"x": 1, "y": 3}}
