"""Rate limits, the bound on expensive calls, and Prometheus metrics."""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf.message import Message
from PIL import Image

from clarion.testing import RunningServer, running_server
from tests.api.conftest import Api, key_metadata, official_stub
from tests.conftest import unique_id
from tests.images import image_server, png_bytes
from tests.processes import clarion


def test_a_key_over_its_rate_is_throttled_then_recovers(tmp_path: Path) -> None:
    with running_server(tmp_path, rate_limit_per_key=5, rate_burst_seconds=1) as server:
        api = Api(official_stub(server, "grpc"), "grpc", server)
        codes = [
            api.stub.ListApps(service_pb2.ListAppsRequest(), metadata=api.pat).status.code
            for _ in range(12)
        ]
        assert codes.count(status_code_pb2.SUCCESS) >= 5
        assert status_code_pb2.CONN_THROTTLED in codes
        time.sleep(1.0)
        after = api.stub.ListApps(service_pb2.ListAppsRequest(), metadata=api.pat)
        assert after.status.code == status_code_pb2.SUCCESS


def test_a_key_with_a_rate_limit_of_its_own(tmp_path: Path) -> None:
    with running_server(tmp_path, rate_burst_seconds=1) as server:
        api = Api(official_stub(server, "grpc"), "grpc", server)
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
        assert created.status.code == status_code_pb2.SUCCESS, created.status
        metered = created.keys[0].id

        limited = clarion(
            "rate-limit", "admin", metered, "--per-second", "3", "--data-dir", str(tmp_path)
        )
        assert limited.returncode == 0, limited.stderr
        assert "rate limit 3 calls/s" in limited.stdout

        def codes(token: str) -> list[int]:
            return [
                api.stub.ListApps(
                    service_pb2.ListAppsRequest(), metadata=key_metadata(token)
                ).status.code
                for _ in range(10)
            ]

        throttled = codes(metered)
        assert throttled.count(status_code_pb2.SUCCESS) >= 3
        assert status_code_pb2.CONN_THROTTLED in throttled
        assert set(codes(server.admin_pat)) == {status_code_pb2.SUCCESS}  # the default, 1000/s

    refused = clarion("rate-limit", "admin", metered, "--data-dir", str(tmp_path))
    assert refused.returncode != 0 and "--per-second N or --default" in refused.stderr


def test_expensive_calls_past_the_queue_are_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), "green").save(buffer, "PNG")
    request = service_pb2.PostModelOutputsRequest(
        user_app_id=resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main"),
        model_id="general-image-recognition",
        inputs=[
            resources_pb2.Input(
                data=resources_pb2.Data(image=resources_pb2.Image(base64=buffer.getvalue()))
            )
        ]
        * 8,
    )
    with running_server(tmp_path, max_expensive_calls=1, max_waiting_calls=0) as server:
        api = Api(official_stub(server, "grpc"), "grpc", server)
        api.stub.PostModelOutputs(request, metadata=api.pat)  # load the model first
        with ThreadPoolExecutor(8) as pool:
            codes = list(
                pool.map(
                    lambda _: api.stub.PostModelOutputs(request, metadata=api.pat).status.code,
                    range(8),
                )
            )
    assert status_code_pb2.SUCCESS in codes
    assert status_code_pb2.RPC_REQUEST_QUEUE_FULL in codes
    assert set(codes) <= {status_code_pb2.SUCCESS, status_code_pb2.RPC_REQUEST_QUEUE_FULL}


