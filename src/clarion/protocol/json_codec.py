"""Protobuf <-> JSON as the Clarifai HTTP+JSON API speaks it (PROTOCOL.md §2.2).

Out: proto field names, enums (status codes included) as numbers, bytes as base64, and every
field whose ``cl_default_float`` is non-zero (``Concept.value``) always present, because the
official client reads a missing one as that default. In: both field spellings, enums by name or
number, a missing ``cl_default_float`` field read as its default, GET query strings with dotted
keys, repeated keys and ``True``/``true``.
"""

from __future__ import annotations

import codecs
import math
import string
import struct
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Any, cast

import orjson
import pybase64
from clarifai_grpc.grpc.api.utils import extensions_pb2
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from clarion.errors import BadRequestFormat
from clarion.protocol.retired import RETIRED_STRING_FIELDS, retired_json

JsonObject = dict[str, Any]
FieldPath = tuple[str, ...]

_WELL_KNOWN_PREFIX = "google.protobuf."
_TRUE = frozenset({"true", "True", "TRUE", "1"})
_FALSE = frozenset({"false", "False", "FALSE", "0"})
_INT_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_SFIXED64,
    }
)
_FLOAT_TYPES = frozenset({FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE})
_INT64_CPP_TYPES = frozenset({FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64})
_OWN_JSON_STRING = frozenset(
    {"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"}
)
_NON_FINITE = {"inf": "Infinity", "-inf": "-Infinity", "nan": "NaN"}
_FLOAT32_DIGITS = ("%.6g", "%.7g", "%.8g", "%.9g")
_pack_float32, _unpack_float32 = struct.Struct("<f").pack, struct.Struct("<f").unpack
# Standard or URL-safe alphabet, padding optional (protobuf JSON accepts all of these).
# Standard and URL-safe base64 letters; padding is checked apart.
_BASE64_LETTERS = (string.ascii_letters + string.digits + "+/-_").encode()
_URL_SAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
# How deep a message may sit below the request (the request at 0): protobuf's binary parsers
# (upb and C++, recursion limit 100) refuse deeper ones, so gRPC answers CONN_BAD_REQUEST_FORMAT.
# JSON is held to the same bound, counted as the binary parser counts. json_format counts no
# levels inside a Struct: it took metadata nested 34 objects deep, which was stored and then
# failed every read that turned it back into a message, and past about 330 it overflowed
# Python's stack (issue 22).
MAX_MESSAGE_DEPTH = 100
# An object or array where the message has a scalar (or a message has an array) is refused by
# the parser, which prints the value in its error: past about 1,000 levels that overflowed
# Python's stack. Such a value is refused first when nested deeper than any JSON that fits
# protobuf's limit: two levels a message level (a repeated message field: the list, then the
# object), plus the request's object and a list of scalars.
_MAX_JSON_DEPTH = 2 * MAX_MESSAGE_DEPTH + 2
# A Struct's object costs three levels (the Struct, its map entry, the Value), a list two
# (the ListValue, the Value); scalars sit in the Value already counted.
_OBJECT_LEVELS, _LIST_LEVELS = 3, 2
_STRUCT_TYPES = frozenset(
    {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}
)


def message_to_json(message: Message) -> JsonObject:
    """The JSON object for ``message``, as the official clients expect to read it.

    What ``json_format.MessageToDict`` gives (proto names, enums as numbers), with each
    ``cl_default_float`` field present, built in one pass with a converter chosen once per
    field: a prediction's response (20 concepts, 2.7 KB of JSON) took 280 µs against 650 for
    ``MessageToDict`` and a second walk for the default floats (timed one after the other).
    Most of what is left is finding each float's shortest decimal.
    """
    if message.DESCRIPTOR.full_name.startswith(_WELL_KNOWN_PREFIX):
        return cast(JsonObject, _well_known_to_json(message))  # a Struct is a plain object
    return _regular_message_to_json(message)


def _regular_message_to_json(message: Message) -> JsonObject:
    data: JsonObject = {}
    for field, value in message.ListFields():
        name, convert = _field_plan(field)
        data[name] = convert(value)
    for field, _default in _default_float_fields(message.DESCRIPTOR):
        if field.name not in data:
            data[field.name] = getattr(message, field.name)
    return data


Converter = Callable[[Any], Any]


@cache
def _field_plan(field: FieldDescriptor) -> tuple[str, Converter]:
    """The field's JSON name, and how to turn its value (as ``ListFields`` gives it) into JSON."""
    name = f"[{field.full_name}]" if field.is_extension else field.name
    return name, _field_converter(field)


