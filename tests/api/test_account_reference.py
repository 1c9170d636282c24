"""Status codes, licenses, a caller's scopes, an app's resource counts, app searches and
PatchAppsDetails, through the official client on both channels."""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf import struct_pb2

from clarion.testing import RunningServer
from tests.api.conftest import Api, key_metadata
from tests.api.test_apps_keys import create_app, create_key
from tests.api.test_training import new_app, post_inputs, post_model
from tests.api.test_workflows import node, post_workflow
from tests.conftest import unique_id

SUCCESS = status_code_pb2.SUCCESS
ME = resources_pb2.UserAppIDSet(user_id="me")


def no_key(api: Api) -> tuple[tuple[str, str], ...]:
    """The methods need no key; the official JSON channel sends one all the same."""
    return () if api.transport == "grpc" else api.pat


def test_status_codes_are_clarifais_and_need_no_key(api: Api) -> None:
    listed = api.stub.ListStatusCodes(service_pb2.ListStatusCodesRequest(), metadata=no_key(api))

    assert listed.status.code == SUCCESS, listed.status
    codes = [status.code for status in listed.statuses]
    assert codes == sorted(codes)
    expected = {value for value in status_code_pb2.StatusCode.values() if value}
    assert set(codes) == expected
    by_code = {status.code: status for status in listed.statuses}
    assert by_code[status_code_pb2.MODEL_DOES_NOT_EXIST].description == "Model does not exist"
    assert by_code[status_code_pb2.MODEL_DOES_NOT_EXIST].details == "MODEL_DOES_NOT_EXIST"


def test_one_status_code_is_its_own_answer(api: Api) -> None:
    found = api.stub.GetStatusCode(
        service_pb2.GetStatusCodeRequest(status_code_id="21110"), metadata=no_key(api)
    )
    assert found.status.code == status_code_pb2.MODEL_TRAINING_NO_DATA
    assert found.status.details == "MODEL_TRAINING_NO_DATA"
    assert found.status.req_id

    unknown = api.stub.GetStatusCode(
        service_pb2.GetStatusCodeRequest(status_code_id="12345"), metadata=no_key(api)
    )
    assert unknown.status.code == status_code_pb2.CONN_DOES_NOT_EXIST
    assert "12345" in unknown.status.description
    word = api.stub.GetStatusCode(
        service_pb2.GetStatusCodeRequest(status_code_id="SUCCESS"), metadata=no_key(api)
    )
    assert word.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "ListStatusCodes" in word.status.description


def test_open_source_licenses_are_spdx_ids(api: Api) -> None:
    response = api.stub.ListOpenSourceLicenses(
        service_pb2.ListOpenSourceLicensesRequest(), metadata=no_key(api)
    )
    assert response.status.code == SUCCESS, response.status
    assert {"Apache-2.0", "MIT", "BSD-3-Clause"} <= set(response.licenses)
    assert len(set(response.licenses)) == len(response.licenses)


def test_my_scopes_of_a_narrow_pat_at_user_and_root_level(api: Api) -> None:
    created = api.stub.PostKeys(
        service_pb2.PostKeysRequest(
            user_app_id=ME,
            keys=[
                resources_pb2.Key(
                    description="narrow", scopes=["Apps_Get"], type="personal_access_token"
                )
            ],
        ),
        metadata=api.pat,
    )
    assert created.status.code == SUCCESS, created.status
    narrow = key_metadata(created.keys[0].id)

    user = api.stub.MyScopesUser(service_pb2.MyScopesUserRequest(user_app_id=ME), metadata=narrow)
    root = api.stub.MyScopesRoot(service_pb2.MyScopesRootRequest(), metadata=narrow)

    for response in (user, root):
        assert response.status.code == SUCCESS, response.status
        assert list(response.scopes) == ["Apps_Get"]
        assert "PostAppDuplications" in response.endpoints  # needs Apps_Get alone
        assert "PostApps" not in response.endpoints  # needs Apps_Add
        assert "GetApp" not in response.endpoints  # needs Workflows_Get too
    admin = api.stub.MyScopesRoot(service_pb2.MyScopesRootRequest(), metadata=api.pat)
    assert list(admin.scopes) == ["All"]
    assert "PostApps" in admin.endpoints


def test_my_scopes_user_is_refused_to_an_app_key(api: Api) -> None:
    key = create_key(api, create_app(api).id, ["All"])
    response = api.stub.MyScopesUser(
        service_pb2.MyScopesUserRequest(user_app_id=ME), metadata=key_metadata(key)
    )
    assert response.status.code == status_code_pb2.CONN_AUTH_METHOD_DISABLED


