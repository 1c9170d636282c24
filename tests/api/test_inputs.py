"""Inputs through the official client on both channels: upload, ingestion, patch, list, refuse."""

from __future__ import annotations

import hashlib
import io
import secrets
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2
from google.protobuf import struct_pb2
from PIL import Image

from clarion.server.tls import write_local_certificates
from clarion.testing import RunningServer, database_under_test, running_server
from tests.api.conftest import Api, official_stub
from tests.conftest import unique_id
from tests.images import (
    ImageServer,
    bomb_png,
    gzip_bomb,
    image_server,
    jpeg_bytes,
    png_bytes,
    traced_peak,
)

SUCCESS = status_code_pb2.SUCCESS
INPUT_SUCCESS = 30000
INPUT_PENDING = 30001
INPUT_FAILED = 30002


@pytest.fixture(scope="module")
def images() -> Iterator[ImageServer]:
    with image_server() as served:
        yield served


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server that may fetch from loopback, where the test's image server runs."""
    with running_server(tmp_path_factory.mktemp("inputs"), allow_private_urls=True) as running:
        yield running


@pytest.fixture(params=["grpc", "json"])
def api(request: pytest.FixtureRequest, open_server: RunningServer) -> Api:
    return Api(official_stub(open_server, request.param), request.param, open_server)


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


def post(api: Api, app_id: str, *inputs: resources_pb2.Input, **fields: Any) -> Any:
    return api.stub.PostInputs(
        service_pb2.PostInputsRequest(user_app_id=user_app(app_id), inputs=list(inputs), **fields),
        metadata=api.pat,
    )


def get(api: Api, app_id: str, input_id: str) -> Any:
    return api.stub.GetInput(
        service_pb2.GetInputRequest(user_app_id=user_app(app_id), input_id=input_id),
        metadata=api.pat,
    )


