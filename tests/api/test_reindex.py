"""Reindexing: a new base workflow (PatchApps, PatchApp) or ``clarion reindex`` indexes the
app's existing inputs again in the background, and searches then reflect the new workflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from clarion.testing import running_server
from tests.api.conftest import Api, official_stub
from tests.api.test_search import CHELSEA, OTHERS
from tests.api.test_training import until
from tests.api.test_workflows import node, post_workflow
from tests.conftest import unique_id
from tests.processes import clarion

SUCCESS = status_code_pb2.SUCCESS
NSFW = "nsfw-recognition"
SFW = "ai_RT20lm2Q"  # Clarifai's id of the nsfw model's "sfw" concept
PHOTOS = {"chelsea": CHELSEA, "coffee": OTHERS["coffee"], "rocket": OTHERS["rocket"]}


def new_app(api: Api, **fields: Any) -> resources_pb2.UserAppIDSet:
    app_id = unique_id("reindex")
    response = api.stub.PostApps(
        service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=app_id, **fields)]),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    return resources_pb2.UserAppIDSet(app_id=app_id)


def post_photos(api: Api, ua: resources_pb2.UserAppIDSet) -> None:
    inputs = [
        resources_pb2.Input(
            id=input_id, data=resources_pb2.Data(image=resources_pb2.Image(base64=content))
        )
        for input_id, content in PHOTOS.items()
    ]
    posted = api.stub.PostInputs(
        service_pb2.PostInputsRequest(user_app_id=ua, inputs=inputs), metadata=api.pat
    )
    assert posted.status.code == SUCCESS, posted.status
    until(lambda: counts(api, ua), lambda found: found.processed == len(PHOTOS))


def counts(api: Api, ua: resources_pb2.UserAppIDSet) -> Any:
    return api.stub.GetInputCount(
        service_pb2.GetInputCountRequest(user_app_id=ua), metadata=api.pat
    ).counts


def search(api: Api, ua: resources_pb2.UserAppIDSet, rank: resources_pb2.Rank) -> list[str]:
    response = api.stub.PostInputsSearches(
        service_pb2.PostInputsSearchesRequest(
            user_app_id=ua, searches=[resources_pb2.Search(query=resources_pb2.Query(ranks=[rank]))]
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    return [hit.input.id for hit in response.hits]


def by_concept(concept_id: str = "", name: str = "") -> resources_pb2.Rank:
    concepts = [resources_pb2.Concept(id=concept_id, name=name, value=1)]
    return resources_pb2.Rank(
        annotation=resources_pb2.Annotation(data=resources_pb2.Data(concepts=concepts))
    )


def by_image(content: bytes) -> resources_pb2.Rank:
    image = resources_pb2.Image(base64=content)
    return resources_pb2.Rank(
        annotation=resources_pb2.Annotation(data=resources_pb2.Data(image=image))
    )


def moderation_workflow(api: Api, ua: resources_pb2.UserAppIDSet) -> str:
    """A base workflow whose only concepts are ``sfw`` and ``nsfw``."""
    assert post_workflow(api, ua, "moderate", node("safety", NSFW)).status.code == SUCCESS
    return "moderate"


def test_a_new_base_workflow_reindexes_the_inputs_already_there(api: Api) -> None:
    ua = new_app(api)
    post_photos(api, ua)
    assert search(api, ua, by_concept(SFW)) == []  # General does not predict it
    assert search(api, ua, by_concept(name="cat"))[0] == "chelsea"  # "tabby cat", from General

    workflow = moderation_workflow(api, ua)
    patched = api.stub.PatchApps(
        service_pb2.PatchAppsRequest(
            apps=[resources_pb2.App(id=ua.app_id, default_workflow_id=workflow)],
            action="overwrite",
        ),
        metadata=api.pat,
    )
    assert patched.status.code == SUCCESS, patched.status

    found = until(lambda: search(api, ua, by_concept(SFW)), lambda hits: len(hits) == 3)
    assert set(found) == set(PHOTOS)
    assert search(api, ua, by_concept(name="cat")) == []  # the General concepts are replaced
    assert search(api, ua, by_image(CHELSEA))[0] == "chelsea"  # the embedding is kept
    assert counts(api, ua).processed == 3  # the inputs stay processed throughout


def test_patch_app_back_to_general_reindexes_too(api: Api) -> None:
    ua = new_app(api)
    workflow = moderation_workflow(api, ua)
    patch = service_pb2.PatchAppRequest(
        user_app_id=ua, app=resources_pb2.App(id=ua.app_id, default_workflow_id=workflow)
    )
    assert api.stub.PatchApp(patch, metadata=api.pat).status.code == SUCCESS
    post_photos(api, ua)
    assert set(search(api, ua, by_concept(SFW))) == set(PHOTOS)

    patch.app.default_workflow_id = "General"
    assert api.stub.PatchApp(patch, metadata=api.pat).status.code == SUCCESS
    until(lambda: search(api, ua, by_concept(SFW)), lambda hits: hits == [])
    assert search(api, ua, by_concept(name="cat"))[0] == "chelsea"


def test_clarion_reindex_while_the_server_runs(tmp_path: Path) -> None:
    """The base workflow is named before it exists, so the inputs get General; once it
    exists, ``clarion reindex`` applies it."""
    with running_server(tmp_path) as server:
        api = Api(official_stub(server, "grpc"), "grpc", server)
        ua = new_app(api, default_workflow_id="moderate")
        post_photos(api, ua)
        assert search(api, ua, by_concept(SFW)) == []
        moderation_workflow(api, ua)

        result = clarion("reindex", "admin", ua.app_id, "--data-dir", str(tmp_path))

        assert result.returncode == 0, result.stderr
        assert f"Queued a reindex of 3 inputs of admin/{ua.app_id}" in result.stdout
        found = until(lambda: search(api, ua, by_concept(SFW)), lambda hits: len(hits) == 3)
        assert set(found) == set(PHOTOS)


def test_clarion_reindex_of_an_unknown_app_is_a_clear_error(tmp_path: Path) -> None:
    result = clarion("reindex", "admin", "nowhere", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert "app 'nowhere' of user 'admin' does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_input_count_shows_a_reindex_still_to_run(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        api = Api(official_stub(server, "grpc"), "grpc", server)
        ua = new_app(api)
        post_photos(api, ua)
    # Queued while no server runs; the next server has no workers to run it.
    queued = clarion("reindex", "admin", ua.app_id, "--data-dir", str(tmp_path))
    assert queued.returncode == 0, queued.stderr
    with running_server(tmp_path, workers=0) as server:
        api = Api(official_stub(server, "json"), "json", server)
        count = counts(api, ua)
    assert (count.processed, count.to_reindex, count.reindexed, count.reindex_errors) == (
        3,
        3,
        0,
        0,
    )