def _field_converter(field: FieldDescriptor) -> Converter:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        convert_value = _value_converter(field.message_type.fields_by_name["value"])
        return lambda entries: {_map_key(k): convert_value(v) for k, v in entries.items()}
    convert = _value_converter(field)
    if field.is_repeated:
        return lambda values: [convert(value) for value in values]
    return convert


def _value_converter(field: FieldDescriptor) -> Converter:
    """One value of ``field`` to JSON, as ``json_format`` renders it."""
    if field.message_type is not None:
        if field.message_type.full_name in _OWN_JSON_STRING:
            return _own_json_string
        if field.message_type.full_name.startswith(_WELL_KNOWN_PREFIX):
            return _well_known_to_json  # structs, wrappers, Any: json_format's forms
        if field.message_type.full_name in RETIRED_STRING_FIELDS:
            return _with_retired_fields  # chosen per field: other messages pay nothing
        return _regular_message_to_json
    if field.type == FieldDescriptor.TYPE_BYTES:
        return _base64_text
    if field.cpp_type in _INT64_CPP_TYPES:
        return str
    if field.type == FieldDescriptor.TYPE_FLOAT:
        return _float32_json
    if field.type == FieldDescriptor.TYPE_DOUBLE:
        return _double_json
    if field.type == FieldDescriptor.TYPE_BOOL:
        return bool
    if field.type == FieldDescriptor.TYPE_STRING:
        return str
    return _same  # enums as numbers, 32-bit integers


def _with_retired_fields(message: Message) -> JsonObject:
    """A message that may carry fields the schema retired: those too, by their old names."""
    data = _regular_message_to_json(message)
    data.update(retired_json(message))
    return data


def _own_json_string(message: Message) -> str:
    """What ``json_format`` writes for a timestamp, a duration or a field mask: the
    message's own ``ToJsonString``, called here without a printer around it (10 µs each)."""
    return str(message.ToJsonString())  # type: ignore[attr-defined]


def _well_known_to_json(message: Message) -> object:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, use_integers_for_enums=True
    )


def _map_key(key: object) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _base64_text(value: bytes) -> str:
    return pybase64.b64encode(value).decode("ascii")


def _same(value: object) -> object:
    return value


