"""``message_to_json`` renders what ``json_format.MessageToDict`` does, default floats added.

The oracle is the renderer ``message_to_json`` replaced: ``MessageToDict`` (proto names,
numeric enums) and then a walk adding every absent ``cl_default_float`` field. Every message
type of the V2 schema is filled at random, many times, and both must give the same JSON text.
"""

from __future__ import annotations

import json
import math
import random
import struct
from typing import Any, cast

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.internal import type_checkers
from google.protobuf.message import Message

from clarion.protocol.json_codec import (
    _children,
    _default_float_fields,
    _float32_json,
    _map_key,
    _message_fields,
    message_to_json,
)

WELL_KNOWN = "google.protobuf."
MAX_DEPTH = 4


def oracle(message: Message) -> Any:
    data = json_format.MessageToDict(
        message, preserving_proto_field_name=True, use_integers_for_enums=True
    )
    _add_default_floats(message, data)
    return data


def _add_default_floats(message: Message, data: dict[str, Any]) -> None:
    for field, _default in _default_float_fields(message.DESCRIPTOR):
        if field.name not in data:
            data[field.name] = getattr(message, field.name)
    for field, value in _message_fields(message):
        for child, child_data in _children(field, value, data.get(field.name)):
            _add_default_floats(child, child_data)


def _float32(value: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def _random_float32(rng: random.Random) -> float:
    kind = rng.random()
    if kind < 0.05:
        special = [0.0, -0.0, math.inf, -math.inf, math.nan, 1.0, 0.1, 3.4028234663852886e38]
        return _float32(rng.choice(special))
    if kind < 0.15:
        return _float32(struct.unpack("<f", rng.getrandbits(32).to_bytes(4, "little"))[0])
    return _float32(rng.uniform(-1, 1) * 10 ** rng.randint(-40, 38))


def _scalar(field: FieldDescriptor, rng: random.Random) -> object:
    kind = field.type
    if kind == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if kind == FieldDescriptor.TYPE_STRING:
        return "".join(rng.choice('ab é✓"\\\n') for _ in range(rng.randint(0, 6)))
    if kind == FieldDescriptor.TYPE_BYTES:
        return rng.randbytes(rng.randint(0, 7))
    if kind == FieldDescriptor.TYPE_FLOAT:
        value = _random_float32(rng)
        return 0.5 if math.isnan(value) and rng.random() < 0.5 else value
    if kind == FieldDescriptor.TYPE_DOUBLE:
        return rng.choice([rng.uniform(-1e300, 1e300), 0.1, math.inf, -math.inf, math.nan])
    if kind == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        return rng.choice([v.number for v in field.enum_type.values])
    if field.cpp_type in (FieldDescriptor.CPPTYPE_INT32,):
        return rng.randint(-(2**31), 2**31 - 1)
    if field.cpp_type == FieldDescriptor.CPPTYPE_UINT32:
        return rng.randint(0, 2**32 - 1)
    if field.cpp_type == FieldDescriptor.CPPTYPE_INT64:
        return rng.randint(-(2**63), 2**63 - 1)
    return rng.randint(0, 2**64 - 1)


def _fill_well_known(message: Any, rng: random.Random) -> None:
    name = message.DESCRIPTOR.full_name
    if name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
        message.seconds = rng.randint(0, 2**31)
        message.nanos = rng.choice([0, 1000, 123456789])
    elif name == "google.protobuf.Struct":
        message.update({"a": rng.random(), "b": [1, "x", None, True], "c": {"d": "e"}})
    elif name == "google.protobuf.Value":
        message.string_value = "v"
    elif name == "google.protobuf.FieldMask":
        message.paths.append("some_field")
    elif name.endswith("Value") and "value" in message.DESCRIPTOR.fields_by_name:  # wrappers
        message.value = _scalar(message.DESCRIPTOR.fields_by_name["value"], rng)
    # Any stays empty: packing one needs a registered type, which is not what this is about.


def fill(message: Message, rng: random.Random, depth: int = 0) -> None:
    """Set about half of ``message``'s fields, at random, down to ``MAX_DEPTH``."""
    # The stubs type DESCRIPTOR as the Python or the upb class; both have this interface.
    descriptor = cast(Descriptor, message.DESCRIPTOR)
    if descriptor.full_name.startswith(WELL_KNOWN):
        _fill_well_known(message, rng)
        return
    for field in descriptor.fields:
        if rng.random() < 0.5 or (field.message_type is not None and depth >= MAX_DEPTH):
            continue
        if field.containing_oneof is not None and message.WhichOneof(field.containing_oneof.name):
            continue
        _fill_field(message, field, rng, depth)


def _fill_field(message: Message, field: FieldDescriptor, rng: random.Random, depth: int) -> None:
    container = getattr(message, field.name)
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
        for _ in range(rng.randint(1, 2)):
            key = _scalar(key_field, rng)
            if value_field.message_type is None:
                container[key] = _scalar(value_field, rng)
            else:
                fill(container[key], rng, depth + 1)
    elif field.is_repeated:
        for _ in range(rng.randint(1, 3)):
            if field.message_type is None:
                container.append(_scalar(field, rng))
            else:
                fill(container.add(), rng, depth + 1)
    elif field.message_type is not None:
        container.SetInParent()
        fill(container, rng, depth + 1)
    else:
        setattr(message, field.name, _scalar(field, rng))


def _every_message_type() -> list[type[Message]]:
    found = {}
    for module in (resources_pb2, service_pb2):
        for name in module.DESCRIPTOR.message_types_by_name:
            found[f"{module.__name__}.{name}"] = getattr(module, name)
    return list(found.values())


def _text(data: object) -> str:
    return json.dumps(data, separators=(",", ":"), allow_nan=True)


@pytest.mark.parametrize("seed", range(4))
def test_every_message_type_renders_as_the_oracle_does(seed: int) -> None:
    rng = random.Random(seed)
    for message_type in _every_message_type():
        message = message_type()
        fill(message, rng)
        assert _text(message_to_json(message)) == _text(oracle(message)), message_type.__name__


def test_a_prediction_renders_as_the_oracle_does() -> None:
    response = service_pb2.MultiOutputResponse()
    output = response.outputs.add(id="o", model=resources_pb2.Model(id="general"))
    output.created_at.GetCurrentTime()
    for index in range(20):
        output.data.concepts.add(id=f"c{index}", name="cat", value=1 / (index + 3), app_id="main")
    output.data.concepts.add(id="zero")  # value 0: present all the same
    assert _text(message_to_json(response)) == _text(oracle(response))


def test_a_struct_on_its_own_is_a_plain_object() -> None:
    message = resources_pb2.Input().data.metadata
    message.update({"group": 3, "tags": ["a"]})
    assert message_to_json(message) == {"group": 3.0, "tags": ["a"]}


def test_float32_decimals_are_protobufs_shortest_for_many_values() -> None:
    rng = random.Random(7)
    for _ in range(20000):
        value = _random_float32(rng)
        if math.isfinite(value):
            assert _float32_json(value) == type_checkers.ToShortestFloat(value), value


def test_map_keys_are_written_as_json_format_writes_them() -> None:
    assert [_map_key(key) for key in (True, False, 7, "k")] == ["true", "false", "7", "k"]
