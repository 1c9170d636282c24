"""What curl and raw gRPC see at the edges: unknown routes, bad bodies, size limits, health."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import grpc
import pytest
from clarifai_grpc.grpc.api import service_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clarion.testing import RunningServer, running_server


def curl(*args: str) -> tuple[int, dict[str, object]]:
    """HTTP status and JSON body; the body must be JSON whatever the status."""
    result = subprocess.run(
        ["curl", "-s", "-w", "\n%{http_code}", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    body, _, code = result.stdout.rpartition("\n")
    return int(code), json.loads(body)


def test_unknown_route_is_json_404(server: RunningServer) -> None:
    code, body = curl(f"{server.http_url}/v2/no/such/route")
    assert code == 404
    assert body["status"]["code"] == 11101  # type: ignore[index]
    assert "No API route" in body["status"]["description"]  # type: ignore[index]


def test_wrong_verb_is_json_405(server: RunningServer) -> None:
    code, body = curl("-X", "PUT", f"{server.http_url}/v2/users/me/apps")
    assert code == 405
    assert body["status"]["code"] == 11103  # type: ignore[index]


def post_apps(server: RunningServer, payload: str) -> tuple[int, dict[str, object]]:
    return curl(
        "-X",
        "POST",
        "-H",
        f"Authorization: Key {server.admin_pat}",
        "-d",
        payload,
        f"{server.http_url}/v2/users/me/apps",
    )


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        pytest.param('{"apps": [', "not valid JSON", id="truncated"),
        pytest.param('{"apps": 7}', "apps", id="wrong-type"),
        pytest.param("[1, 2]", "JSON object", id="not-an-object"),
    ],
)
def test_malformed_body_is_bad_request_format(
    server: RunningServer, payload: str, problem: str
) -> None:
    code, body = post_apps(server, payload)
    assert code == 400
    status = body["status"]
    assert status["code"] == 11100  # type: ignore[index]
    assert problem in status["description"]  # type: ignore[index]
    assert status["req_id"]  # type: ignore[index]


def test_a_body_of_many_fields_and_its_long_answer_convert_alike(server: RunningServer) -> None:
    # Over 200 fields, so parsed on a worker thread; the long answer is rendered on one too.
    apps = [{"id": f"bulk-{index}", "description": "made in bulk"} for index in range(120)]

    code, body = post_apps(server, json.dumps({"apps": apps}))

    assert code == 200, body
    assert [app["id"] for app in body["apps"]] == [app["id"] for app in apps]  # type: ignore[index, union-attr]
    code, body = post_apps(server, json.dumps({"apps": apps, "user_app_id": 7}))
    assert code == 400
    assert body["status"]["code"] == 11100  # type: ignore[index]
    assert "user_app_id" in body["status"]["description"]  # type: ignore[index]


def test_fields_the_schema_does_not_know_are_ignored(server: RunningServer) -> None:
    """As Clarifai's gateway does: npm clarifai@2.9 sends ``model_query.type``, since removed."""
    code, body = post_apps(
        server, json.dumps({"apps": [{"id": "with-extras", "no_such_field": 1}], "extra": [2]})
    )
    assert code == 200, body
    assert [app["id"] for app in body["apps"]] == ["with-extras"]  # type: ignore[index, union-attr]

    code, body = curl(
        "-X",
        "POST",
        "-H",
        f"Authorization: Key {server.admin_pat}",
        "-d",
        json.dumps({"model_query": {"name": "general", "type": "concept"}}),
        f"{server.http_url}/v2/models/searches",
    )
    assert code == 200, body
    assert body["status"]["code"] == 10000  # type: ignore[index]


def test_missing_credentials_over_curl(server: RunningServer) -> None:
    code, body = curl(f"{server.http_url}/v2/users/me/apps")
    assert code == 401
    assert body["status"] == {  # type: ignore[comparison-overlap]
        "code": 11008,
        "description": "Invalid API key or Invalid API key/application pair",
        "req_id": body["status"]["req_id"],  # type: ignore[index]
    }


def test_health_over_http_and_grpc(server: RunningServer) -> None:
    code, body = curl(f"{server.http_url}/health")
    assert code == 200
    assert body["status"]["code"] == 10000  # type: ignore[index]
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "clarifai.api.V2"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_grpc_garbage_is_bad_request_format(server: RunningServer) -> None:
    with grpc.insecure_channel(server.grpc_target) as channel:
        call = channel.unary_unary(
            "/clarifai.api.V2/ListApps",
            request_serializer=lambda raw: raw,
            response_deserializer=service_pb2.MultiAppResponse.FromString,
        )
        response = call(b"\xff\xff\xff\xff", timeout=5)
    assert response.status.code == 11100
    assert "ListAppsRequest" in response.status.description


def test_requests_over_the_size_limit_are_refused(tmp_path: Path) -> None:
    with running_server(tmp_path, max_request_bytes=64 * 1024) as small:
        code, body = _post_big(small)
        assert code == 413
        assert body["status"]["code"] == 40033  # type: ignore[index]
        assert "larger than" in body["status"]["description"]  # type: ignore[index]
        with grpc.insecure_channel(small.grpc_target) as channel:
            stub = channel.unary_unary(
                "/clarifai.api.V2/PostApps",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=service_pb2.MultiAppResponse.FromString,
            )
            big = service_pb2.PostAppsRequest(apps=[{"description": "x" * 500_000}])
            with pytest.raises(grpc.RpcError) as refused:
                stub(big, timeout=5)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def _post_big(server: RunningServer) -> tuple[int, dict[str, object]]:
    payload = json.dumps({"apps": [{"id": "big", "description": "x" * 500_000}]})
    result = subprocess.run(
        [
            "curl",
            "-s",
            "-w",
            "\n%{http_code}",
            "-X",
            "POST",
            "-H",
            f"Authorization: Key {server.admin_pat}",
            "--data-binary",
            "@-",
            f"{server.http_url}/v2/users/me/apps",
        ],
        input=payload,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    body, _, code = result.stdout.rpartition("\n")
    return int(code), json.loads(body)