def wait_until_done(api: Api, app_id: str, input_id: str, timeout: float = 30) -> Any:
    """Poll GetInput as the official clients do until the input leaves pending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = get(api, app_id, input_id)
        assert response.status.code == SUCCESS, response.status
        if response.input.status.code not in (INPUT_PENDING, 30003):
            return response.input
        time.sleep(0.05)
    raise AssertionError(f"input {input_id} still pending after {timeout}s")


def image_input(input_id: str = "", *, url: str = "", data: bytes = b"", **extra: Any) -> Any:
    image = resources_pb2.Image(url=url, base64=data, allow_duplicate_url=True)
    return resources_pb2.Input(id=input_id, data=resources_pb2.Data(image=image, **extra))


def metadata(values: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def test_upload_by_url_and_by_bytes_reaches_success(
    api: Api, app_id: str, images: ImageServer
) -> None:
    url = images.add(f"/{unique_id('img')}.png", png_bytes((64, 48)))
    geo = resources_pb2.Geo(geo_point=resources_pb2.GeoPoint(longitude=2.35, latitude=48.85))
    by_url = image_input(
        "by-url",
        url=url,
        concepts=[
            resources_pb2.Concept(id="cat", value=1),
            resources_pb2.Concept(id="dog", value=0),
        ],
        metadata=metadata({"owner": {"name": "ann"}, "tags": ["a", "b"]}),
        geo=geo,
    )
    by_bytes = image_input("by-bytes", data=jpeg_bytes((80, 60)))

    posted = post(api, app_id, by_url, by_bytes)

    assert posted.status.code == SUCCESS, posted.status
    assert [i.id for i in posted.inputs] == ["by-url", "by-bytes"]
    assert all(i.status.code in (INPUT_PENDING, INPUT_SUCCESS) for i in posted.inputs)
    # clarifai==2.6.2 reads every input's status description; a new input's is Clarifai's.
    described = {INPUT_PENDING: "Download pending", INPUT_SUCCESS: "Download complete"}
    assert [i.status.description for i in posted.inputs] == [
        described[i.status.code] for i in posted.inputs
    ]
    fetched = wait_until_done(api, app_id, "by-url")
    assert fetched.status.code == INPUT_SUCCESS, fetched.status
    assert fetched.data.image.url == url
    assert (fetched.data.image.image_info.width, fetched.data.image.image_info.height) == (64, 48)
    assert [(c.id, c.value) for c in fetched.data.concepts] == [("cat", 1.0), ("dog", 0.0)]
    assert fetched.data.metadata["owner"]["name"] == "ann"
    assert list(fetched.data.metadata["tags"]) == ["a", "b"]
    assert fetched.data.geo.geo_point.longitude == pytest.approx(2.35)
    assert fetched.data.geo.geo_point.latitude == pytest.approx(48.85)
    uploaded = wait_until_done(api, app_id, "by-bytes")
    assert uploaded.status.code == INPUT_SUCCESS
    assert uploaded.data.image.image_info.format == "JPEG"


def test_generated_ids_and_text_inputs(api: Api, app_id: str) -> None:
    text = resources_pb2.Input(
        data=resources_pb2.Data(text=resources_pb2.Text(raw="a cat on a mat"))
    )

    posted = post(api, app_id, text)

    assert posted.status.code == SUCCESS
    input_id = posted.inputs[0].id
    assert len(input_id) == 32 and int(input_id, 16) >= 0
    assert wait_until_done(api, app_id, input_id).data.text.raw == "a cat on a mat"


def test_patch_merge_overwrite_remove(api: Api, app_id: str) -> None:
    start = image_input(
        "p1",
        data=png_bytes(),
        concepts=[resources_pb2.Concept(id="cat", value=1)],
        metadata=metadata({"a": {"x": 1, "y": 2}, "keep": True}),
    )
    post(api, app_id, start)

    def patch(action: str, **data: Any) -> Any:
        response = api.stub.PatchInputs(
            service_pb2.PatchInputsRequest(
                user_app_id=user_app(app_id),
                inputs=[resources_pb2.Input(id="p1", data=resources_pb2.Data(**data))],
                action=action,
            ),
            metadata=api.pat,
        )
        assert response.status.code == SUCCESS, response.status
        return get(api, app_id, "p1").input.data

    merged = patch(
        "merge",
        concepts=[resources_pb2.Concept(id="dog", value=1)],
        metadata=metadata({"a": {"y": 3, "z": 4}}),
    )
    assert [c.id for c in merged.concepts] == ["cat", "dog"]
    assert dict(merged.metadata["a"]) == {"x": 1, "y": 3, "z": 4}
    assert merged.metadata["keep"] is True

    removed = patch(
        "remove", concepts=[resources_pb2.Concept(id="cat")], metadata=metadata({"keep": True})
    )
    assert [c.id for c in removed.concepts] == ["dog"]
    assert "keep" not in removed.metadata

    overwritten = patch(
        "overwrite",
        concepts=[resources_pb2.Concept(id="bird", value=1)],
        metadata=metadata({"only": "this"}),
    )
    assert [c.id for c in overwritten.concepts] == ["bird"]
    assert dict(overwritten.metadata) == {"only": "this"}


def test_list_pages_filters_and_counts(api: Api, app_id: str) -> None:
    ids = [f"l{index}" for index in range(5)]
    post(api, app_id, *(image_input(i, data=png_bytes()) for i in ids))
    for input_id in ids:
        wait_until_done(api, app_id, input_id)

    def listed(**fields: Any) -> list[str]:
        response = api.stub.ListInputs(
            service_pb2.ListInputsRequest(user_app_id=user_app(app_id), **fields), metadata=api.pat
        )
        assert response.status.code == SUCCESS, response.status
        return [i.id for i in response.inputs]

    first, second, third = (
        listed(page=1, per_page=2),
        listed(page=2, per_page=2),
        listed(page=3, per_page=2),
    )
    assert len(first) == len(second) == 2 and len(third) == 1
    assert sorted(first + second + third) == ids
    assert listed(page=4, per_page=2) == []
    assert sorted(listed(ids=["l1", "l3"])) == ["l1", "l3"]
    assert len(listed(status=status_pb2.Status(code=INPUT_SUCCESS))) == 5
    counts = api.stub.GetInputCount(
        service_pb2.GetInputCountRequest(user_app_id=user_app(app_id)), metadata=api.pat
    )
    assert counts.counts.processed == 5
    streamed = api.stub.StreamInputs(
        service_pb2.StreamInputsRequest(user_app_id=user_app(app_id), per_page=3, last_id="l1"),
        metadata=api.pat,
    )
    assert [i.id for i in streamed.inputs] == ["l2", "l3", "l4"]


def test_delete_inputs(api: Api, app_id: str) -> None:
    post(api, app_id, image_input("d1", data=png_bytes()), image_input("d2", data=png_bytes()))

    one = api.stub.DeleteInput(
        service_pb2.DeleteInputRequest(user_app_id=user_app(app_id), input_id="d1"),
        metadata=api.pat,
    )
    many = api.stub.DeleteInputs(
        service_pb2.DeleteInputsRequest(user_app_id=user_app(app_id), ids=["d2"]),
        metadata=api.pat,
    )

    assert one.status.code == many.status.code == SUCCESS
    for input_id in ("d1", "d2"):
        assert get(api, app_id, input_id).status.code == status_code_pb2.CONN_DOES_NOT_EXIST


def test_an_id_the_database_refuses_to_look_up_answers_a_clear_status(
    api: Api, app_id: str
) -> None:
    """PostgreSQL refuses a NUL character in a query's parameter: storage says so at its
    boundary, and the caller gets a bad request naming why (it was an internal error). SQLite
    looks the id up and finds nothing."""
    answer = get(api, app_id, "nul\x00id")
    if database_under_test() == "postgresql":
        assert answer.status.code == status_code_pb2.CONN_INVALID_REQUEST
        assert "NUL" in answer.status.description
    else:
        assert answer.status.code == status_code_pb2.CONN_DOES_NOT_EXIST


def test_duplicate_ids_are_refused_skipped_or_suffixed(api: Api, app_id: str) -> None:
    post(api, app_id, image_input("dup", data=png_bytes()))

    refused = post(api, app_id, image_input("dup", data=png_bytes()))
    assert refused.status.code == status_code_pb2.FAILURE
    assert refused.inputs[0].status.code == status_code_pb2.INPUT_DUPLICATE

    suffixed = post(
        api,
        app_id,
        image_input("dup", data=png_bytes()),
        input_id_conflict_resolution=resources_pb2.InputIDConflictResolution.SUFFIX,
    )
    assert suffixed.status.code == SUCCESS
    assert suffixed.inputs[0].id.startswith("dup-")


def test_mixed_status_when_some_inputs_are_refused(api: Api, app_id: str) -> None:
    good = image_input("good", data=png_bytes())
    empty = resources_pb2.Input(id="empty")

    response = post(api, app_id, good, empty)

    assert response.status.code == status_code_pb2.MIXED_STATUS
    assert response.inputs[0].status.code in (INPUT_PENDING, INPUT_SUCCESS)
    assert response.inputs[1].status.code == status_code_pb2.INPUT_INVALID_ARGUMENT
    assert "no data" in response.inputs[1].status.description
    assert get(api, app_id, "empty").status.code == status_code_pb2.CONN_DOES_NOT_EXIST


@pytest.mark.parametrize(
    ("name", "payload", "code", "words"),
    [
        pytest.param("bomb", bomb_png(), 30105, "pixels", id="decompression-bomb"),
        pytest.param("truncated", jpeg_bytes((200, 200))[:300], 30104, "", id="truncated-jpeg"),
        pytest.param("pdf", b"%PDF-1.4\n1 0 obj\n<< >>\nendobj\n", 30101, "", id="pdf"),
    ],
)
def test_bad_image_bytes_are_refused_and_not_stored(
    api: Api, app_id: str, name: str, payload: bytes, code: int, words: str
) -> None:
    response = post(api, app_id, image_input(name, data=payload))

    assert response.status.code == status_code_pb2.FAILURE
    assert response.inputs[0].status.code == code, response.inputs[0].status
    assert words in response.inputs[0].status.description
    assert get(api, app_id, name).status.code == status_code_pb2.CONN_DOES_NOT_EXIST


def test_too_many_inputs_are_refused_whole(api: Api, app_id: str) -> None:
    inputs = [image_input(f"m{index}", data=png_bytes((4, 4))) for index in range(129)]

    response = post(api, app_id, *inputs)

    assert response.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "at most 128" in response.status.description
    listed = api.stub.ListInputs(
        service_pb2.ListInputsRequest(user_app_id=user_app(app_id)), metadata=api.pat
    )
    assert list(listed.inputs) == []


def test_unreachable_and_oversized_urls_fail_with_a_reason(
    api: Api, app_id: str, images: ImageServer
) -> None:
    missing = images.url(f"/{unique_id('missing')}.png")
    big = images.add(f"/{unique_id('big')}.png", b"\x89PNG" + b"\0" * (30 * 1024 * 1024))

    post(api, app_id, image_input("missing", url=missing), image_input("big", url=big))

    failed = wait_until_done(api, app_id, "missing")
    assert failed.status.code == INPUT_FAILED
    assert "404" in failed.status.description
    too_big = wait_until_done(api, app_id, "big")
    assert too_big.status.code == INPUT_FAILED
    assert "20 MB" in too_big.status.description


def test_a_double_gzip_bomb_fails_the_input_without_decoding_it_whole(
    api: Api, app_id: str, images: ImageServer
) -> None:
    # 256 MiB of zeros in 590 bytes: httpx inflated it whole before the 20 MB cap was compared.
    bomb = images.add_encoded(f"/{unique_id('bomb')}.jpg", gzip_bomb(256 << 20, 2), "gzip, gzip")

    with traced_peak() as memory:
        post(api, app_id, image_input("bomb", url=bomb))
        failed = wait_until_done(api, app_id, "bomb")

    assert failed.status.code == INPUT_FAILED
    assert "larger than 20 MB" in failed.status.description
    assert memory.bytes < 64 << 20, f"{memory.bytes >> 20} MiB held at once"


def test_loopback_url_is_refused_with_default_settings(tmp_path: Path, images: ImageServer) -> None:
    url = images.add("/fine.png", png_bytes())
    with running_server(tmp_path) as strict:
        api = Api(official_stub(strict, "grpc"), "grpc", strict)
        app = unique_id("app")
        api.stub.PostApps(
            service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=app)]), metadata=api.pat
        )

        response = post(api, app, image_input("loop", url=url))

        assert response.status.code == status_code_pb2.FAILURE
        assert response.inputs[0].status.code == status_code_pb2.INPUT_INVALID_URL
        assert "127.0.0.1" in response.inputs[0].status.description
        assert get(api, app, "loop").status.code == status_code_pb2.CONN_DOES_NOT_EXIST
    assert images.hits.get("/fine.png", 0) == 0


def test_https_urls_under_a_sites_own_ca_are_fetched_when_that_ca_is_trusted(
    tmp_path: Path,
) -> None:
    """The public bundle stays the default; ``fetch_ca_certs`` adds the site's CA."""
    certs = write_local_certificates(tmp_path / "site-ca")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certs.server_cert, certs.server_key)
    with image_server(tls=tls) as site:
        url = site.add("/own-ca.png", png_bytes())
        outcomes = {}
        for trusted in ((), (certs.ca_cert,)):
            data_dir = tmp_path / f"trusting-{len(trusted)}"
            with running_server(data_dir, allow_private_urls=True, fetch_ca_certs=trusted) as srv:
                api = Api(official_stub(srv, "grpc"), "grpc", srv)
                app = unique_id("app")
                api.stub.PostApps(
                    service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=app)]),
                    metadata=api.pat,
                )
                post(api, app, image_input("site", url=url))
                outcomes[len(trusted)] = wait_until_done(api, app, "site").status

    assert outcomes[0].code == INPUT_FAILED
    assert "certificate" in outcomes[0].description.lower()
    assert outcomes[1].code == INPUT_SUCCESS, outcomes[1]


