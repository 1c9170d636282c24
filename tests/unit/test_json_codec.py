from __future__ import annotations

import base64
import copy
import re
import string
from collections.abc import Callable
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from hypothesis import given, strategies as st

from clarion.errors import BadRequestFormat
from clarion.protocol.json_codec import (
    decode_json_body,
    is_base64,
    json_to_message,
    message_to_json,
    query_to_json,
    set_path_params,
)


def test_output_uses_proto_names_and_numeric_enums() -> None:
    response = service_pb2.MultiAppResponse(
        status=status_pb2.Status(code=status_code_pb2.SUCCESS),
        apps=[
            resources_pb2.App(
                id="a",
                user_id="u",
                visibility=resources_pb2.Visibility(gettable=resources_pb2.Visibility.PUBLIC),
            )
        ],
    )
    assert message_to_json(response) == {
        "status": {"code": 10000},
        "apps": [{"id": "a", "user_id": "u", "visibility": {"gettable": 50}}],
    }


def test_concept_value_is_always_emitted_even_zero() -> None:
    data = resources_pb2.Data(
        concepts=[resources_pb2.Concept(id="cat", value=0.0), resources_pb2.Concept(id="dog")]
    )
    assert message_to_json(data)["concepts"] == [
        {"id": "cat", "value": 0.0},
        {"id": "dog", "value": 0.0},
    ]


def test_missing_concept_value_is_read_as_one() -> None:
    request = json_to_message(
        {"inputs": [{"data": {"concepts": [{"id": "cat"}, {"id": "dog", "value": 0}]}}]},
        service_pb2.PostInputsRequest,
    )
    concepts = request.inputs[0].data.concepts  # type: ignore[attr-defined]
    assert [(c.id, c.value) for c in concepts] == [("cat", 1.0), ("dog", 0.0)]


def test_both_spellings_and_enum_names_are_accepted() -> None:
    request = json_to_message(
        {"userAppId": {"appId": "main"}, "apps": [{"visibility": {"gettable": "PUBLIC"}}]},
        service_pb2.PostAppsRequest,
    )
    assert request.user_app_id.app_id == "main"  # type: ignore[attr-defined]
    assert request.apps[0].visibility.gettable == 50  # type: ignore[attr-defined]


def test_unknown_field_is_a_bad_request_naming_it() -> None:
    with pytest.raises(BadRequestFormat, match="nonsense"):
        json_to_message({"nonsense": 1}, service_pb2.ListAppsRequest)


@pytest.mark.parametrize("body", [b"{", b"[1]", b"\xff\xfe", b'{"a": "\xff"}', b'{"a": NaN}'])
def test_malformed_body_is_a_bad_request(body: bytes) -> None:
    with pytest.raises(BadRequestFormat, match=r"not valid JSON|must be a JSON object"):
        decode_json_body(body)


def test_a_byte_order_mark_before_the_body_is_ignored() -> None:
    assert decode_json_body(b'\xef\xbb\xbf{"a": "\xc3\xa9"}') == {"a": "\u00e9"}


def test_query_with_dotted_repeated_and_python_bools() -> None:
    items = [
        ("user_app_id.app_id", "main"),
        ("use_cases", "a"),
        ("use_cases", "b"),
        ("per_page", "5"),
        ("sort_ascending", "True"),
        ("trained_only", "false"),
    ]
    data = query_to_json(items, service_pb2.ListModelsRequest)
    assert data == {
        "user_app_id": {"app_id": "main"},
        "use_cases": ["a", "b"],
        "per_page": 5,
        "sort_ascending": True,
        "trained_only": False,
    }
    request = json_to_message(data, service_pb2.ListModelsRequest)
    assert list(request.use_cases) == ["a", "b"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("key", "value"),
    [("per_page", "many"), ("sort_ascending", "maybe"), ("no_such", "1"), ("user_app_id", "x")],
)
def test_bad_query_parameters_are_bad_requests(key: str, value: str) -> None:
    with pytest.raises(BadRequestFormat, match=key):
        query_to_json([(key, value)], service_pb2.ListModelsRequest)


