"""Users, apps, keys and auth through the official clarifai-grpc client, on both channels."""

from __future__ import annotations

from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf import struct_pb2

from clarion.testing import RunningServer
from tests.api.conftest import Api, key_metadata
from tests.conftest import unique_id

SUCCESS = status_code_pb2.SUCCESS
INVALID_KEY = "Invalid API key or Invalid API key/application pair"


def create_app(api: Api, **fields: Any) -> resources_pb2.App:
    app_id = unique_id("app")
    response = api.stub.PostApps(
        service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=app_id, **fields)]),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    app: resources_pb2.App = response.apps[0]
    return app


def create_key(api: Api, app_id: str, scopes: list[str]) -> str:
    response = api.stub.PostKeys(
        service_pb2.PostKeysRequest(
            user_app_id=resources_pb2.UserAppIDSet(user_id="me"),
            keys=[
                resources_pb2.Key(
                    description="test key",
                    scopes=scopes,
                    apps=[resources_pb2.App(id=app_id, user_id="me")],
                )
            ],
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    return str(response.keys[0].id)


def test_app_created_with_pat_is_listed(api: Api) -> None:
    app = create_app(api, name="Pets", description="cats and dogs")
    assert app.user_id == "admin"
    assert app.created_at.seconds > 0

    listed = api.stub.ListApps(service_pb2.ListAppsRequest(per_page=1000), metadata=api.pat)

    assert listed.status.code == SUCCESS
    assert listed.status.req_id
    by_id = {a.id: a for a in listed.apps}
    assert by_id[app.id].name == "Pets"
    assert by_id[app.id].description == "cats and dogs"


def test_api_key_implies_its_app(api: Api) -> None:
    app = create_app(api)
    key = create_key(api, app.id, ["All"])

    response = api.stub.GetApp(service_pb2.GetAppRequest(), metadata=key_metadata(key))

    assert response.status.code == SUCCESS, response.status
    assert response.app.id == app.id


def test_api_key_is_refused_user_level_methods(api: Api) -> None:
    key = create_key(api, create_app(api).id, ["All"])

    response = api.stub.PostApps(
        service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=unique_id("app"))]),
        metadata=key_metadata(key),
    )

    assert response.status.code == status_code_pb2.CONN_AUTH_METHOD_DISABLED
    assert "personal access token" in response.status.description


def test_bad_key_gets_key_invalid_with_exact_description(api: Api) -> None:
    for token in ("0" * 32, "not-a-key-at-all"):
        response = api.stub.ListApps(service_pb2.ListAppsRequest(), metadata=key_metadata(token))
        assert response.status.code == status_code_pb2.CONN_KEY_INVALID
        assert response.status.description == INVALID_KEY


def test_key_without_scope_gets_insufficient_scopes(api: Api) -> None:
    app = create_app(api)
    key = create_key(api, app.id, ["Predict"])

    response = api.stub.GetApp(service_pb2.GetAppRequest(), metadata=key_metadata(key))

    assert response.status.code == status_code_pb2.CONN_INSUFFICIENT_SCOPES
    assert "Apps_Get" in response.status.description


def test_key_of_one_app_cannot_reach_another(api: Api) -> None:
    key = create_key(api, create_app(api).id, ["All"])
    other = create_app(api)

    response = api.stub.GetApp(
        service_pb2.GetAppRequest(user_app_id=resources_pb2.UserAppIDSet(app_id=other.id)),
        metadata=key_metadata(key),
    )

    assert response.status.code == status_code_pb2.CONN_KEY_INVALID
    assert response.status.description == INVALID_KEY


def test_method_not_built_yet_is_not_implemented(api: Api) -> None:
    app = create_app(api)

    response = api.stub.ListTasks(
        service_pb2.ListTasksRequest(user_app_id=resources_pb2.UserAppIDSet(app_id=app.id)),
        metadata=api.pat,
    )

    assert response.status.code == status_code_pb2.NOT_IMPLEMENTED
    assert "ListTasks" in response.status.description


def test_get_missing_app_is_does_not_exist(api: Api) -> None:
    response = api.stub.GetApp(
        service_pb2.GetAppRequest(user_app_id=resources_pb2.UserAppIDSet(app_id="nope")),
        metadata=api.pat,
    )
    assert response.status.code == status_code_pb2.CONN_DOES_NOT_EXIST
    assert "nope" in response.status.description