def test_uploaded_bytes_come_back_with_a_url_to_the_original(api: Api, app_id: str) -> None:
    """As on Clarifai's data host; npm clarifai@2 and clarifai==2.6.2 read only the URL."""
    original = png_bytes((64, 48))
    posted = post(api, app_id, image_input("with-url", data=original))
    assert posted.status.code == SUCCESS, posted.status
    url = posted.inputs[0].data.image.url
    assert url.endswith(f"/orig/users/admin/apps/{app_id}/inputs/with-url"), url
    assert posted.inputs[0].data.image.hosted.prefix
    assert not posted.inputs[0].data.image.base64

    stored = wait_until_done(api, app_id, "with-url").data.image
    assert stored.url == url
    headers = {"Authorization": f"Key {api.server.admin_pat}"}
    assert httpx.get(url, headers=headers).content == original
    listed = api.stub.ListInputs(
        service_pb2.ListInputsRequest(user_app_id=user_app(app_id)), metadata=api.pat
    )
    assert {i.id: i.data.image.url for i in listed.inputs}["with-url"] == url
    found = api.stub.PostInputsSearches(
        service_pb2.PostInputsSearchesRequest(
            user_app_id=user_app(app_id),
            searches=[
                resources_pb2.Search(
                    query=resources_pb2.Query(
                        filters=[resources_pb2.Filter(input=resources_pb2.Input(id="with-url"))]
                    )
                )
            ],
        ),
        metadata=api.pat,
    )
    assert [hit.input.data.image.url for hit in found.hits] == [url]


