"""Fields Clarifai's schema has retired that old clients still read.

``OutputInfo.type`` (4) and ``type_ext`` (5) left the schema long ago, but the deprecated
``clarifai==2.6.2`` client reads ``output_info["type"]`` of every model when its
``ClarifaiApp`` is built, and fails without it. The pinned ``clarifai-grpc`` has no such
fields, so Clarion carries them as unknown fields of the message: gRPC sends them as they
are (a client whose schema still has them reads them; others skip them), and the JSON
codec writes them under their old names (``retired_json``).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet

_LENGTH_DELIMITED = 2
# By message type: each retired string field's number and its name in JSON.
RETIRED_STRING_FIELDS: dict[str, dict[int, str]] = {
    "clarifai.api.OutputInfo": {4: "type", 5: "type_ext"},
}


def set_retired_strings(message: Message, values: Mapping[str, str]) -> None:
    """Give ``message`` the retired string fields named in ``values`` (its type's, above)."""
    names = tuple(sorted(values.items()))
    message.MergeFromString(_encoded(message.DESCRIPTOR.full_name, names))


@cache
def _encoded(type_name: str, values: tuple[tuple[str, str], ...]) -> bytes:
    """The wire bytes of those fields (few and always the same: encoded once each)."""
    number_of = {name: number for number, name in RETIRED_STRING_FIELDS[type_name].items()}
    out = b""
    for name, value in values:
        encoded = value.encode("utf-8")
        tag = _varint(number_of[name] << 3 | _LENGTH_DELIMITED)
        out += tag + _varint(len(encoded)) + encoded
    return out


def retired_json(message: Message) -> dict[str, str]:
    """The retired string fields ``message`` carries, by their old JSON names."""
    names = RETIRED_STRING_FIELDS.get(message.DESCRIPTOR.full_name, {})
    found: dict[str, str] = {}
    unknown = UnknownFieldSet(message)
    for index in range(len(unknown)):  # the stubs know only len() and indexing
        field = unknown[index]
        name = names.get(field.field_number)
        if name is not None and field.wire_type == _LENGTH_DELIMITED:
            found[name] = bytes(field.data).decode("utf-8", errors="replace")
    return found


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
