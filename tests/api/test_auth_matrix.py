"""Every implemented method, called with the wrong credentials, refuses and leaks nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from google.protobuf.message import Message

from clarion.protocol.descriptor import AuthType, MethodSpec, v2_methods
from clarion.testing import TEST_ADMIN_PAT, running_server

NOT_IMPLEMENTED = 10040
KEY_INVALID = 11008
INSUFFICIENT_SCOPES = 11007
AUTH_METHOD_DISABLED = 11200
DOES_NOT_EXIST = 11101
OWNER_APP = "owned"
# The role of the collaborator "carol" on the owner's app: every scope that only reads, less
# those an owner keeps (keys, secrets).
READER_ROLE = frozenset(
    scope
    for method in v2_methods().values()
    for scope in method.scopes
    if (scope.endswith("_Get") or scope == "Search") and scope not in {"Keys_Get", "Secrets_Get"}
)
OTHER_APP = "elsewhere"
# Methods that change what they name although the descriptor asks only read scopes of them.
WRITES_UNDER_READ_SCOPES = ("Patch", "Put", "Delete")


def call(channel: grpc.Channel, method: MethodSpec, request: Message, token: str | None) -> Any:
    metadata = (("authorization", f"Key {token}"),) if token is not None else ()
    kwargs: dict[str, Any] = {
        "request_serializer": lambda m: m.SerializeToString(),
        "response_deserializer": method.response_type.FromString,
    }
    if method.client_streaming and method.server_streaming:
        stream = channel.stream_stream(method.full_name, **kwargs)
        return next(iter(stream(iter([request]), metadata=metadata, timeout=10)))
    if method.client_streaming:
        return channel.stream_unary(method.full_name, **kwargs)(
            iter([request]), metadata=metadata, timeout=10
        )
    if method.server_streaming:
        return next(
            iter(
                channel.unary_stream(method.full_name, **kwargs)(
                    request, metadata=metadata, timeout=10
                )
            )
        )
    return channel.unary_unary(method.full_name, **kwargs)(request, metadata=metadata, timeout=10)


def request_for(method: MethodSpec, user_id: str, app_id: str) -> Message:
    request = method.request_type()
    if "upload_config" in request.DESCRIPTOR.fields_by_name:
        # PostModelVersionsUpload names its app in its first message's upload_config.
        config = request.upload_config  # type: ignore[attr-defined]
        config.user_app_id.user_id, config.user_app_id.app_id = user_id, app_id
    if "user_app_id" in request.DESCRIPTOR.fields_by_name:
        request.user_app_id.user_id = user_id  # type: ignore[attr-defined]
        request.user_app_id.app_id = app_id  # type: ignore[attr-defined]
    return request


def leaks_nothing(response: Message) -> bool:
    return [field.name for field, _ in response.ListFields()] == ["status"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The admin with an app and keys; another user with a PAT and an app of their own."""
    from clarion.server.app import open_admin

    with running_server(tmp_path_factory.mktemp("authz")) as server:
        admin = open_admin(server.settings)
        admin.users.create_user("mallory")
        mallory_pat = admin.users.create_pat("mallory")
        admin.users.create_user("carol")
        carol_pat = admin.users.create_pat("carol")
        admin.store.close()
        channel = grpc.insecure_channel(server.grpc_target)
        methods = v2_methods()
        apps = ((TEST_ADMIN_PAT, OWNER_APP), (mallory_pat, OTHER_APP), (TEST_ADMIN_PAT, "probe"))
        for user_pat, app_id in apps:
            call(
                channel,
                methods["PostApps"],
                service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=app_id)]),
                user_pat,
            )

        def key(app_id: str, user_pat: str, scopes: list[str]) -> str:
            response = call(
                channel,
                methods["PostKeys"],
                service_pb2.PostKeysRequest(
                    keys=[resources_pb2.Key(scopes=scopes, apps=[resources_pb2.App(id=app_id)])]
                ),
                user_pat,
            )
            assert response.keys, response.status
            return str(response.keys[0].id)

        added = call(
            channel,
            methods["PostCollaborators"],
            service_pb2.PostCollaboratorsRequest(
                user_app_id=resources_pb2.UserAppIDSet(user_id="me", app_id=OWNER_APP),
                collaborators=[
                    resources_pb2.Collaborator(
                        user=resources_pb2.User(id="carol"), scopes=sorted(READER_ROLE)
                    )
                ],
            ),
            TEST_ADMIN_PAT,
        )
        assert added.collaborators, added.status
        keys = {
            "other_app_key": key(OTHER_APP, mallory_pat, ["All"]),
            "no_scope_key": key(OWNER_APP, TEST_ADMIN_PAT, ["Search"]),
        }
        # Probing runs each method for real (DeleteApp included): on an app kept for that.
        implemented = [
            m
            for m in methods.values()
            if m.auth_type is not AuthType.NO_AUTH
            and call(channel, m, request_for(m, "me", "probe"), TEST_ADMIN_PAT).status.code
            != NOT_IMPLEMENTED
        ]
        yield {
            "server": server,
            "channel": channel,
            "implemented": implemented,
            "mallory_pat": mallory_pat,
            "carol_pat": carol_pat,
            **keys,
        }
        channel.close()