def test_hosted_image_serves_original_and_thumbnail(api: Api, app_id: str) -> None:
    original = png_bytes((600, 300))
    post(api, app_id, image_input("hosted", data=original))

    hosted = wait_until_done(api, app_id, "hosted").data.image.hosted

    assert list(hosted.sizes) == ["orig", "tiny"]
    headers = {"Authorization": f"Key {api.server.admin_pat}"}
    orig = httpx.get(f"{hosted.prefix}/orig/{hosted.suffix}", headers=headers)
    assert orig.status_code == 200
    assert orig.headers["content-type"] == "image/png"
    assert orig.content == original
    tiny = httpx.get(f"{hosted.prefix}/tiny/{hosted.suffix}", headers=headers)
    assert tiny.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(tiny.content)).size == (256, 128)
    refused = httpx.get(f"{hosted.prefix}/orig/{hosted.suffix}")
    assert refused.status_code == 401
    assert refused.json()["status"]["code"] == 11008


@pytest.mark.parametrize(
    ("size", "made_at_ingestion"),
    # Over 4 MP at ingestion (a request never decodes a huge original); else on demand.
    [((600, 300), False), ((2400, 1800), True)],
)
@pytest.mark.parametrize("left_by_a_crash", [b"", b"\xff\xd8\xff\xe0 and no more"])
def test_the_thumbnail_is_kept_and_made_again_when_a_crash_cut_it_short(
    api: Api,
    app_id: str,
    size: tuple[int, int],
    made_at_ingestion: bool,
    left_by_a_crash: bytes,
) -> None:
    """Ingestion writes a big picture's thumbnail without waiting for the disk, and leaves a
    small one's to its first request; what a crash of the machine can leave of a thumbnail
    (nothing, or its head) is not served but made again."""
    original = png_bytes(size, f"#{secrets.token_hex(3)}")  # bytes no other test stored
    post(api, app_id, image_input("cut", data=original))
    hosted = wait_until_done(api, app_id, "cut", timeout=60).data.image.hosted
    digest = hashlib.sha256(original).hexdigest()
    shard = api.server.settings.data_dir / "blobs" / digest[:2] / digest[2:4]
    thumbnail = shard / f"{digest}.tiny"
    assert thumbnail.exists() == made_at_ingestion
    headers = {"Authorization": f"Key {api.server.admin_pat}"}
    url = f"{hosted.prefix}/tiny/{hosted.suffix}"
    first = httpx.get(url, headers=headers)
    assert thumbnail.read_bytes() == first.content  # kept for the next request
    thumbnail.write_bytes(left_by_a_crash)

    again = httpx.get(url, headers=headers)

    assert again.status_code == 200
    expected = (256, 128) if size[0] > size[1] * 1.5 else (256, 192)
    assert Image.open(io.BytesIO(again.content)).size == expected
    assert thumbnail.read_bytes() == again.content


