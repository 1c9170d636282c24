"""Rate limits, the bound on expensive calls, and Prometheus metrics."""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from PIL import Image

from clarion.testing import running_server
from tests.api.conftest import Api, official_stub


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