def test_path_params_override_body_in_either_spelling() -> None:
    data = {"userAppId": {"appId": "from-body", "userId": "u"}}
    set_path_params(data, {("user_app_id", "app_id"): "from-path"}, service_pb2.GetAppRequest)
    request = json_to_message(data, service_pb2.GetAppRequest)
    assert request.user_app_id.app_id == "from-path"  # type: ignore[attr-defined]
    assert request.user_app_id.user_id == "u"  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["aGVsbG8=", "aGVsbG8", "aGVs-_8=", ""])
def test_base64_is_accepted_in_its_forms(value: str) -> None:
    data = {"inputs": [{"data": {"image": {"base64": value}}}]}
    json_to_message(data, service_pb2.PostInputsRequest)


@pytest.mark.parametrize("value", ["not base64!", "aGVsbG8=x", "a", 7])
def test_invalid_base64_is_a_bad_request(value: object) -> None:
    data = {"inputs": [{"data": {"image": {"base64": value}}}]}
    with pytest.raises(BadRequestFormat, match=r"inputs\.data\.image\.base64"):
        json_to_message(data, service_pb2.PostInputsRequest)


# The base64 grammar the codec accepts, written as a regular expression: the oracle.
BASE64_GRAMMAR = re.compile(r"(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2,3}={0,2})?")


@given(st.text(alphabet=string.ascii_letters + string.digits + "+/-_=!é \n", max_size=12))
def test_is_base64_accepts_exactly_the_base64_grammar(text: str) -> None:
    assert is_base64(text) == bool(BASE64_GRAMMAR.fullmatch(text))


@given(st.text(alphabet=string.ascii_letters + string.digits + "+/-_=!é \n", max_size=16))
def test_bytes_fields_decode_as_the_protobuf_parser_would(text: str) -> None:
    """The codec decodes bytes fields itself (fast); the protobuf parser is the oracle."""
    data: dict[str, Any] = {
        "inputs": [
            {"data": {"image": {"base64": "aGVsbG8="}}},
            {"id": "b", "data": {"image": {"base64": text, "url": "http://x/1.jpg"}}},
        ]
    }
    sent = copy.deepcopy(data)
    if not BASE64_GRAMMAR.fullmatch(text.strip()):
        with pytest.raises(BadRequestFormat, match=r"inputs\.data\.image\.base64"):
            json_to_message(data, service_pb2.PostInputsRequest)
        return
    # The parser counts surrounding whitespace when it pads (and then fails): give it none.
    data["inputs"][1]["data"]["image"]["base64"] = text.strip()
    expected = json_format.ParseDict(data, service_pb2.PostInputsRequest())
    data["inputs"][1]["data"]["image"]["base64"] = text
    assert json_to_message(data, service_pb2.PostInputsRequest) == expected
    assert data == sent  # the caller's JSON is left as it was


def test_is_base64_on_real_encodings() -> None:
    raw = bytes(range(256)) * 3
    assert is_base64(base64.b64encode(raw).decode())
    assert is_base64(base64.urlsafe_b64encode(raw).decode().rstrip("="))
    assert not is_base64(base64.b64encode(raw).decode()[:-5] + "*" + "AAAA")


def _nested(shape: str, levels: int) -> object:
    """Containers ``levels`` deep: objects, lists, or both in turn, around a string or, for
    ``*-empty``, around an empty container."""
    value: object = {} if shape.endswith("empty") else "leaf"
    for level in range(levels):
        as_object = shape.startswith("objects") or (shape.startswith("mixed") and level % 2)
        value = {"k": value} if as_object else [1, value]
    return value