def test_duplicate_app_id_is_refused_and_keeps_the_original(api: Api) -> None:
    app = create_app(api, name="first")

    response = api.stub.PostApps(
        service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=app.id, name="second")]),
        metadata=api.pat,
    )

    assert response.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "already exists" in response.status.description
    kept = api.stub.GetApp(
        service_pb2.GetAppRequest(user_app_id=resources_pb2.UserAppIDSet(app_id=app.id)),
        metadata=api.pat,
    )
    assert kept.app.name == "first"


def test_invalid_app_id_is_refused(api: Api) -> None:
    response = api.stub.PostApps(
        service_pb2.PostAppsRequest(apps=[resources_pb2.App(id="no spaces/please")]),
        metadata=api.pat,
    )
    assert response.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "Invalid app id" in response.status.description


def test_patch_apps_merges_metadata(api: Api) -> None:
    metadata = struct_pb2.Struct()
    metadata.update({"team": {"lead": "ann", "size": 3}, "tier": "gold"})
    app = create_app(api, metadata=metadata)
    patch = struct_pb2.Struct()
    patch.update({"team": {"size": 4}})

    response = api.stub.PatchApps(
        service_pb2.PatchAppsRequest(
            apps=[resources_pb2.App(id=app.id, description="patched", metadata=patch)],
            action="merge",
        ),
        metadata=api.pat,
    )

    assert response.status.code == SUCCESS, response.status
    patched = response.apps[0]
    assert patched.description == "patched"
    assert dict(patched.metadata["team"]) == {"lead": "ann", "size": 4}
    assert patched.metadata["tier"] == "gold"


def test_list_apps_pages(api: Api) -> None:
    for _ in range(3):
        create_app(api)

    def page(number: int, per_page: int) -> list[str]:
        response = api.stub.ListApps(
            service_pb2.ListAppsRequest(page=number, per_page=per_page), metadata=api.pat
        )
        assert response.status.code == SUCCESS
        return [app.id for app in response.apps]

    first, second = page(1, 2), page(2, 2)
    assert len(first) == 2
    assert not set(first) & set(second)
    assert page(1000, 1000) == []
    too_many = api.stub.ListApps(service_pb2.ListAppsRequest(per_page=1001), metadata=api.pat)
    assert too_many.status.code == status_code_pb2.CONN_INVALID_REQUEST


def test_deleting_an_app_deletes_its_keys(api: Api) -> None:
    app = create_app(api)
    key = create_key(api, app.id, ["All"])

    deleted = api.stub.DeleteApp(
        service_pb2.DeleteAppRequest(user_app_id=resources_pb2.UserAppIDSet(app_id=app.id)),
        metadata=api.pat,
    )

    assert deleted.status.code == SUCCESS, deleted.status
    gone = api.stub.GetApp(
        service_pb2.GetAppRequest(user_app_id=resources_pb2.UserAppIDSet(app_id=app.id)),
        metadata=api.pat,
    )
    assert gone.status.code == status_code_pb2.CONN_DOES_NOT_EXIST
    refused = api.stub.GetApp(service_pb2.GetAppRequest(), metadata=key_metadata(key))
    assert refused.status.code == status_code_pb2.CONN_KEY_INVALID


def test_keys_are_listed_without_their_tokens_and_can_be_deleted(api: Api) -> None:
    token = create_key(api, create_app(api).id, ["Apps_Get", "Workflows_Get"])
    # Used once before it is deleted, so the server has it cached.
    used = api.stub.GetApp(service_pb2.GetAppRequest(), metadata=key_metadata(token))
    assert used.status.code == SUCCESS

    listed = api.stub.ListKeys(service_pb2.ListKeysRequest(per_page=1000), metadata=api.pat)

    assert listed.status.code == SUCCESS
    assert all(key.id != token for key in listed.keys)
    ours = [key for key in listed.keys if list(key.scopes) == ["Apps_Get", "Workflows_Get"]]
    assert ours
    fetched = api.stub.GetKey(service_pb2.GetKeyRequest(key_id=token), metadata=api.pat)
    assert fetched.status.code == SUCCESS
    deleted = api.stub.DeleteKey(service_pb2.DeleteKeyRequest(key_id=token), metadata=api.pat)
    assert deleted.status.code == SUCCESS
    refused = api.stub.GetApp(service_pb2.GetAppRequest(), metadata=key_metadata(token))
    assert refused.status.code == status_code_pb2.CONN_KEY_INVALID


