"""How much free-form data (``google.protobuf.Struct``) a request carries, found without
walking the parts of the message that can hold none."""

from __future__ import annotations

import functools

from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

_FREE_FORM = frozenset(
    {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}
)


def free_form_bytes(message: Message) -> int:
    """The encoded size of every Struct, Value and ListValue in ``message``, added up: the
    metadata, annotation data and such a request would store, as protobuf counts it (a
    number 9 bytes, a string its length and 2, a key its length and 4 or so)."""
    if message.DESCRIPTOR.full_name in _FREE_FORM:
        return message.ByteSize()
    if not _may_hold_free_form(message.DESCRIPTOR):
        return 0
    total = 0
    for field, value in message.ListFields():
        kind = field.message_type
        if kind is None:
            continue
        if kind.GetOptions().map_entry:
            values = value.values() if kind.fields_by_name["value"].message_type else ()
        elif field.is_repeated:
            values = value
        else:
            values = (value,)
        total += sum(free_form_bytes(item) for item in values)
    return total


@functools.cache
def _may_hold_free_form(descriptor: Descriptor) -> bool:
    """Whether a message of this type can hold a Struct somewhere (cached per type)."""
    return _reaches_free_form(descriptor, frozenset())


def _reaches_free_form(descriptor: Descriptor, seen: frozenset[str]) -> bool:
    if descriptor.full_name in _FREE_FORM:
        return True
    if descriptor.full_name in seen:
        return False  # a cycle; the other paths decide
    seen = seen | {descriptor.full_name}
    return any(
        _reaches_free_form(field.message_type, seen)
        for field in descriptor.fields
        if field.message_type is not None
    )