def test_prometheus_metrics(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        api = Api(official_stub(server, "grpc"), "grpc", server)
        api.stub.ListApps(service_pb2.ListAppsRequest(), metadata=api.pat)
        api.stub.ListApps(service_pb2.ListAppsRequest(), metadata=(("authorization", "Key wrong"),))
        text = httpx.get(f"{server.http_url}/metrics").text
    assert 'clarion_requests_total{code="10000",method="ListApps"} 1.0' in text
    assert 'clarion_requests_total{code="11008",method="ListApps"} 1.0' in text
    assert 'clarion_request_seconds_count{method="ListApps"} 2.0' in text
    assert 'clarion_jobs{state="queued"}' in text
    assert 'clarion_expensive_calls{state="running"} 0.0' in text


def url_predict(url: str) -> service_pb2.PostModelOutputsRequest:
    return service_pb2.PostModelOutputsRequest(
        user_app_id=resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main"),
        model_id="color-recognition",
        inputs=[resources_pb2.Input(data=resources_pb2.Data(image=resources_pb2.Image(url=url)))],
    )


def metric_line(server: RunningServer, prefix: str) -> str:
    text = httpx.get(f"{server.http_url}/metrics").text
    return next((line for line in text.splitlines() if line.startswith(prefix)), "")


def wait_for_metric(server: RunningServer, line: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while metric_line(server, line) != line:
        assert time.monotonic() < deadline, f"{line!r} never showed on /metrics"
        time.sleep(0.05)


def late_call_outcome(api: Api, request: Message, timeout: float) -> str | int:
    """The Clarifai status code of the answer, or the gRPC code if the client gave up first."""
    try:
        return int(
            api.stub.PostModelOutputs(request, metadata=api.pat, timeout=timeout).status.code
        )
    except grpc.RpcError as error:
        return str(error.code().name)


def test_a_call_whose_grpc_deadline_passes_while_it_waits_never_runs(tmp_path: Path) -> None:
    with (
        image_server(delay=3.0) as slow_host,
        running_server(tmp_path, max_expensive_calls=1, allow_private_urls=True) as server,
    ):
        slow_url = slow_host.add("/slow.png", png_bytes())
        quick_url = slow_host.url("/quick.png")
        api = Api(official_stub(server, "grpc"), "grpc", server)
        with ThreadPoolExecutor(1) as pool:
            holder = pool.submit(api.stub.PostModelOutputs, url_predict(slow_url), metadata=api.pat)
            wait_for_metric(server, 'clarion_expensive_calls{state="running"} 1.0')

            late = late_call_outcome(api, url_predict(quick_url), timeout=0.5)

            # The server gives up when the deadline passes, a hair before the client does.
            assert late in ("DEADLINE_EXCEEDED", status_code_pb2.RPC_REQUEST_TIMEOUT)
            assert holder.result().status.code == status_code_pb2.SUCCESS
        # The late call was given up on, not run: its URL was never fetched.
        wait_for_metric(
            server, 'clarion_requests_total{code="40032",method="PostModelOutputs"} 1.0'
        )
        assert slow_host.hits.get("/quick.png", 0) == 0


def test_the_server_request_timeout_stops_a_call_between_stages(tmp_path: Path) -> None:
    with (
        image_server(delay=1.5) as slow_host,
        running_server(tmp_path, request_timeout_seconds=1.0, allow_private_urls=True) as server,
    ):
        url = slow_host.add("/slow.png", png_bytes())
        response = httpx.post(
            f"{server.http_url}/v2/users/clarifai/apps/main/models/color-recognition/outputs",
            headers={"Authorization": f"Key {server.admin_pat}"},
            json={"inputs": [{"data": {"image": {"url": url}}}]},
            timeout=30,
        )
    assert response.status_code == 504
    status = response.json()["status"]
    assert status["code"] == status_code_pb2.RPC_REQUEST_TIMEOUT
    assert "ran out of time before running the model" in status["description"]


def test_metrics_show_inference_runs_and_ingestion_outcomes(tmp_path: Path) -> None:
    with running_server(tmp_path, allow_private_urls=True) as server:
        api = Api(official_stub(server, "grpc"), "grpc", server)
        image = png_bytes((96, 64), "orange")
        predicted = api.stub.PostModelOutputs(
            service_pb2.PostModelOutputsRequest(
                user_app_id=resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main"),
                model_id="color-recognition",
                inputs=[
                    resources_pb2.Input(
                        data=resources_pb2.Data(image=resources_pb2.Image(base64=image))
                    )
                ]
                * 3,
            ),
            metadata=api.pat,
        )
        assert predicted.status.code == status_code_pb2.SUCCESS
        app = api.stub.PostApps(
            service_pb2.PostAppsRequest(apps=[resources_pb2.App(id="metered")]), metadata=api.pat
        )
        assert app.status.code == status_code_pb2.SUCCESS
        unreachable = "http://127.0.0.1:9/missing.png"  # fetching it fails: nothing listens
        posted = api.stub.PostInputs(
            service_pb2.PostInputsRequest(
                user_app_id=resources_pb2.UserAppIDSet(app_id="metered"),
                inputs=[
                    resources_pb2.Input(
                        data=resources_pb2.Data(image=resources_pb2.Image(base64=image))
                    ),
                    resources_pb2.Input(
                        data=resources_pb2.Data(image=resources_pb2.Image(url=unreachable))
                    ),
                ],
            ),
            metadata=api.pat,
        )
        assert posted.status.code == status_code_pb2.SUCCESS, posted.status

        wait_for_metric(server, 'clarion_ingested_inputs_total{outcome="success"} 1.0')
        wait_for_metric(server, 'clarion_ingested_inputs_total{outcome="failed"} 1.0')
        batch = 'clarion_inference_batch_size_bucket{le="2.0",model="color-recognition"} 0.0'
        assert metric_line(server, batch) == batch  # the three inputs ran as one batch
        runs = 'clarion_inference_seconds_count{model="color-recognition"} 1.0'
        assert metric_line(server, runs) == runs
        indexed = 'clarion_inference_seconds_count{model="general-image-recognition+'
        assert metric_line(server, indexed).endswith(" 1.0")


@pytest.mark.parametrize(
    ("path", "most"),
    [
        pytest.param("/v2/users/me/apps/{app}/inputs", 128, id="PostInputs"),
        pytest.param(
            "/v2/users/clarifai/apps/main/models/general-image-recognition/outputs",
            128,
            id="PostModelOutputs",
        ),
        pytest.param("/v2/users/clarifai/apps/main/workflows/General/results", 32, id="Workflow"),
    ],
)
def test_a_batch_over_its_limit_is_refused_before_its_items_are_parsed(
    server: RunningServer, path: str, most: int
) -> None:
    # The last item would not parse: the refusal names the count, so the items were counted
    # before any of them became a message (building 200,000 took seconds of CPU).
    inputs = "{}," * 199_999 + '{"no_such_field": 1}'
    with httpx.Client(base_url=server.http_url, timeout=60) as http:
        http.headers["Authorization"] = f"Key {server.admin_pat}"
        app_id = unique_id("batch")
        assert http.post("/v2/users/me/apps", json={"apps": [{"id": app_id}]}).status_code == 200

        refused = http.post(
            path.format(app=app_id),
            content='{"inputs": [' + inputs + "]}",
            headers={"Content-Type": "application/json"},
        )

        assert refused.status_code == 400, refused.text
        status = refused.json()["status"]
        assert status["code"] == status_code_pb2.CONN_INVALID_REQUEST, status
        assert status["description"] == (
            f"200000 inputs in one request: at most {most} are accepted; split the batch"
        )
        listed = http.get(f"/v2/users/me/apps/{app_id}/inputs")
        assert listed.status_code == 200, listed.text
        assert listed.json().get("inputs", []) == []