def test_base64_that_is_not_base64_is_a_bad_request(
    open_server: RunningServer, app_id: str
) -> None:
    response = httpx.post(
        f"{open_server.http_url}/v2/users/me/apps/{app_id}/inputs",
        headers={"Authorization": f"Key {open_server.admin_pat}"},
        json={"inputs": [{"data": {"image": {"base64": "this is *not* base64!"}}}]},
    )
    assert response.status_code == 400
    assert response.json()["status"]["code"] == 11100
    assert "base64" in response.json()["status"]["description"].lower()


def test_blobs_of_deleted_inputs_are_collected(tmp_path: Path) -> None:
    with running_server(tmp_path, blob_grace_seconds=0) as server:
        api = Api(official_stub(server, "grpc"), "grpc", server)
        app = unique_id("app")
        api.stub.PostApps(
            service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=app)]), metadata=api.pat
        )
        kept = png_bytes((10, 10))
        post(api, app, image_input("keep", data=kept))
        post(api, app, image_input("drop", data=png_bytes((20, 20))))
        wait_until_done(api, app, "drop")
        blobs = tmp_path / "blobs"

        def stored() -> set[str]:
            """The digests with a file: the blob's own, or a rendition (``<digest>.tiny``)."""
            return {p.name.split(".")[0] for p in blobs.rglob("*") if p.is_file()}

        assert len(stored()) == 2

        api.stub.DeleteInputs(
            service_pb2.DeleteInputsRequest(user_app_id=user_app(app), ids=["drop"]),
            metadata=api.pat,
        )

        deadline = time.monotonic() + 10
        while len(stored()) != 1:
            assert time.monotonic() < deadline, "the deleted input's blob was not collected"
            time.sleep(0.05)
        assert wait_until_done(api, app, "keep").status.code == INPUT_SUCCESS
        # The blob and its thumbnail went together.
        assert stored() == {hashlib.sha256(kept).hexdigest()}


