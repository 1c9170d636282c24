"""What curl and raw gRPC see at the edges: unknown routes, bad bodies, size limits, health."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, cast

import grpc
import httpx
import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clarion.testing import RunningServer, running_server
from tests.api.conftest import Api
from tests.api.test_apps_keys import create_app
from tests.conftest import unique_id

SUCCESS = 10000
BAD_REQUEST_FORMAT = 11100


def curl(*args: str) -> tuple[int, dict[str, Any]]:
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
    assert body["status"]["code"] == 11101
    assert "No API route" in body["status"]["description"]


def test_wrong_verb_is_json_405(server: RunningServer) -> None:
    code, body = curl("-X", "PUT", f"{server.http_url}/v2/users/me/apps")
    assert code == 405
    assert body["status"]["code"] == 11103


def post_apps(server: RunningServer, payload: str) -> tuple[int, dict[str, Any]]:
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
    assert status["code"] == 11100
    assert problem in status["description"]
    assert status["req_id"]


def test_a_body_of_many_fields_and_its_long_answer_convert_alike(server: RunningServer) -> None:
    # Over 200 fields, so parsed on a worker thread; the long answer is rendered on one too.
    apps = [{"id": f"bulk-{index}", "description": "made in bulk"} for index in range(120)]

    code, body = post_apps(server, json.dumps({"apps": apps}))

    assert code == 200, body
    assert [app["id"] for app in body["apps"]] == [app["id"] for app in apps]
    code, body = post_apps(server, json.dumps({"apps": apps, "user_app_id": 7}))
    assert code == 400
    assert body["status"]["code"] == 11100
    assert "user_app_id" in body["status"]["description"]


def test_fields_the_schema_does_not_know_are_ignored(server: RunningServer) -> None:
    """As Clarifai's gateway does: npm clarifai@2.9 sends ``model_query.type``, since removed."""
    code, body = post_apps(
        server, json.dumps({"apps": [{"id": "with-extras", "no_such_field": 1}], "extra": [2]})
    )
    assert code == 200, body
    assert [app["id"] for app in body["apps"]] == ["with-extras"]

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
    assert body["status"]["code"] == 10000


def test_missing_credentials_over_curl(server: RunningServer) -> None:
    code, body = curl(f"{server.http_url}/v2/users/me/apps")
    assert code == 401
    assert body["status"] == {
        "code": 11008,
        "description": "Invalid API key or Invalid API key/application pair",
        "req_id": body["status"]["req_id"],
    }


def test_health_over_http_and_grpc(server: RunningServer) -> None:
    code, body = curl(f"{server.http_url}/health")
    assert code == 200
    assert body["status"]["code"] == 10000
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
        assert body["status"]["code"] == 40033
        assert "larger than" in body["status"]["description"]
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


def _post_big(server: RunningServer) -> tuple[int, dict[str, Any]]:
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


# protobuf's binary parser takes messages at most 100 levels below the request, and each
# object in a Struct costs 3 levels (the Struct, its map entry, the Value): metadata of an
# input (request -> Input -> Data -> Struct) may nest 32 objects, of an app 33.
INPUT_METADATA_MAX_OBJECTS = 32
APP_METADATA_MAX_OBJECTS = 33


def nested_objects(levels: int) -> dict[str, Any]:
    """``levels`` objects, each holding the next under "k"; the innermost holds a string."""
    value: Any = "leaf"
    for _ in range(levels):
        value = {"k": value}
    return cast(dict[str, Any], value)


def _user_app(app_id: str) -> dict[str, str]:
    return {"user_id": "me", "app_id": app_id}


def _text_input_with_metadata(app_id: str, input_id: str, depth: int) -> Any:
    """A PostInputs request of one text input whose metadata nests ``depth`` objects, built by
    the JSON parser in place: copying a Struct this deep into a field trips the client's own
    binary limit first."""
    return json_format.ParseDict(
        {
            "user_app_id": _user_app(app_id),
            "inputs": [
                {
                    "id": input_id,
                    "data": {"text": {"raw": input_id}, "metadata": nested_objects(depth)},
                }
            ],
        },
        service_pb2.PostInputsRequest(),
    )


def test_metadata_nested_past_protobufs_limit_is_refused_alike_on_both_transports(
    api: Api,
) -> None:
    app_id = create_app(api).id
    too_deep = _text_input_with_metadata(app_id, "deep", INPUT_METADATA_MAX_OBJECTS + 1)
    deepest_allowed = _text_input_with_metadata(app_id, "ok", INPUT_METADATA_MAX_OBJECTS)

    refused = api.stub.PostInputs(too_deep, metadata=api.pat)
    accepted = api.stub.PostInputs(deepest_allowed, metadata=api.pat)

    assert refused.status.code == BAD_REQUEST_FORMAT, refused.status
    assert accepted.status.code == SUCCESS, accepted.status
    listed = api.stub.ListInputs(
        service_pb2.ListInputsRequest(user_app_id=resources_pb2.UserAppIDSet(**_user_app(app_id))),
        metadata=api.pat,
    )
    assert listed.status.code == SUCCESS, listed.status
    assert [item.id for item in listed.inputs] == ["ok"]
    fetched = api.stub.GetInput(
        service_pb2.GetInputRequest(
            user_app_id=resources_pb2.UserAppIDSet(**_user_app(app_id)), input_id="ok"
        ),
        metadata=api.pat,
    )
    assert fetched.status.code == SUCCESS, fetched.status
    assert json_format.MessageToDict(fetched.input.data.metadata) == nested_objects(
        INPUT_METADATA_MAX_OBJECTS
    )