def test_patch_keys_changes_scopes(api: Api) -> None:
    token = create_key(api, create_app(api).id, ["Predict"])

    patched = api.stub.PatchKeys(
        service_pb2.PatchKeysRequest(
            keys=[resources_pb2.Key(id=token, scopes=["Apps_Get", "Workflows_Get"])],
            action="merge",
        ),
        metadata=api.pat,
    )

    assert patched.status.code == SUCCESS, patched.status
    assert list(patched.keys[0].scopes) == ["Predict", "Apps_Get", "Workflows_Get"]
    allowed = api.stub.GetApp(service_pb2.GetAppRequest(), metadata=key_metadata(token))
    assert allowed.status.code == SUCCESS


def test_unknown_scope_is_refused(api: Api) -> None:
    response = api.stub.PostKeys(
        service_pb2.PostKeysRequest(
            keys=[resources_pb2.Key(scopes=["Everything"], apps=[resources_pb2.App(id="x")])]
        ),
        metadata=api.pat,
    )
    assert response.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "Everything" in response.status.description


def test_get_user_me(api: Api) -> None:
    response = api.stub.GetUser(
        service_pb2.GetUserRequest(user_app_id=resources_pb2.UserAppIDSet(user_id="me")),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS
    assert response.user.id == "admin"


def test_my_scopes_of_an_api_key(api: Api) -> None:
    app = create_app(api)
    key = create_key(api, app.id, ["Apps_Get", "Workflows_Get"])

    response = api.stub.MyScopes(service_pb2.MyScopesRequest(), metadata=key_metadata(key))

    assert response.status.code == SUCCESS, response.status
    assert list(response.scopes) == ["Apps_Get", "Workflows_Get"]
    assert response.app.id == app.id
    assert "GetApp" in response.endpoints
    assert "PostApps" not in response.endpoints


def test_list_scopes_comes_from_the_descriptor(api: Api) -> None:
    response = api.stub.ListScopes(service_pb2.ListScopesRequest(), metadata=api.pat)
    assert response.status.code == SUCCESS
    deps = {dep.endpoint: set(dep.depending_scopes) for dep in response.endpoint_deps}
    assert deps["GetApp"] == {"Apps_Get", "Workflows_Get"}
    assert "PostApps" not in deps  # user-level: not for app keys


def test_other_users_private_app_looks_missing(api: Api, server: RunningServer) -> None:
    from clarion.server.app import open_admin

    admin = open_admin(server.settings)
    other_user = unique_id("user")
    admin.users.create_user(other_user)
    other_pat = admin.users.create_pat(other_user)
    admin.store.close()
    private = create_app(api)

    def get(app_id: str) -> service_pb2.SingleAppResponse:
        response: service_pb2.SingleAppResponse = api.stub.GetApp(
            service_pb2.GetAppRequest(
                user_app_id=resources_pb2.UserAppIDSet(user_id="admin", app_id=app_id)
            ),
            metadata=key_metadata(other_pat),
        )
        return response

    hidden, missing = get(private.id), get("no-such-app")
    assert hidden.status.code == missing.status.code == status_code_pb2.CONN_DOES_NOT_EXIST
    assert "does not exist" in hidden.status.description
    listed = api.stub.ListApps(
        service_pb2.ListAppsRequest(user_app_id=resources_pb2.UserAppIDSet(user_id="admin")),
        metadata=key_metadata(other_pat),
    )
    assert listed.status.code == SUCCESS
    assert private.id not in [app.id for app in listed.apps]


# A key grants only what it holds: no key may mint or patch a key wider than itself.

PAT_TYPE = "personal_access_token"


def post_key(api: Api, token: str, **fields: Any) -> Any:
    return api.stub.PostKeys(
        service_pb2.PostKeysRequest(keys=[resources_pb2.Key(**fields)]),
        metadata=key_metadata(token),
    )


def create_pat(api: Api, scopes: list[str], endpoints: tuple[str, ...] = ()) -> str:
    response = post_key(
        api, api.server.admin_pat, type=PAT_TYPE, scopes=scopes, endpoints=endpoints
    )
    assert response.status.code == SUCCESS, response.status
    return str(response.keys[0].id)


def scopes_of(api: Api, token: str) -> list[str]:
    response = api.stub.GetKey(service_pb2.GetKeyRequest(key_id=token), metadata=api.pat)
    assert response.status.code == SUCCESS, response.status
    return list(response.key.scopes)


def patch_key(api: Api, token: str, action: str, *keys: resources_pb2.Key) -> Any:
    return api.stub.PatchKeys(
        service_pb2.PatchKeysRequest(keys=list(keys), action=action),
        metadata=key_metadata(token),
    )


@pytest.mark.parametrize("action", ["merge", "overwrite"])
def test_a_scoped_pat_cannot_widen_its_own_scopes(api: Api, action: str) -> None:
    scoped = create_pat(api, ["Keys_Add", "Keys_Get"])

    response = patch_key(api, scoped, action, resources_pb2.Key(id=scoped, scopes=["All"]))

    assert response.status.code == status_code_pb2.CONN_INSUFFICIENT_SCOPES
    assert "All" in response.status.description
    assert "Keys_Add, Keys_Get" in response.status.description
    assert scopes_of(api, scoped) == ["Keys_Add", "Keys_Get"]
    still_refused = api.stub.ListApps(service_pb2.ListAppsRequest(), metadata=key_metadata(scoped))
    assert still_refused.status.code == status_code_pb2.CONN_INSUFFICIENT_SCOPES


@pytest.mark.parametrize("action", ["merge", "overwrite"])
def test_a_scoped_pat_cannot_widen_another_key(api: Api, action: str) -> None:
    scoped = create_pat(api, ["Keys_Add", "Keys_Get", "Predict"])
    app_key = create_key(api, create_app(api).id, ["Predict"])
    renamed = create_key(api, create_app(api).id, ["Predict"])

    response = patch_key(
        api,
        scoped,
        action,
        resources_pb2.Key(id=renamed, description="renamed"),
        resources_pb2.Key(id=app_key, scopes=["Predict", "Inputs_Get"]),
    )
    within = patch_key(
        api, scoped, action, resources_pb2.Key(id=app_key, scopes=["Predict", "Keys_Get"])
    )

    assert response.status.code == status_code_pb2.CONN_INSUFFICIENT_SCOPES
    assert "Inputs_Get" in response.status.description
    assert scopes_of(api, app_key) == ["Predict", "Keys_Get"]  # only the patch within its own
    got = api.stub.GetKey(service_pb2.GetKeyRequest(key_id=renamed), metadata=api.pat)
    assert got.key.description == "test key"  # the request was refused as a whole
    assert within.status.code == SUCCESS, within.status


def test_a_scoped_pat_cannot_create_a_wider_key(api: Api) -> None:
    scoped = create_pat(api, ["Apps_Get", "Keys_Add", "Keys_Get"])
    app = create_app(api)
    marker = unique_id("minted")

    wider = [
        post_key(api, scoped, type=PAT_TYPE, scopes=["All"], description=marker),
        post_key(api, scoped, type=PAT_TYPE, description=marker),  # a PAT defaults to All
        post_key(api, scoped, scopes=["Inputs_Get"], apps=[resources_pb2.App(id=app.id)]),
    ]
    within = post_key(api, scoped, scopes=["Apps_Get"], apps=[resources_pb2.App(id=app.id)])

    for refused in wider:
        assert refused.status.code == status_code_pb2.CONN_INSUFFICIENT_SCOPES, refused.status
        assert "cannot grant scopes" in refused.status.description
    listed = api.stub.ListKeys(service_pb2.ListKeysRequest(per_page=1000), metadata=api.pat)
    assert marker not in [key.description for key in listed.keys]
    assert within.status.code == SUCCESS, within.status


def test_a_key_limited_to_endpoints_creates_only_keys_limited_to_them(api: Api) -> None:
    limited = create_pat(api, ["All"], endpoints=("PostKeys", "ListKeys"))

    unlimited = post_key(api, limited, type=PAT_TYPE)
    other = post_key(api, limited, type=PAT_TYPE, endpoints=["PostKeys", "ListApps"])
    within = post_key(api, limited, type=PAT_TYPE, endpoints=["ListKeys"])

    assert unlimited.status.code == status_code_pb2.CONN_INSUFFICIENT_SCOPES
    assert "must name endpoints" in unlimited.status.description
    assert other.status.code == status_code_pb2.CONN_INSUFFICIENT_SCOPES
    assert "ListApps" in other.status.description
    assert within.status.code == SUCCESS, within.status


def test_a_full_access_pat_still_grants_anything(api: Api) -> None:
    full = create_pat(api, [])  # no scopes: All

    minted = post_key(api, full, type=PAT_TYPE, scopes=["All"])
    scoped = create_pat(api, ["Predict"])
    widened = patch_key(api, full, "merge", resources_pb2.Key(id=scoped, scopes=["Inputs_Get"]))

    assert minted.status.code == SUCCESS, minted.status
    assert widened.status.code == SUCCESS, widened.status
    assert scopes_of(api, scoped) == ["Predict", "Inputs_Get"]