def test_resource_counts_count_what_the_app_holds(api: Api) -> None:
    ua = new_app(api)
    empty = api.stub.GetResourceCounts(
        service_pb2.GetResourceCountsRequest(user_app_id=ua), metadata=api.pat
    )
    assert empty.status.code == SUCCESS, empty.status
    assert (empty.inputs, empty.datasets, empty.models, empty.workflows) == (0, 0, 0, 0)
    post_inputs(
        api,
        ua,
        [
            resources_pb2.Input(data=resources_pb2.Data(text=resources_pb2.Text(raw=t)))
            for t in ("a", "b")
        ],
    )
    assert post_model(api, ua, "counted", ["cat"]).status.code == SUCCESS
    assert (
        post_workflow(api, ua, "w", node("g", "general-image-recognition")).status.code == SUCCESS
    )
    dataset = api.stub.PostDatasets(
        service_pb2.PostDatasetsRequest(user_app_id=ua, datasets=[resources_pb2.Dataset(id="d")]),
        metadata=api.pat,
    )
    assert dataset.status.code == SUCCESS, dataset.status

    counts = api.stub.GetResourceCounts(
        service_pb2.GetResourceCountsRequest(user_app_id=ua), metadata=api.pat
    )

    assert (counts.inputs, counts.datasets, counts.models, counts.workflows) == (2, 1, 1, 1)
    assert counts.pipelines == 0


def test_resource_counts_need_the_scopes_the_descriptor_names(api: Api) -> None:
    app = create_app(api)
    key = create_key(api, app.id, ["Apps_Get", "Models_Get", "Workflows_Get", "Datasets_Get"])
    refused = api.stub.GetResourceCounts(
        service_pb2.GetResourceCountsRequest(), metadata=key_metadata(key)
    )
    assert refused.status.code == status_code_pb2.CONN_INSUFFICIENT_SCOPES
    assert "Pipelines_Get" in refused.status.description


def test_apps_searches_find_apps_by_id_or_name_page_by_page(api: Api) -> None:
    marker = unique_id("zebra").replace("-", "")
    first = create_app(api, name=f"The {marker.upper()} herd")
    created = api.stub.PostApps(
        service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=f"{marker}-two")]),
        metadata=api.pat,
    )
    assert created.status.code == SUCCESS, created.status
    create_app(api, name="unrelated")

    def search(name: str, page: int = 1, per_page: int = 10) -> list[str]:
        response = api.stub.PostAppsSearches(
            service_pb2.PostAppsSearchesRequest(
                user_app_id=ME,
                app_query=resources_pb2.AppQuery(name=name),
                pagination=service_pb2.Pagination(page=page, per_page=per_page),
            ),
            metadata=api.pat,
        )
        assert response.status.code == SUCCESS, response.status
        return [app.id for app in response.apps]

    assert sorted(search(marker)) == sorted([first.id, f"{marker}-two"])
    assert search(marker, page=1, per_page=1) + search(marker, page=2, per_page=1) == search(marker)
    assert search(marker, page=3, per_page=1) == []
    assert search("%") == []  # wildcards match themselves


def test_apps_searches_show_another_user_only_public_apps(api: Api, server: RunningServer) -> None:
    from clarion.server.app import open_admin

    admin = open_admin(server.settings)
    other_pat = admin.users.create_pat(_new_user(admin))
    admin.store.close()
    marker = unique_id("shared").replace("-", "")
    public = create_app(
        api,
        name=marker,
        visibility=resources_pb2.Visibility(gettable=resources_pb2.Visibility.PUBLIC),
    )
    create_app(api, name=marker)
    response = api.stub.PostAppsSearches(
        service_pb2.PostAppsSearchesRequest(
            user_app_id=resources_pb2.UserAppIDSet(user_id="admin"),
            app_query=resources_pb2.AppQuery(name=marker),
        ),
        metadata=key_metadata(other_pat),
    )
    assert response.status.code == SUCCESS, response.status
    assert [app.id for app in response.apps] == [public.id]


def _new_user(admin: object) -> str:
    user_id = unique_id("user")
    admin.users.create_user(user_id)  # type: ignore[attr-defined]
    return user_id


def test_patch_apps_details_changes_details_only(api: Api) -> None:
    app = create_app(api, name="Old", description="old words")
    ua = resources_pb2.UserAppIDSet(user_id="me", app_id=app.id)
    metadata = struct_pb2.Struct()
    metadata.update({"team": "vision"})

    response = api.stub.PatchAppsDetails(
        service_pb2.PatchAppsDetailsRequest(
            user_app_id=ua,
            apps=[resources_pb2.App(description="new words", metadata=metadata)],
            action="merge",
        ),
        metadata=api.pat,
    )

    assert response.status.code == SUCCESS, response.status
    got = api.stub.GetApp(service_pb2.GetAppRequest(user_app_id=ua), metadata=api.pat).app
    assert (got.name, got.description) == ("Old", "new words")
    assert got.metadata["team"] == "vision"
    refused = api.stub.PatchAppsDetails(
        service_pb2.PatchAppsDetailsRequest(
            user_app_id=ua, apps=[resources_pb2.App(default_workflow_id="General")]
        ),
        metadata=api.pat,
    )
    assert refused.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "PatchApps" in refused.status.description
