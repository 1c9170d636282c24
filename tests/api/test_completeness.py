"""Every one of the 273 V2 methods is routed on both transports and answers a Clarifai status."""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import pytest

from clarion.protocol.descriptor import MethodSpec, v2_methods
from clarion.protocol.routes import parse_template
from clarion.testing import RunningServer

NOT_IMPLEMENTED = 10040


def _grpc_call(channel: grpc.Channel, method: MethodSpec) -> Any:
    """Call ``method`` with an empty request the way its streaming kind requires."""
    kwargs = {
        "request_serializer": lambda message: message.SerializeToString(),
        "response_deserializer": method.response_type.FromString,
    }
    request = method.request_type()
    metadata = (("authorization", "Key clarion-test-admin-pat"),)
    if method.client_streaming and method.server_streaming:
        call = channel.stream_stream(method.full_name, **kwargs)
        return next(iter(call(iter([request]), metadata=metadata, timeout=10)))
    if method.client_streaming:
        return channel.stream_unary(method.full_name, **kwargs)(
            iter([request]), metadata=metadata, timeout=10
        )
    if method.server_streaming:
        call = channel.unary_stream(method.full_name, **kwargs)
        return next(iter(call(request, metadata=metadata, timeout=10)))
    return channel.unary_unary(method.full_name, **kwargs)(request, metadata=metadata, timeout=10)


def sample_path(template: str) -> str:
    """A concrete path for a template, each variable filled with a value no literal uses."""
    parts = [part if isinstance(part, str) else "sample-value" for part in parse_template(template)]
    return "/" + "/".join(parts)


def test_every_method_answers_a_clarifai_status_over_grpc(server: RunningServer) -> None:
    implemented = []
    with grpc.insecure_channel(server.grpc_target) as channel:
        for method in v2_methods().values():
            response = _grpc_call(channel, method)
            assert response.status.code != 0, method.name
            assert response.status.req_id, method.name
            if response.status.code != NOT_IMPLEMENTED:
                implemented.append(method.name)
    print(f"\nimplemented over gRPC: {len(implemented)} of {len(v2_methods())}")
    assert {"PostApps", "ListApps", "PostKeys", "GetUser"} <= set(implemented)


@pytest.mark.parametrize("method", list(v2_methods().values()), ids=lambda method: method.name)
def test_every_method_is_routed_over_http(server: RunningServer, method: MethodSpec) -> None:
    headers = {"Authorization": "Key clarion-test-admin-pat"}
    binding = method.bindings[0]
    with httpx.Client(base_url=server.http_url, headers=headers) as client:
        body: dict[str, object] | None = None if binding.verb == "GET" else {}
        response = client.request(binding.verb, sample_path(binding.template), json=body)
    status = response.json()["status"]
    assert not status["description"].startswith("No API route"), status
    assert status["code"] != 11103, status  # method not allowed: the verb did not route
    assert status["req_id"]
