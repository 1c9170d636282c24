"""One caller's requests cannot cost everyone else: decoding memory, /hosted under the API's
limits, bounded metadata and writes that time out with a retryable status (issue 22)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from clarion.testing import RunningServer, running_server
from tests.api.conftest import Api, official_stub
from tests.api.test_apps_keys import create_app
from tests.api.test_limits_metrics import url_predict, wait_for_metric
from tests.conftest import unique_id
from tests.images import (
    image_server,
    png_bytes,
    png_header_only,
    resident_peak,
    sixteen_bit_png,
)
from tests.processes import clarion

SUCCESS = status_code_pb2.SUCCESS
INPUT_OVER_LIMIT = 30105
INPUT_PENDING = 30001


def image_input(input_id: str, data: bytes) -> resources_pb2.Input:
    return resources_pb2.Input(
        id=input_id, data=resources_pb2.Data(image=resources_pb2.Image(base64=data))
    )


def predict_bytes(data: bytes) -> service_pb2.PostModelOutputsRequest:
    return service_pb2.PostModelOutputsRequest(
        user_app_id=resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main"),
        model_id="general-image-recognition",
        inputs=[image_input("", data)],
    )


def hosted_image(api: Api, app_id: str, data: bytes) -> resources_pb2.HostedURL:
    """Upload ``data`` as an input, wait for its ingestion, and return its hosted address."""
    user_app = resources_pb2.UserAppIDSet(user_id="me", app_id=app_id)
    input_id = unique_id("hosted")
    posted = api.stub.PostInputs(
        service_pb2.PostInputsRequest(user_app_id=user_app, inputs=[image_input(input_id, data)]),
        metadata=api.pat,
    )
    assert posted.status.code == SUCCESS, posted.status
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = api.stub.GetInput(
            service_pb2.GetInputRequest(user_app_id=user_app, input_id=input_id),
            metadata=api.pat,
        )
        if got.input.status.code != INPUT_PENDING:
            assert got.input.status.code == 30000, got.input.status
            return got.input.data.image.hosted
        time.sleep(0.05)
    raise AssertionError(f"input {input_id} still pending")


def hosted_get(hosted: resources_pb2.HostedURL, size: str, token: str) -> httpx.Response:
    return httpx.get(
        f"{hosted.prefix}/{size}/{hosted.suffix}", headers={"Authorization": f"Key {token}"}
    )


def grpc_api(server: RunningServer) -> Api:
    return Api(official_stub(server, "grpc"), "grpc", server)


# -- decoding (defect 5) ---------------------------------------------------------------------


def test_a_small_sixteen_bit_png_predicts_without_gigabytes_of_memory(tmp_path: Path) -> None:
    # 480 KB that decode to 7746x7746 16-bit pixels, under the 85 MP cap: scaling them to 8
    # bits through numpy's float64 copies took 1.5 GB; Pillow's own loops take a few bytes
    # a pixel (60 MP as RGB alone is 240 MB in Pillow's 4-byte pixels).
    image = sixteen_bit_png(7746)
    with running_server(tmp_path) as server:
        api = grpc_api(server)
        warm = api.stub.PostModelOutputs(predict_bytes(png_bytes()), metadata=api.pat)
        assert warm.status.code == SUCCESS, warm.status  # the model is loaded before measuring

        with resident_peak() as memory:
            response = api.stub.PostModelOutputs(predict_bytes(image), metadata=api.pat)

    assert response.status.code == SUCCESS, response.status
    assert response.outputs[0].data.concepts
    assert memory.bytes < 700 << 20, f"{memory.bytes >> 20} MiB more at the peak"


def test_pixels_that_decode_to_too_many_bytes_are_refused_before_decoding(
    tmp_path: Path,
) -> None:
    # 70.6 MP, under the pixel cap, but RGBA: 282 MB decoded, more than an 85 MP RGB picture.
    header = png_header_only(8400, 8400, bit_depth=8, color_type=6)
    with running_server(tmp_path) as server:
        api = grpc_api(server)
        app = create_app(api)
        response = api.stub.PostInputs(
            service_pb2.PostInputsRequest(
                user_app_id=resources_pb2.UserAppIDSet(app_id=app.id),
                inputs=[image_input("rgba", header)],
            ),
            metadata=api.pat,
        )

    assert response.inputs[0].status.code == INPUT_OVER_LIMIT, response.inputs[0].status
    description = response.inputs[0].status.description
    assert "8400x8400 pixels of mode RGBA" in description
    assert "282 MB" in description and "at most 255 MB" in description


# -- /hosted under the API's limits (defects 5 and 9) ----------------------------------------


def test_hosted_images_count_against_the_keys_rate_limit(tmp_path: Path) -> None:
    with running_server(tmp_path, rate_burst_seconds=1) as server:
        api = grpc_api(server)
        hosted = hosted_image(api, create_app(api).id, png_bytes((300, 200)))
        created = api.stub.PostKeys(
            service_pb2.PostKeysRequest(
                keys=[
                    resources_pb2.Key(
                        description="metered", scopes=["All"], type="personal_access_token"
                    )
                ]
            ),
            metadata=api.pat,
        )
        metered = created.keys[0].id
        limited = clarion(
            "rate-limit", "admin", metered, "--per-second", "2", "--data-dir", str(tmp_path)
        )
        assert limited.returncode == 0, limited.stderr

        answers = [hosted_get(hosted, size, metered) for size in ("orig", "tiny") * 10]

    codes = [answer.status_code for answer in answers]
    assert 2 <= codes.count(200) <= 5, codes
    throttled = next(answer for answer in answers if answer.status_code == 429)
    assert throttled.json()["status"]["code"] == status_code_pb2.CONN_THROTTLED
    assert "slow down" in throttled.json()["status"]["description"]


def test_hosted_images_wait_for_the_expensive_call_bound(tmp_path: Path) -> None:
    with (
        image_server(delay=3.0) as slow_host,
        running_server(
            tmp_path, max_expensive_calls=1, max_waiting_calls=0, allow_private_urls=True
        ) as server,
    ):
        api = grpc_api(server)
        hosted = hosted_image(api, create_app(api).id, png_bytes((300, 200)))
        slow_url = slow_host.add("/slow.png", png_bytes())
        with ThreadPoolExecutor(1) as pool:
            holder = pool.submit(api.stub.PostModelOutputs, url_predict(slow_url), metadata=api.pat)
            wait_for_metric(server, 'clarion_expensive_calls{state="running"} 1.0')
            busy = hosted_get(hosted, "tiny", server.admin_pat)
            assert holder.result().status.code == SUCCESS
        served = hosted_get(hosted, "tiny", server.admin_pat)

    assert busy.status_code == 503
    assert busy.json()["status"]["code"] == status_code_pb2.RPC_REQUEST_QUEUE_FULL
    assert served.status_code == 200