def test_app_metadata_nested_past_protobufs_limit_is_refused_alike_on_both_transports(
    api: Api,
) -> None:
    def post_app(app_id: str, levels: int) -> Any:
        request = json_format.ParseDict(
            {"apps": [{"id": app_id, "metadata": nested_objects(levels)}]},
            service_pb2.PostAppsRequest(),
        )
        return api.stub.PostApps(request, metadata=api.pat)

    refused = post_app(unique_id("deep"), APP_METADATA_MAX_OBJECTS + 1)
    accepted_id = unique_id("deepest")
    accepted = post_app(accepted_id, APP_METADATA_MAX_OBJECTS)

    assert refused.status.code == BAD_REQUEST_FORMAT, refused.status
    assert accepted.status.code == SUCCESS, accepted.status
    listed = api.stub.ListApps(service_pb2.ListAppsRequest(per_page=1000), metadata=api.pat)
    assert listed.status.code == SUCCESS, listed.status
    assert accepted_id in {app.id for app in listed.apps}


def nested_json(opening: str, closing: str, levels: int) -> str:
    """JSON text nesting ``levels`` containers (built as text: Python's json recurses)."""
    return opening * levels + '"leaf"' + closing * levels


@pytest.mark.parametrize(
    "metadata",
    [
        pytest.param(json.dumps(nested_objects(INPUT_METADATA_MAX_OBJECTS + 1)), id="33-objects"),
        pytest.param(nested_json('{"k":', "}", 1000), id="1000-objects"),
        pytest.param('{"k":' + nested_json("[", "]", 500) + "}", id="500-arrays"),
        pytest.param('{"k":' + nested_json("[", "]", 1000) + "}", id="1000-arrays"),
    ],
)
def test_deeply_nested_input_metadata_over_http_is_refused_and_reads_still_answer(
    server: RunningServer, metadata: str
) -> None:
    with _http(server) as http:
        app_id = unique_id("nest")
        assert http.post("/v2/users/me/apps", json={"apps": [{"id": app_id}]}).status_code == 200
        inputs = f"/v2/users/me/apps/{app_id}/inputs"
        kept = {"id": "kept", "data": {"text": {"raw": "kept"}, "metadata": {"a": {"b": 1}}}}
        assert http.post(inputs, json={"inputs": [kept]}).status_code == 200
        body = '{"inputs": [{"id": "deep", "data": {"metadata": ' + metadata + "}}]}"

        refused = http.post(inputs, content=body, headers={"Content-Type": "application/json"})

        assert refused.status_code == 400, refused.text
        status = refused.json()["status"]
        assert status["code"] == BAD_REQUEST_FORMAT
        assert "'inputs.data.metadata' is nested too deeply" in status["description"]
        listed = http.get(inputs)
        assert listed.status_code == 200, listed.text
        assert [item["id"] for item in listed.json()["inputs"]] == ["kept"]
        fetched = http.get(f"{inputs}/kept")
        assert fetched.status_code == 200, fetched.text
        assert fetched.json()["input"]["data"]["metadata"] == {"a": {"b": 1.0}}
        assert http.get(f"{inputs}/deep").status_code == 404


def test_deeply_nested_app_metadata_over_http_is_refused_and_apps_still_list(
    server: RunningServer,
) -> None:
    with _http(server) as http:
        app_id = unique_id("deep")
        body = {"apps": [{"id": app_id, "metadata": nested_objects(APP_METADATA_MAX_OBJECTS + 1)}]}

        refused = http.post("/v2/users/me/apps", json=body)

        assert refused.status_code == 400, refused.text
        assert refused.json()["status"]["code"] == BAD_REQUEST_FORMAT
        assert "'apps.metadata' is nested too deeply" in refused.json()["status"]["description"]
        listed = http.get("/v2/users/me/apps", params={"per_page": 1000})
        assert listed.status_code == 200, listed.text
        assert app_id not in {app["id"] for app in listed.json()["apps"]}


def _http(server: RunningServer) -> httpx.Client:
    headers = {"Authorization": f"Key {server.admin_pat}"}
    return httpx.Client(base_url=server.http_url, headers=headers, timeout=30)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param('{"inputs": ' + nested_json("[", "]", 1000) + "}", id="inputs-1000-arrays"),
        pytest.param(
            '{"inputs": [{"id": ' + nested_json("[", "]", 1000) + "}]}", id="id-1000-arrays"
        ),
        pytest.param(
            '{"inputs": [{"data": {"text": {"raw": ' + nested_json('{"k":', "}", 1000) + "}}}]}",
            id="text-1000-objects",
        ),
    ],
)
def test_json_nested_a_thousand_deep_anywhere_is_bad_request_format(
    server: RunningServer, body: str
) -> None:
    with _http(server) as http:
        app_id = unique_id("nest")
        assert http.post("/v2/users/me/apps", json={"apps": [{"id": app_id}]}).status_code == 200

        refused = http.post(
            f"/v2/users/me/apps/{app_id}/inputs",
            content=body,
            headers={"Content-Type": "application/json"},
        )

        assert refused.status_code == 400, refused.text
        assert refused.json()["status"]["code"] == BAD_REQUEST_FORMAT
        assert (
            "nests objects and arrays more than 202 deep" in refused.json()["status"]["description"]
        )
