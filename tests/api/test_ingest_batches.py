"""Ingestion in batches, through the official client on both channels.

The server here has one worker thread that claims up to 16 inputs at once, so the inputs of one
``PostInputs`` call (committed together) are claimed as one batch: the pictures go through the
models in one run and every outcome is written in one transaction. An input that cannot be
ingested must fail alone, with its reason, and the others of its batch must be stored whole.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from PIL import Image

from clarion.testing import RunningServer, running_server
from tests.api.conftest import Api, official_stub
from tests.api.photos import real_photo
from tests.conftest import unique_id
from tests.images import ImageServer, image_server

SUCCESS = status_code_pb2.SUCCESS
INPUT_SUCCESS = 30000
INPUT_PENDING = 30001
INPUT_FAILED = 30002
INPUT_QUEUED = 30003


@pytest.fixture(scope="module")
def images() -> Iterator[ImageServer]:
    with image_server() as served:
        yield served


@pytest.fixture(scope="module")
def batch_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(
        tmp_path_factory.mktemp("batches"), allow_private_urls=True, workers=1, ingest_batch=16
    ) as running:
        yield running


@pytest.fixture(params=["grpc", "json"])
def api(request: pytest.FixtureRequest, batch_server: RunningServer) -> Api:
    return Api(official_stub(batch_server, request.param), request.param, batch_server)


@pytest.fixture
def app_id(api: Api) -> str:
    app_id = unique_id("app")
    response = api.stub.PostApps(
        service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=app_id)]), metadata=api.pat
    )
    assert response.status.code == SUCCESS, response.status
    return app_id


def user_app(app_id: str) -> resources_pb2.UserAppIDSet:
    return resources_pb2.UserAppIDSet(user_id="me", app_id=app_id)


def image_input(input_id: str, *, url: str = "", data: bytes = b"") -> resources_pb2.Input:
    image = resources_pb2.Image(url=url, base64=data, allow_duplicate_url=True)
    return resources_pb2.Input(id=input_id, data=resources_pb2.Data(image=image))


def all_done(api: Api, app_id: str, count: int, timeout: float = 60) -> dict[str, Any]:
    """Every input of the app, by id, once none is pending any more."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = api.stub.ListInputs(
            service_pb2.ListInputsRequest(user_app_id=user_app(app_id), per_page=100),
            metadata=api.pat,
        )
        assert listed.status.code == SUCCESS, listed.status
        found = {i.id: i for i in listed.inputs}
        waiting = [i for i in found.values() if i.status.code in (INPUT_PENDING, INPUT_QUEUED)]
        if len(found) == count and not waiting:
            return found
        time.sleep(0.1)
    raise AssertionError(f"ingestion of {count} inputs did not finish in {timeout}s")


def nearest(api: Api, app_id: str, input_id: str) -> list[str]:
    """Input ids, most similar first, to the stored picture of ``input_id``."""
    rank = resources_pb2.Rank(annotation=resources_pb2.Annotation(input_id=input_id))
    found = api.stub.PostInputsSearches(
        service_pb2.PostInputsSearchesRequest(
            user_app_id=user_app(app_id),
            searches=[resources_pb2.Search(query=resources_pb2.Query(ranks=[rank]))],
        ),
        metadata=api.pat,
    )
    assert found.status.code == SUCCESS, found.status
    return [hit.input.id for hit in found.hits]


def test_one_bad_input_of_a_batch_fails_alone_and_the_rest_are_stored(
    api: Api, app_id: str, images: ImageServer
) -> None:
    missing = images.url(f"/{unique_id('missing')}.png")
    garbage = images.add(f"/{unique_id('garbage')}.png", b"these bytes are no picture")
    fetched = images.add(f"/{unique_id('sea')}.jpg", real_photo("sea"), "image/jpeg")
    good = {name: real_photo(name) for name in ("dog", "horses", "mountains")}
    text = resources_pb2.Input(
        id="words", data=resources_pb2.Data(text=resources_pb2.Text(raw="a cat on a mat"))
    )
    posted = api.stub.PostInputs(
        service_pb2.PostInputsRequest(
            user_app_id=user_app(app_id),
            inputs=[
                *(image_input(name, data=data) for name, data in good.items()),
                image_input("missing", url=missing),
                image_input("sea", url=fetched),
                image_input("garbage", url=garbage),
                text,
            ],
        ),
        metadata=api.pat,
    )
    assert posted.status.code == SUCCESS, posted.status

    found = all_done(api, app_id, 7)

    failed = {i for i, found_input in found.items() if found_input.status.code == INPUT_FAILED}
    assert failed == {"missing", "garbage"}
    assert "404" in found["missing"].status.description
    assert missing in found["missing"].status.description
    assert "image" in found["garbage"].status.description.lower()
    assert garbage in found["garbage"].status.description
    stored = ["dog", "horses", "mountains", "sea", "words"]
    assert {i: found[i].status.code for i in stored} == dict.fromkeys(stored, INPUT_SUCCESS)
    # Each picture's size came from its own decode, not a neighbour's in the batch.
    for input_id, data in [*good.items(), ("sea", real_photo("sea"))]:
        info = found[input_id].data.image.image_info
        assert (info.width, info.height) == Image.open(io.BytesIO(data)).size
    # And its vector is its own: a search by each stored picture finds that picture first,
    # and never the inputs that failed.
    for input_id in ["dog", "horses", "mountains", "sea"]:
        hits = nearest(api, app_id, input_id)
        assert hits[0] == input_id, hits
        assert not {"missing", "garbage"} & set(hits)
    counts = api.stub.GetInputCount(
        service_pb2.GetInputCountRequest(user_app_id=user_app(app_id)), metadata=api.pat
    ).counts
    assert (counts.processed, counts.errors) == (5, 2)