def _double_json(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return _NON_FINITE[str(value)]


def _float32_json(value: float) -> float | str:
    """The shortest decimal that reads back as the same 32-bit float, as ``json_format``
    picks it: the first of 6, 7, 8 or 9 significant digits that does (its loop, with the
    formats and the packing made once: 3.6 µs a value against 5.9)."""
    if not math.isfinite(value):
        return _NON_FINITE[str(value)]
    for digits in _FLOAT32_DIGITS:
        rounded = float(digits % value)
        if _unpack_float32(_pack_float32(rounded))[0] == value:
            return rounded
    return value  # not a 32-bit float's value (a float field never holds one)


def json_to_message(
    data: object, message_type: type[Message], *, ignore_unknown_fields: bool = False
) -> Message:
    """Parse a decoded JSON value into ``message_type``; a mismatch is ``BadRequestFormat``.

    ``ignore_unknown_fields`` skips fields the schema does not know: the server's requests (as
    Clarifai's gateway, for old clients that send removed fields) and the client's responses (a
    newer server may send fields this version does not know) both set it.
    """
    if not isinstance(data, dict):
        raise BadRequestFormat(f"Expected a JSON object, got {type(data).__name__}")
    data, decoded = _take_bytes(descriptor_of(message_type), data, "")
    message = message_type()
    try:
        json_format.ParseDict(
            data,
            message,
            ignore_unknown_fields=ignore_unknown_fields,
            # Its count starts at 1 for the request; _take_bytes has checked MAX_MESSAGE_DEPTH.
            max_recursion_depth=MAX_MESSAGE_DEPTH + 1,
        )
    except json_format.ParseError as exc:
        raise BadRequestFormat(f"Invalid request: {exc}") from exc
    for steps, value in decoded:
        _set_bytes(message, steps, value)
    _fill_default_floats(message, data)
    return message


# Where a bytes field sits in a message: (field name, index in a repeated field or None)...
_Steps = tuple[tuple[str, int | None], ...]


def _take_bytes(
    descriptor: Descriptor, data: JsonObject, path: str, steps: _Steps = (), depth: int = 0
) -> tuple[JsonObject, list[tuple[_Steps, bytes]]]:
    """``data`` with its bytes fields' base64 taken out, and those fields decoded; data nested
    past ``MAX_MESSAGE_DEPTH`` is ``BadRequestFormat`` (``depth``: that of ``data``'s message).

    Bytes fields must hold real base64 (the protobuf parser would skip stray characters), and
    they are decoded here rather than by the parser, whose pure-Python decoding of an image of
    117 KB took a millisecond (bench/predict.py over HTTP, profiled). The depth is checked in
    the same walk, which never reads inside strings, so an image costs it nothing.
    ``data`` is not changed.
    """
    decoded: list[tuple[_Steps, bytes]] = []
    rest = dict(data)
    for key, value in data.items():
        field = _find_field(descriptor, key)
        if field is None:
            continue  # the parser names unknown fields itself
        where = f"{path}.{key}" if path else key
        repeated = isinstance(value, list)
        items = value if repeated else [value]
        if field.type == FieldDescriptor.TYPE_BYTES:
            for index, item in enumerate(items):
                place = (field.name, index if repeated else None)
                decoded.append(((*steps, place), _decoded_base64(item, where)))
            rest[key] = [""] * len(items) if repeated else ""
        elif (message_type := _plain_message_type(field)) is not None:
            _check_depth(depth + 1, where)
            if repeated != field.is_repeated:  # an array for one, or not one for many
                _check_stray_json(value, where)
                continue  # the parser refuses it
            parts = []
            for index, item in enumerate(items):
                if not isinstance(item, dict):
                    _check_stray_json(item, where)
                    parts.append(item)  # the parser refuses it
                    continue
                place = (field.name, index if repeated else None)
                part, inner = _take_bytes(message_type, item, where, (*steps, place), depth + 1)
                parts.append(part)
                decoded.extend(inner)
            rest[key] = parts if repeated else parts[0]
        elif (other_type := field.message_type) is not None:
            _check_other_message_depth(field, other_type, value, depth + 1, where)
        else:  # a scalar field: scalars (in an array if repeated), or the parser refuses it
            for item in items if repeated == field.is_repeated else [value]:
                _check_stray_json(item, where)
    return rest, decoded


def _check_stray_json(value: object, where: str) -> None:
    """Refuse ``value``, JSON the parser will refuse at ``where``, if it nests past
    ``_MAX_JSON_DEPTH`` (walked without recursion); the parser describes a shallower one."""
    if not isinstance(value, dict | list):
        return
    pending: list[tuple[dict[str, Any] | list[Any], int]] = [(value, 1)]
    while pending:
        container, depth = pending.pop()
        if depth > _MAX_JSON_DEPTH:
            raise BadRequestFormat(
                f"'{where}' nests objects and arrays more than {_MAX_JSON_DEPTH} deep, more "
                f"than any message takes (protobuf reads at most {MAX_MESSAGE_DEPTH} levels)"
            )
        values = container.values() if isinstance(container, dict) else container
        pending.extend((child, depth + 1) for child in values if isinstance(child, dict | list))


def _check_depth(depth: int, where: str) -> None:
    if depth > MAX_MESSAGE_DEPTH:
        raise BadRequestFormat(
            f"'{where}' is nested too deeply: messages may sit at most {MAX_MESSAGE_DEPTH} "
            "levels below the request (protobuf's limit, which gRPC applies too), and in a "
            "Struct such as metadata each object takes 3 levels and each list 2"
        )


def _check_other_message_depth(
    field: FieldDescriptor, message: Descriptor, value: object, depth: int, where: str
) -> None:
    """Check the JSON of a map field, or of a well-known type, whose ``message`` (a map's
    entry) sits at ``depth``."""
    _check_depth(depth, where)
    if message.GetOptions().map_entry:
        if not isinstance(value, dict):
            _check_stray_json(value, where)
            return
        value_field = message.fields_by_name["value"]
        for item in value.values():  # each value sits in a map entry
            if value_field.message_type is None:
                _check_stray_json(item, where)
            else:
                _check_value_depth(value_field.message_type, item, depth + 1, where)
        return
    items = value if field.is_repeated and isinstance(value, list) else [value]
    for item in items:
        _check_value_depth(message, item, depth, where)


def _check_value_depth(message: Descriptor, value: object, depth: int, where: str) -> None:
    """Check JSON for one ``message`` (at ``depth``); the parser refuses a mismatched type."""
    _check_depth(depth, where)
    if message.full_name in _STRUCT_TYPES:
        _check_free_form_depth(message.full_name, value, depth, where)
    elif isinstance(value, dict) and _plain_message_type_of(message):
        _take_bytes(message, value, where, (), depth)  # its bytes are left to the parser
    else:  # a wrapper, a timestamp...: a scalar in JSON
        _check_stray_json(value, where)


def _check_free_form_depth(type_name: str, value: object, depth: int, where: str) -> None:
    """Check JSON for a Struct, Value or ListValue at ``depth``, without recursion (so no
    nesting that orjson takes overflows the stack here), stopping at the first level too deep.

    Each pending item is a JSON value and the depth of the Value message that holds it; a
    Struct or a ListValue field is held as if by a Value one level up.
    """
    holder_depth = depth if type_name == "google.protobuf.Value" else depth - 1
    pending: list[tuple[object, int]] = [(value, holder_depth)]
    while pending:
        item, value_depth = pending.pop()
        children: Iterable[object]
        if isinstance(item, dict):
            step, children = _OBJECT_LEVELS, item.values()
        elif isinstance(item, list):
            step, children = _LIST_LEVELS, item
        else:
            continue  # a scalar, in its Value
        _check_depth(value_depth + (step if item else 1), where)  # empty: the Struct or list
        pending.extend((child, value_depth + step) for child in children)


@cache  # one entry a field of the schema; asked for every field of every request
def _plain_message_type(field: FieldDescriptor) -> Descriptor | None:
    """The field's message type if the parser reads it as an object of fields (not a map,
    not a well-known type); else None."""
    message: Descriptor | None = field.message_type
    return message if message is not None and _plain_message_type_of(message) else None


def _plain_message_type_of(message: Descriptor) -> bool:
    return not message.full_name.startswith(_WELL_KNOWN_PREFIX) and not (
        message.GetOptions().map_entry
    )


def _decoded_base64(value: object, where: str) -> bytes:
    """The bytes of base64 in ``is_base64``'s grammar, or ``BadRequestFormat``."""
    if isinstance(value, str):
        try:  # the usual case, standard letters and padded, checked while decoded
            return pybase64.b64decode(value.encode("ascii"), validate=True)
        except (UnicodeEncodeError, ValueError):
            pass
    if not isinstance(value, str) or not is_base64(value.strip()):
        raise BadRequestFormat(f"'{where}' is not valid base64")
    letters = value.strip().rstrip("=").encode("ascii").translate(_URL_SAFE_TO_STANDARD)
    return pybase64.b64decode(letters + b"=" * (-len(letters) % 4), validate=True)


def _set_bytes(message: Message, steps: _Steps, value: bytes) -> None:
    """Set the bytes field at ``steps`` (its place was held by an empty value) to ``value``."""
    *parents, (name, index) = steps
    target: Any = message
    for parent, position in parents:
        child = getattr(target, parent)
        target = child if position is None else child[position]
    if index is None:
        setattr(target, name, value)
    else:
        getattr(target, name)[index] = value


def is_base64(text: str) -> bool:
    """Whether ``text`` is base64 (standard or URL-safe letters, padding optional).

    Deleting the letters in C and looking at what is left is fast on an image of megabytes,
    where a regular expression took milliseconds (bench/predict.py over HTTP, profiled).
    """
    body = text.rstrip("=")
    padded = len(text) - len(body)
    tail = len(body) % 4
    if tail == 1 or padded > 2 or (padded and tail == 0):
        return False
    try:
        letters = body.encode("ascii")
    except UnicodeEncodeError:
        return False
    return not letters.translate(None, _BASE64_LETTERS)


def decode_json_body(body: bytes) -> JsonObject:
    """The JSON object in a request body (UTF-8, RFC 8259; a leading byte order mark is
    ignored, as the standard library's decoder did); an empty body is an empty object."""
    if not body.strip():
        return {}
    try:
        data = orjson.loads(body.removeprefix(codecs.BOM_UTF8))
    except orjson.JSONDecodeError as exc:  # malformed JSON or UTF-8
        raise BadRequestFormat(f"Request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequestFormat(f"Request body must be a JSON object, got {type(data).__name__}")
    return data


def descriptor_of(message_type: type[Message]) -> Descriptor:
    return cast(Descriptor, message_type.DESCRIPTOR)


def query_to_json(items: Iterable[tuple[str, str]], message_type: type[Message]) -> JsonObject:
    """Turn ``user_app_id.app_id=x&ids=a&ids=b&flag=True`` into JSON for ``message_type``."""
    descriptor = descriptor_of(message_type)
    data: JsonObject = {}
    for key, raw in items:
        path = tuple(key.split("."))
        field = _field_at(descriptor, path, key)
        value = _scalar_from_text(field, raw, key)
        if field.is_repeated:
            _container_at(data, path[:-1])[field.name] = [
                *_container_at(data, path[:-1]).get(field.name, []),
                value,
            ]
        else:
            _container_at(data, path[:-1])[field.name] = value
    return data


def set_path_params(
    data: JsonObject, params: Mapping[FieldPath, str], message_type: type[Message]
) -> None:
    """Write URL path parameters into ``data``; they override the body and the query."""
    descriptor = descriptor_of(message_type)
    for path, raw in params.items():
        field = _field_at(descriptor, path, ".".join(path))
        container = _container_at(data, path[:-1], descriptor)
        container.pop(field.json_name, None)
        container[field.name] = _scalar_from_text(field, raw, ".".join(path))


def _field_at(descriptor: Descriptor, path: FieldPath, key: str) -> FieldDescriptor:
    current: Descriptor | None = descriptor
    field: FieldDescriptor | None = None
    for name in path:
        if current is None:
            raise BadRequestFormat(f"Unknown parameter '{key}': '{field.name}' has no fields")  # type: ignore[union-attr]
        field = _find_field(current, name)
        if field is None:
            raise BadRequestFormat(f"Unknown parameter '{key}' for {descriptor.name}")
        current = field.message_type
    assert field is not None
    if field.message_type is not None and not field.message_type.full_name.startswith(
        _WELL_KNOWN_PREFIX
    ):
        raise BadRequestFormat(f"Parameter '{key}' is a message; name one of its fields")
    return field


def _find_field(descriptor: Descriptor, name: str) -> FieldDescriptor | None:
    field = descriptor.fields_by_name.get(name)
    if field is not None:
        return field
    return next((f for f in descriptor.fields if f.json_name == name), None)


def _container_at(
    data: JsonObject, path: FieldPath, descriptor: Descriptor | None = None
) -> JsonObject:
    container = data
    for name in path:
        if descriptor is not None:
            # Move a lowerCamel spelling of the parent to its proto name before filling it.
            field = _find_field(descriptor, name)
            if field is not None and field.json_name in container and field.name != field.json_name:
                container[field.name] = container.pop(field.json_name)
            descriptor = field.message_type if field is not None else None
        child = container.setdefault(name, {})
        if not isinstance(child, dict):
            raise BadRequestFormat(f"'{name}' must be an object")
        container = child
    return container


def _scalar_from_text(field: FieldDescriptor, raw: str, key: str) -> object:
    try:
        if field.type == FieldDescriptor.TYPE_BOOL:
            if raw in _TRUE:
                return True
            if raw in _FALSE:
                return False
            raise ValueError(raw)
        if field.type in _INT_TYPES:
            return int(raw)
        if field.type in _FLOAT_TYPES:
            return float(raw)
        if field.type == FieldDescriptor.TYPE_ENUM and raw.lstrip("-").isdigit():
            return int(raw)
    except ValueError as exc:
        raise BadRequestFormat(f"Parameter '{key}' has an invalid value '{raw}'") from exc
    return raw


@cache
def _default_float_fields(descriptor: Descriptor) -> tuple[tuple[FieldDescriptor, float], ...]:
    """The fields of ``descriptor`` whose ``cl_default_float`` is non-zero."""
    found = []
    for field in descriptor.fields:
        default = field.GetOptions().Extensions[extensions_pb2.cl_default_float]
        if default:
            found.append((field, float(default)))
    return tuple(found)


def _message_fields(message: Message) -> Iterable[tuple[FieldDescriptor, Any]]:
    for field, value in message.ListFields():
        if field.message_type is None or field.message_type.full_name.startswith(
            _WELL_KNOWN_PREFIX
        ):
            continue
        yield field, value


def _fill_default_floats(message: Message, data: JsonObject) -> None:
    for field, default in _default_float_fields(message.DESCRIPTOR):
        if field.name not in data and field.json_name not in data:
            setattr(message, field.name, default)
    for field, value in _message_fields(message):
        child_json = data.get(field.name, data.get(field.json_name))
        for child, child_data in _children(field, value, child_json):
            _fill_default_floats(child, child_data)


def _children(
    field: FieldDescriptor, value: Any, data: object
) -> Iterable[tuple[Message, JsonObject]]:
    """Pairs of (sub-message, its JSON object) under one message field."""
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value_field = field.message_type.fields_by_name["value"]
        if value_field.message_type is None or not isinstance(data, dict):
            return
        for key, child in value.items():
            child_data = data.get(str(key))
            if isinstance(child_data, dict):
                yield child, child_data
    elif field.is_repeated:
        if isinstance(data, list):
            for child, child_data in zip(value, data, strict=False):
                if isinstance(child_data, dict):
                    yield child, child_data
    elif isinstance(data, dict):
        yield value, data
