"""Collaborators through the official client on both channels: an owner lets another user in
with a role's scopes, and that user reaches the app with their own PAT, within those scopes."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from clarion.protocol.descriptor import v2_methods
from clarion.storage.accounts import UserRecord
from tests.api.conftest import Api, key_metadata
from tests.api.test_apps_keys import create_app
from tests.api.test_concepts_annotations_datasets import add_image
from tests.conftest import unique_id

SUCCESS = status_code_pb2.SUCCESS
READ_INPUTS = ["Apps_Get", "Inputs_Get", "Annotations_Get", "Concepts_Get"]


def new_user(api: Api, email: str = "") -> tuple[str, str]:
    """A user of this server (made as an administrator would) and their PAT."""
    from clarion.server.app import open_admin

    admin = open_admin(api.server.settings)
    try:
        user_id = unique_id("user")
        admin.store.create_user(UserRecord(id=user_id, email=email))
        return user_id, admin.users.create_pat(user_id)
    finally:
        admin.store.close()


def owner_app(app_id: str) -> resources_pb2.UserAppIDSet:
    return resources_pb2.UserAppIDSet(user_id="admin", app_id=app_id)


def add_collaborator(api: Api, app_id: str, user_id: str, scopes: list[str]) -> Any:
    return api.stub.PostCollaborators(
        service_pb2.PostCollaboratorsRequest(
            user_app_id=owner_app(app_id),
            collaborators=[
                resources_pb2.Collaborator(user=resources_pb2.User(id=user_id), scopes=scopes)
            ],
        ),
        metadata=api.pat,
    )


def list_inputs(api: Api, app_id: str, pat: str) -> Any:
    return api.stub.ListInputs(
        service_pb2.ListInputsRequest(user_app_id=owner_app(app_id)), metadata=key_metadata(pat)
    )


def test_a_collaborator_reaches_the_app_with_the_roles_scopes(api: Api) -> None:
    app = create_app(api).id
    add_image(api, app, "shared")
    user_id, pat = new_user(api)
    assert list_inputs(api, app, pat).status.code == status_code_pb2.CONN_DOES_NOT_EXIST

    added = add_collaborator(api, app, user_id, READ_INPUTS)
    assert added.status.code == SUCCESS, added.status
    assert added.collaborators[0].user.id == user_id
    assert list(added.collaborators[0].scopes) == READ_INPUTS

    listed = list_inputs(api, app, pat)
    assert listed.status.code == SUCCESS, listed.status
    assert [item.id for item in listed.inputs] == ["shared"]
    # Writing needs scopes the role does not grant.
    refused = api.stub.PostDatasets(
        service_pb2.PostDatasetsRequest(
            user_app_id=owner_app(app), datasets=[resources_pb2.Dataset(id="d")]
        ),
        metadata=key_metadata(pat),
    )
    assert refused.status.code == status_code_pb2.CONN_INSUFFICIENT_SCOPES
    # What only the owner does stays with the owner.
    delete_app = api.stub.DeleteApp(
        service_pb2.DeleteAppRequest(user_app_id=owner_app(app)), metadata=key_metadata(pat)
    )
    assert delete_app.status.code != SUCCESS

    collaborations = api.stub.ListCollaborations(
        service_pb2.ListCollaborationsRequest(user_app_id=resources_pb2.UserAppIDSet(user_id="me")),
        metadata=key_metadata(pat),
    )
    assert collaborations.status.code == SUCCESS, collaborations.status
    [collaboration] = collaborations.collaborations
    assert (collaboration.app.id, collaboration.app_owner.id) == (app, "admin")
    assert list(collaboration.scopes) == READ_INPUTS


def test_patch_widens_the_role_and_delete_ends_it(api: Api) -> None:
    app = create_app(api).id
    user_id, pat = new_user(api)
    add_collaborator(api, app, user_id, ["Apps_Get", "Datasets_Get", "SavedSearch_Get"])
    post_dataset = service_pb2.PostDatasetsRequest(
        user_app_id=owner_app(app), datasets=[resources_pb2.Dataset(id="by-collaborator")]
    )
    before = api.stub.PostDatasets(post_dataset, metadata=key_metadata(pat))
    assert before.status.code == status_code_pb2.CONN_INSUFFICIENT_SCOPES

    patched = api.stub.PatchCollaborators(
        service_pb2.PatchCollaboratorsRequest(
            user_app_id=owner_app(app),
            action="merge",
            collaborators=[
                resources_pb2.Collaborator(id=user_id, scopes=["Datasets_Add", "SavedSearch_Add"])
            ],
        ),
        metadata=api.pat,
    )
    assert patched.status.code == SUCCESS, patched.status
    assert set(patched.collaborators[0].scopes) >= {"Datasets_Add", "Datasets_Get"}
    after = api.stub.PostDatasets(post_dataset, metadata=key_metadata(pat))
    assert after.status.code == SUCCESS, after.status

    deleted = api.stub.DeleteCollaborators(
        service_pb2.DeleteCollaboratorsRequest(
            user_app_id=owner_app(app), collaborator_ids=[user_id]
        ),
        metadata=api.pat,
    )
    assert deleted.status.code == SUCCESS, deleted.status
    gone = api.stub.ListDatasets(
        service_pb2.ListDatasetsRequest(user_app_id=owner_app(app)), metadata=key_metadata(pat)
    )
    assert gone.status.code == status_code_pb2.CONN_DOES_NOT_EXIST


def test_list_collaborators_pages_and_deletes_by_email(api: Api) -> None:
    app = create_app(api).id
    users = [new_user(api, email=f"{unique_id('mail')}@example.com") for _ in range(3)]
    for user_id, _ in users:
        assert add_collaborator(api, app, user_id, READ_INPUTS).status.code == SUCCESS

    def page(number: int) -> list[str]:
        response = api.stub.ListCollaborators(
            service_pb2.ListCollaboratorsRequest(
                user_app_id=owner_app(app), page=number, per_page=2
            ),
            metadata=api.pat,
        )
        assert response.status.code == SUCCESS, response.status
        assert response.app_owner.id == "admin"
        return [collaborator.user.id for collaborator in response.collaborators]

    assert page(1) + page(2) == [user_id for user_id, _ in users]

    from clarion.server.app import open_admin

    admin = open_admin(api.server.settings)
    email = admin.store.get_user(users[0][0]).email  # type: ignore[union-attr]
    admin.store.close()
    deleted = api.stub.DeleteCollaborators(
        service_pb2.DeleteCollaboratorsRequest(user_app_id=owner_app(app), user_emails=[email]),
        metadata=api.pat,
    )
    assert deleted.status.code == SUCCESS, deleted.status
    assert page(1) + page(2) == [user_id for user_id, _ in users[1:]]


def test_roles_clarion_refuses(api: Api) -> None:
    app = create_app(api).id
    user_id, _ = new_user(api)
    cases = {
        "All": ["All"],
        "stay with the app's owner": ["Keys_Get"],
        "Unknown scope": ["Inputs_Teleport"],
    }
    for expected, scopes in cases.items():
        refused = add_collaborator(api, app, user_id, scopes)
        assert refused.status.code == status_code_pb2.CONN_INVALID_REQUEST, scopes
        assert expected in refused.status.description
    assert add_collaborator(api, app, "nobody-here", READ_INPUTS).status.code == (
        status_code_pb2.CONN_DOES_NOT_EXIST
    )
    owner = add_collaborator(api, app, "admin", READ_INPUTS)
    assert owner.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert add_collaborator(api, app, user_id, READ_INPUTS).status.code == SUCCESS
    twice = add_collaborator(api, app, user_id, READ_INPUTS)
    assert "already exists" in twice.status.description


def test_a_collaborator_cannot_add_collaborators(api: Api) -> None:
    app = create_app(api).id
    user_id, pat = new_user(api)
    other_id, _ = new_user(api)
    add_collaborator(api, app, user_id, ["Apps_Get", "Collaborators_Get"])
    listed = api.stub.ListCollaborators(
        service_pb2.ListCollaboratorsRequest(user_app_id=owner_app(app)),
        metadata=key_metadata(pat),
    )
    assert listed.status.code == SUCCESS, listed.status
    refused = api.stub.PostCollaborators(
        service_pb2.PostCollaboratorsRequest(
            user_app_id=owner_app(app),
            collaborators=[resources_pb2.Collaborator(user=resources_pb2.User(id=other_id))],
        ),
        metadata=key_metadata(pat),
    )
    assert refused.status.code == status_code_pb2.CONN_INSUFFICIENT_SCOPES


def test_default_role_leaves_out_the_owners_scopes(api: Api) -> None:
    app = create_app(api).id
    user_id, _ = new_user(api)
    added = add_collaborator(api, app, user_id, [])
    scopes = set(added.collaborators[0].scopes)
    assert {"Inputs_Add", "Models_Train", "Datasets_Get"} <= scopes
    assert not scopes & {"Apps_Delete", "Keys_Get", "Collaborators_Add"}


def test_a_narrow_role_on_a_public_app_still_reads_what_anyone_may(api: Api) -> None:
    app = create_app(
        api, visibility=resources_pb2.Visibility(gettable=resources_pb2.Visibility.Gettable.PUBLIC)
    ).id
    add_image(api, app, "public-photo")
    user_id, pat = new_user(api)
    add_collaborator(api, app, user_id, ["Apps_Get"])
    listed = list_inputs(api, app, pat)
    assert listed.status.code == SUCCESS, listed.status
    assert [item.id for item in listed.inputs] == ["public-photo"]
    write = api.stub.PostDatasets(
        service_pb2.PostDatasetsRequest(
            user_app_id=owner_app(app), datasets=[resources_pb2.Dataset(id="d")]
        ),
        metadata=key_metadata(pat),
    )
    assert write.status.code == status_code_pb2.CONN_INSUFFICIENT_SCOPES


def save_search(api: Api, app_id: str, pat: str) -> Any:
    return api.stub.PostInputsSearches(
        service_pb2.PostInputsSearchesRequest(
            user_app_id=owner_app(app_id),
            searches=[
                resources_pb2.Search(id=unique_id("s"), query=resources_pb2.Query(), save=True)
            ],
        ),
        metadata=key_metadata(pat),
    )


def test_a_public_apps_reader_made_collaborator_is_narrowed_at_once(api: Api) -> None:
    """Who does not collaborate on a public app is remembered for reads of it (so predicting
    with a public model costs no query a call); adding them forgets that at once."""
    app = create_app(
        api, visibility=resources_pb2.Visibility(gettable=resources_pb2.Visibility.Gettable.PUBLIC)
    ).id
    user_id, pat = new_user(api)
    as_stranger = save_search(api, app, pat)  # her PAT holds every scope: refused as a reader
    assert as_stranger.status.code == status_code_pb2.CONN_INSUFFICIENT_SCOPES
    assert "may read but not change" in as_stranger.status.description

    added = add_collaborator(api, app, user_id, sorted(v2_methods()["PostInputsSearches"].scopes))
    assert added.status.code == SUCCESS, added.status
    as_collaborator = save_search(api, app, pat)  # now narrowed to her role's scopes
    assert as_collaborator.status.code == status_code_pb2.CONN_INSUFFICIENT_SCOPES
    assert "SavedSearch_Add" in as_collaborator.status.description