# Where a Struct sits decides how deep it may nest: protobuf counts from the request.
# Each place: the request type, and how to wrap a metadata Struct's JSON into its body.
STRUCT_PLACES: dict[str, tuple[type[Message], Callable[[Any], dict[str, Any]]]] = {
    "input-metadata": (
        service_pb2.PostInputsRequest,
        lambda metadata: {"inputs": [{"data": {"metadata": metadata}}]},
    ),
    "region-metadata": (
        service_pb2.PostInputsRequest,
        lambda metadata: {"inputs": [{"data": {"regions": [{"data": {"metadata": metadata}}]}}]},
    ),
    "app-metadata": (
        service_pb2.PostAppsRequest,
        lambda metadata: {"apps": [{"metadata": metadata}]},
    ),
    "search-filter-metadata": (
        service_pb2.PostSearchesRequest,
        lambda metadata: {
            "searches": [{"query": {"filters": [{"annotation": {"data": {"metadata": metadata}}}]}}]
        },
    ),
}


@pytest.mark.parametrize("place", list(STRUCT_PLACES))
@pytest.mark.parametrize("shape", ["objects", "lists", "mixed", "objects-empty", "lists-empty"])
def test_nesting_is_refused_exactly_where_protobufs_binary_parser_refuses_it(
    place: str, shape: str
) -> None:
    request_type, wrap = STRUCT_PLACES[place]
    for levels in range(20, 60):
        data = wrap({"top": _nested(shape, levels)})
        built = json_format.ParseDict(data, request_type())
        try:
            request_type.FromString(built.SerializeToString())
            grpc_accepts = True
        except DecodeError:
            grpc_accepts = False
        try:
            json_to_message(data, request_type)
            json_accepts = True
        except BadRequestFormat as refused:
            assert "nested too deeply" in refused.description
            json_accepts = False
        assert json_accepts == grpc_accepts, (place, shape, levels)


@pytest.mark.parametrize("levels", [500, 1000])
@pytest.mark.parametrize("shape", ["objects", "lists", "mixed"])
def test_nesting_the_json_decoder_takes_is_a_bad_request_not_a_crash(
    shape: str, levels: int
) -> None:
    data = {"apps": [{"metadata": {"top": _nested(shape, levels)}}]}
    with pytest.raises(BadRequestFormat, match=r"'apps\.metadata' is nested too deeply"):
        json_to_message(data, service_pb2.PostAppsRequest)


def test_recursive_messages_nested_too_deeply_are_a_bad_request() -> None:
    data: dict[str, object] = {"text": {"raw": "x"}}
    for _ in range(60):  # Data -> regions -> Region -> data -> Data: two levels a turn
        data = {"regions": [{"data": data}]}
    with pytest.raises(BadRequestFormat, match="nested too deeply"):
        json_to_message({"inputs": [{"data": data}]}, service_pb2.PostInputsRequest)


@pytest.mark.parametrize("levels", [100, 101])
def test_a_chain_of_messages_is_refused_exactly_where_protobuf_refuses_it(levels: int) -> None:
    # A repeated field of the message's own type: two JSON levels a message level (the list,
    # the object), the most JSON a valid request can nest.
    data: dict[str, object] = {"name": "leaf"}
    for _ in range(levels):
        data = {"type_args": [data]}
    built = json_format.ParseDict(data, resources_pb2.ModelTypeField(), max_recursion_depth=200)
    try:
        resources_pb2.ModelTypeField.FromString(built.SerializeToString())
        grpc_accepts = True
    except DecodeError:
        grpc_accepts = False
    try:
        json_to_message(data, resources_pb2.ModelTypeField)
        json_accepts = True
    except BadRequestFormat:
        json_accepts = False
    assert json_accepts == grpc_accepts == (levels <= 100)


def test_json_nested_past_what_any_message_takes_is_refused_wherever_it_is() -> None:
    deep: object = 1
    for _ in range(1000):
        deep = [deep]
    with pytest.raises(BadRequestFormat, match="nests objects and arrays more than 202 deep"):
        json_to_message({"inputs": [{"id": deep}]}, service_pb2.PostInputsRequest)