def test_there_are_many_implemented_methods(world: dict[str, Any]) -> None:
    assert len(world["implemented"]) > 60


@pytest.mark.parametrize(
    "token", [None, "", "0" * 32, "not-a-token"], ids=["none", "empty", "unknown", "junk"]
)
def test_missing_or_unknown_credentials(world: dict[str, Any], token: str | None) -> None:
    for method in world["implemented"]:
        response = call(world["channel"], method, request_for(method, "admin", OWNER_APP), token)
        assert response.status.code == KEY_INVALID, method.name
        assert leaks_nothing(response), method.name


def test_api_key_of_another_app(world: dict[str, Any]) -> None:
    for method in world["implemented"]:
        response = call(
            world["channel"],
            method,
            request_for(method, "admin", OWNER_APP),
            world["other_app_key"],
        )
        expected = AUTH_METHOD_DISABLED if method.auth_type.user_level else KEY_INVALID
        assert response.status.code == expected, method.name
        assert leaks_nothing(response), method.name


def test_another_users_pat(world: dict[str, Any]) -> None:
    for method in world["implemented"]:
        if "user_app_id" not in method.request_type.DESCRIPTOR.fields_by_name:
            continue  # names no user (ListCloudProviders, MyScopesRoot): not another user's
        response = call(
            world["channel"], method, request_for(method, "admin", OWNER_APP), world["mallory_pat"]
        )
        assert response.status.code == DOES_NOT_EXIST, method.name
        assert leaks_nothing(response), method.name


def test_key_without_the_scopes(world: dict[str, Any]) -> None:
    for method in world["implemented"]:
        if method.auth_type.user_level or method.scopes <= {"Search"}:
            continue
        response = call(
            world["channel"], method, request_for(method, "me", OWNER_APP), world["no_scope_key"]
        )
        assert response.status.code == INSUFFICIENT_SCOPES, method.name
        assert leaks_nothing(response), method.name


def test_a_collaborator_without_the_roles_scopes(world: dict[str, Any]) -> None:
    """Carol's PAT has every scope, but on the owner's app only her role's count."""
    for method in world["implemented"]:
        if method.scopes <= READER_ROLE:
            continue
        response = call(
            world["channel"], method, request_for(method, "admin", OWNER_APP), world["carol_pat"]
        )
        assert response.status.code == INSUFFICIENT_SCOPES, method.name
        assert leaks_nothing(response), method.name


def test_a_collaborator_reads_as_the_owner_does(world: dict[str, Any]) -> None:
    """Within her role, Carol's reads of the owner's app answer as the owner's own do."""
    checked = 0
    for method in world["implemented"]:
        if not method.scopes <= READER_ROLE or method.auth_type.user_level:
            continue
        if method.name.startswith(WRITES_UNDER_READ_SCOPES):
            # The descriptor gives PatchModelToolkits & co read scopes only; they write, so a
            # reader is refused (test_writes_under_read_scopes_need_ownership).
            continue
        request = request_for(method, "admin", OWNER_APP)
        as_owner = call(world["channel"], method, request, TEST_ADMIN_PAT)
        as_carol = call(world["channel"], method, request, world["carol_pat"])
        assert as_carol.status.code == as_owner.status.code, method.name
        checked += 1
    assert checked > 20


def test_writes_under_read_scopes_need_ownership(world: dict[str, Any]) -> None:
    """A reader collaborator holds the read scopes such a method asks for, but it writes: she
    is refused, and the owner is not."""
    method = v2_methods()["PatchModelToolkits"]
    assert method.scopes <= READER_ROLE
    request = request_for(method, "admin", OWNER_APP)
    as_carol = call(world["channel"], method, request, world["carol_pat"])
    assert as_carol.status.code == INSUFFICIENT_SCOPES, as_carol.status
    assert "may read but not change" in as_carol.status.description
