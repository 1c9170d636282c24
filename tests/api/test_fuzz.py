"""Hypothesis throws malformed and random requests at every route of both transports.

No crash, no internal error, no answer without a Clarifai status, no hang (each call has a
timeout). Bounded in examples so CI stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from clarion.protocol.descriptor import v2_methods
from clarion.protocol.routes import RouteTable
from clarion.testing import TEST_ADMIN_PAT, RunningServer, running_server

INTERNAL = 98004
APP = "fuzzed"
ROUTES = RouteTable(v2_methods().values()).routes
UNARY = [m for m in v2_methods().values() if not m.streaming]
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.~%", min_size=1, max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "user_app_id",
        "inputs",
        "data",
        "image",
        "base64",
        "url",
        "concepts",
        "value",
        "metadata",
        "page",
        "per_page",
        "ids",
        "id",
        "model",
        "output_info",
        "searches",
        "query",
        "ranks",
        "filters",
        "apps",
        "keys",
        "scopes",
        "geo",
        "action",
        "pagination",
    ]
)
bodies = st.one_of(
    st.dictionaries(field_names, json_values, max_size=5).map(json.dumps),
    json_values.map(json.dumps),
    st.binary(max_size=200).map(lambda raw: raw.decode("latin-1")),
)
queries = st.lists(
    st.tuples(st.one_of(field_names, st.text(max_size=10)), st.text(max_size=10)), max_size=4
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(
        tmp_path_factory.mktemp("fuzz"), rate_limit_per_key=0, rate_limit_per_app=0
    ) as running:
        yield running


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Key {TEST_ADMIN_PAT}", "Content-Type": "application/json"}
    with httpx.Client(base_url=server.http_url, headers=headers, timeout=30) as client:
        yield client


def _path(template: tuple[Any, ...], values: list[str]) -> str:
    """Fill the template: user and app mostly real ones, so calls reach the handlers."""
    parts = []
    for index, part in enumerate(template):
        if isinstance(part, str):
            parts.append(part)
        elif part == ("user_app_id", "user_id"):
            parts.append("me")
        elif part == ("user_app_id", "app_id"):
            parts.append(APP if values[0] != "-" else values[-1])
        else:
            parts.append(values[index % len(values)])
    return "/" + "/".join(parts)


@FUZZ
@given(
    route_index=st.integers(min_value=0, max_value=len(ROUTES) - 1),
    values=st.lists(segment, min_size=1, max_size=6),
    body=bodies,
    query=queries,
)
def test_http_gateway_answers_every_route_with_a_status(
    http: httpx.Client, route_index: int, values: list[str], body: str, query: list[tuple[str, str]]
) -> None:
    route = ROUTES[route_index]
    verb = route.binding.verb
    response = http.request(
        verb,
        _path(route.segments, values),
        params=query,
        content=None if verb == "GET" else body.encode("utf-8", "surrogatepass"),
    )
    payload = response.json()
    assert isinstance(payload["status"]["code"], int), payload
    assert payload["status"]["code"] != INTERNAL, payload
    assert response.status_code < 500 or response.status_code in (501, 503), payload


@FUZZ
@given(method_index=st.integers(min_value=0, max_value=len(UNARY) - 1), raw=st.binary(max_size=300))
def test_grpc_answers_random_bytes_with_a_status(
    server: RunningServer, method_index: int, raw: bytes
) -> None:
    method = UNARY[method_index]
    with grpc.insecure_channel(server.grpc_target) as channel:
        call = channel.unary_unary(
            method.full_name,
            request_serializer=lambda data: data,
            response_deserializer=method.response_type.FromString,
        )
        response = call(raw, metadata=(("authorization", f"Key {TEST_ADMIN_PAT}"),), timeout=30)
    assert response.status.code != 0
    assert response.status.code != INTERNAL, (method.name, response.status)