def test_redirect_to_a_private_address_is_refused(tmp_path: Path, images: ImageServer) -> None:
    """Only the host name ``localhost`` is allowed; a redirect to the loopback IP is refused."""
    target = images.add("/private.png", png_bytes())
    start = images.redirect("/hop", target)
    with running_server(tmp_path, url_allow_list=("localhost",)) as strict:
        api = Api(official_stub(strict, "grpc"), "grpc", strict)
        app = unique_id("app")
        api.stub.PostApps(
            service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=app)]), metadata=api.pat
        )

        posted = post(api, app, image_input("hop", url=start.replace("127.0.0.1", "localhost")))

        assert posted.status.code == SUCCESS, posted.status
        failed = wait_until_done(api, app, "hop")
    assert failed.status.code == INPUT_FAILED
    assert "loopback address 127.0.0.1" in failed.status.description
    assert images.hits.get("/hop") == 1
    assert images.hits.get("/private.png", 0) == 0


def test_inputs_add_job_reports_progress(api: Api, app_id: str) -> None:
    job_id = unique_id("job")
    posted = post(
        api,
        app_id,
        image_input("j1", data=png_bytes()),
        image_input("j2", data=png_bytes()),
        inputs_add_job_id=job_id,
    )
    assert posted.inputs_add_job.id == job_id
    for input_id in ("j1", "j2"):
        wait_until_done(api, app_id, input_id)

    job = api.stub.GetInputsAddJob(
        service_pb2.GetInputsAddJobRequest(user_app_id=user_app(app_id), id=job_id),
        metadata=api.pat,
    )

    assert job.status.code == SUCCESS, job.status
    assert job.inputs_add_job.progress.success_count == 2
    assert job.inputs_add_job.progress.pending_count == 0
    assert job.inputs_add_job.status.code == 64002  # JOB_COMPLETED
    jobs = api.stub.ListInputsAddJobs(
        service_pb2.ListInputsAddJobsRequest(user_app_id=user_app(app_id)), metadata=api.pat
    )
    assert [j.id for j in jobs.inputs_add_jobs] == [job_id]
