"""Hypothesis throws malformed and random requests at every route of both transports.

No crash, no internal error, no answer without a Clarifai status, no hang (each call has a
timeout). Bounded in examples so CI stays fast.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, event, given, settings, strategies as st

from clarion.protocol.descriptor import v2_methods
from clarion.protocol.json_codec import set_path_params
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
        tmp_path_factory.mktemp("fuzz"),
        rate_limit_per_key=0,
        rate_limit_per_app=0,
        max_metadata_bytes=METADATA_LIMIT,
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
        params=tuple(query),
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


# -- stored Structs and lists: nesting depth and size ----------------------------------------
#
# Every free-form value the API stores is fuzzed in depth (objects and lists nested up to
# 45 levels, past protobuf's limit of 100 message levels: a Struct object costs 3) and in
# size (up to twice the server's metadata limit, set low here so big examples stay cheap).
# Each write must answer a clear refusal or succeed; a success must read back equal, by id
# and in its list, over HTTP: a stored value that a later read cannot render is the defect.

METADATA_LIMIT = 16 * 1024
CLEAR_REFUSALS = {11100, 11102, 40002, 40033}  # bad format, invalid, bad search, too large
leaf_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
# Depths spread evenly (a list strategy favours short lists), so the limit is crossed often.
nesting = st.integers(0, 45).flatmap(
    lambda depth: st.lists(st.sampled_from(["object", "list"]), min_size=depth, max_size=depth)
)
# Mostly small; sometimes near or past METADATA_LIMIT (a number takes about 11 bytes).
widths = st.one_of(st.integers(0, 6), st.integers(1000, 3000))


def nested_struct(levels: list[str], leaf: Any, width: int) -> dict[str, Any]:
    """A Struct (a JSON object) holding ``width`` copies of ``leaf``, inside ``levels``."""
    value: Any = [leaf] * width
    for level in reversed(levels):
        value = {"n": value} if level == "object" else [value]
    return {"m": value}


@dataclass(frozen=True)
class StoredField:
    """Where the API stores a free-form value: how to write it into a new resource of an
    app, and how to read that resource back by id and in its list."""

    name: str
    write: Callable[[str, Any], tuple[str, str, dict[str, Any]]]  # (id, value) -> verb, path, body
    read: Callable[[str], str]  # id -> path
    listing: str
    stored: Callable[[dict[str, Any]], Any]  # read answer -> the value as stored


def _in_app(path: str) -> str:
    return f"/v2/users/me/apps/{STORE_APP}{path}"


STORE_APP = "fuzz-stored"
ANCHOR = "anchor"  # an input of STORE_APP that annotations are made on
STORED_FIELDS = [
    StoredField(
        "input metadata",
        lambda id_, value: (
            "POST",
            _in_app("/inputs"),
            {"inputs": [{"id": id_, "data": {"text": {"raw": "x"}, "metadata": value}}]},
        ),
        lambda id_: _in_app(f"/inputs/{id_}"),
        _in_app("/inputs"),
        lambda answer: answer["input"]["data"].get("metadata", {}),
    ),
    StoredField(
        "app metadata",
        lambda id_, value: (
            "POST",
            "/v2/users/me/apps",
            {"apps": [{"id": id_, "metadata": value}]},
        ),
        lambda id_: f"/v2/users/me/apps/{id_}",
        "/v2/users/me/apps",
        lambda answer: answer["app"].get("metadata", {}),
    ),
    StoredField(
        "concept metadata",
        lambda id_, value: (
            "POST",
            _in_app("/concepts"),
            {"concepts": [{"id": id_, "name": id_, "metadata": value}]},
        ),
        lambda id_: _in_app(f"/concepts/{id_}"),
        _in_app("/concepts"),
        lambda answer: answer["concept"].get("metadata", {}),
    ),
    StoredField(
        "dataset metadata",
        lambda id_, value: (
            "POST",
            _in_app("/datasets"),
            {"datasets": [{"id": id_, "metadata": value}]},
        ),
        lambda id_: _in_app(f"/datasets/{id_}"),
        _in_app("/datasets"),
        lambda answer: answer["dataset"].get("metadata", {}),
    ),
    StoredField(
        "model metadata",
        lambda id_, value: (
            "POST",
            _in_app("/models"),
            {"models": [{"id": id_, "model_type_id": "embedding-classifier", "metadata": value}]},
        ),
        lambda id_: _in_app(f"/models/{id_}"),
        _in_app("/models"),
        lambda answer: answer["model"].get("metadata", {}),
    ),
    StoredField(
        "annotation data",
        lambda id_, value: (
            "POST",
            _in_app("/annotations"),
            {"annotations": [{"id": id_, "input_id": ANCHOR, "data": {"metadata": value}}]},
        ),
        lambda id_: _in_app(f"/inputs/{ANCHOR}/annotations/{id_}"),
        _in_app("/annotations"),
        lambda answer: answer["annotation"]["data"].get("metadata", {}),
    ),
    StoredField(
        "saved search query",
        lambda id_, value: (
            "POST",
            _in_app("/inputs/searches"),
            {
                "searches": [
                    {
                        "id": id_,
                        "save": True,
                        "query": {"filters": [{"annotation": {"data": {"metadata": value}}}]},
                    }
                ]
            },
        ),
        lambda id_: _in_app(f"/searches/{id_}"),
        _in_app("/searches"),
        lambda answer: answer["search"]["query"]["filters"][0]["annotation"]["data"].get(
            "metadata", {}
        ),
    ),
]
STORE_FUZZ = settings(
    max_examples=70,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def stored_app(server: RunningServer, http: httpx.Client) -> str:
    made = http.post("/v2/users/me/apps", json={"apps": [{"id": STORE_APP}]})
    assert made.json()["status"]["code"] == 10000, made.text
    anchor = {"id": ANCHOR, "data": {"text": {"raw": "annotated"}}}
    posted = http.post(_in_app("/inputs"), json={"inputs": [anchor]})
    assert posted.json()["status"]["code"] == 10000, posted.text
    return STORE_APP


def _send(
    server: RunningServer, http: httpx.Client, transport: str, verb: str, path: str, body: Any
) -> tuple[int, str]:
    """Write over HTTP, or over gRPC when the body makes a message on the client's side
    (protobuf's own parser refuses what nests too deep); the status code and description."""
    if transport == "grpc":
        match = RouteTable(v2_methods().values()).match(verb, path)
        assert match is not None
        message = match.method.request_type()
        data = dict(body)
        set_path_params(data, match.path_params, match.method.request_type)
        try:
            json_format.ParseDict(data, message)
        except (json_format.ParseError, RecursionError):
            transport = "json"
        else:
            with grpc.insecure_channel(server.grpc_target) as channel:
                call = channel.unary_unary(
                    match.method.full_name,
                    request_serializer=lambda m: m.SerializeToString(),
                    response_deserializer=match.method.response_type.FromString,
                )
                answer = call(message, metadata=(("authorization", f"Key {TEST_ADMIN_PAT}"),))
            return answer.status.code, answer.status.description
    response = http.request(verb, path, content=json.dumps(body))
    assert response.status_code < 500 or response.status_code == 503, response.text
    status = response.json()["status"]
    return status["code"], status.get("description", "")


@STORE_FUZZ
@given(
    field_index=st.integers(min_value=0, max_value=len(STORED_FIELDS) - 1),
    levels=nesting,
    leaf=leaf_values,
    width=widths,
    transport=st.sampled_from(["json", "grpc"]),
)
def test_stored_structs_of_any_depth_and_size_are_refused_clearly_or_read_back(
    server: RunningServer,
    http: httpx.Client,
    stored_app: str,
    field_index: int,
    levels: list[str],
    leaf: Any,
    width: int,
    transport: str,
) -> None:
    field = STORED_FIELDS[field_index]
    value = nested_struct(levels, leaf, width)
    resource_id = f"f{uuid.uuid4().hex[:12]}"
    verb, path, body = field.write(resource_id, value)

    code, description = _send(server, http, transport, verb, path, body)
    event(f"{field.name}: {code}")

    if code != 10000:
        assert code in CLEAR_REFUSALS, (field.name, code, description)
        assert description, (field.name, code)
    else:
        read = http.get(field.read(resource_id)).json()
        assert read["status"]["code"] == 10000, (field.name, read["status"])
        assert field.stored(read) == value, field.name
    listed = http.get(field.listing, params={"per_page": 5}).json()
    assert listed["status"]["code"] == 10000, (field.name, listed["status"])


def _concepts(count: int) -> list[dict[str, Any]]:
    return [{"id": f"c{i}", "value": 1} for i in range(count)]


def _metadata_filters(count: int) -> list[dict[str, Any]]:
    return [{"annotation": {"data": {"metadata": {"k": i}}}} for i in range(count)]


# Repeated fields the API stores: (name, write (id, count) -> path and body, the read that
# finds what was stored, and what that read counts).
StoredList = tuple[
    str,
    Callable[[str, int], tuple[str, dict[str, Any]]],
    Callable[[str, int], str],
    Callable[[dict[str, Any]], int],
]
STORED_LISTS: list[StoredList] = [
    (
        "input concepts",
        lambda id_, n: (
            _in_app("/inputs"),
            {"inputs": [{"id": id_, "data": {"text": {"raw": "x"}, "concepts": _concepts(n)}}]},
        ),
        lambda id_, n: _in_app(f"/inputs/{id_}"),
        lambda answer: len(answer["input"]["data"].get("concepts", [])),
    ),
    (
        "concepts of one request",
        lambda id_, n: (
            _in_app("/concepts"),
            {"concepts": [{"id": f"{id_}-{i}", "name": "x"} for i in range(n)]},
        ),
        lambda id_, n: _in_app(f"/concepts/{id_}-{n - 1}"),  # the last one made
        lambda answer: int(answer["concept"]["id"].rsplit("-", 1)[1]) + 1,
    ),
    (
        "saved search filters",
        lambda id_, n: (
            _in_app("/inputs/searches"),
            {"searches": [{"id": id_, "save": True, "query": {"filters": _metadata_filters(n)}}]},
        ),
        lambda id_, n: _in_app(f"/searches/{id_}"),
        lambda answer: len(answer["search"]["query"].get("filters", [])),
    ),
]


@STORE_FUZZ
@given(
    list_index=st.integers(min_value=0, max_value=len(STORED_LISTS) - 1),
    count=st.one_of(st.integers(0, 4), st.integers(60, 400)),
    transport=st.sampled_from(["json", "grpc"]),
)
def test_stored_lists_of_any_size_are_refused_clearly_or_read_back(
    server: RunningServer,
    http: httpx.Client,
    stored_app: str,
    list_index: int,
    count: int,
    transport: str,
) -> None:
    name, write, read, counted = STORED_LISTS[list_index]
    resource_id = f"l{uuid.uuid4().hex[:12]}"
    path, body = write(resource_id, count)

    code, description = _send(server, http, transport, "POST", path, body)
    event(f"{name}: {code}")

    if code != 10000:
        assert code in CLEAR_REFUSALS, (name, code, description)
        assert description, (name, code)
    else:
        answer = http.get(read(resource_id, count)).json()
        assert answer["status"]["code"] == 10000, (name, answer["status"])
        assert counted(answer) == count, name
