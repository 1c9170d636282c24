"""What every message uses: response ids, timestamps, statuses, structs, stored JSON."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_pb2
from google.protobuf import json_format, struct_pb2, timestamp_pb2
from google.protobuf.message import Message

from clarion.protocol.json_codec import message_to_json

# ``Visibility.gettable``: what Clarion's own resources (built-in models, public workflows)
# and an app's private ones show.
PRIVATE = 10
PUBLIC = 50


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    """``Timestamp.FromDatetime`` (a naive time is UTC), by integer arithmetic: the same
    seconds and nanos at a third of the cost, which counts in a page of search hits."""
    if value is None:
        return None
    seconds, nanos = _seconds_and_nanos(value)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


def fill_timestamp(target: timestamp_pb2.Timestamp, value: datetime) -> None:
    """``timestamp(value)`` written into ``target`` where it lies: a search hit's two times
    copied in from new messages cost more than the rest of its input."""
    target.seconds, target.nanos = _seconds_and_nanos(value)
    target.SetInParent()  # present even at the epoch itself, as CopyFrom made it


def _seconds_and_nanos(value: datetime) -> tuple[int, int]:
    """Since the epoch; a naive time is UTC."""
    since = (value if value.tzinfo is not None else value.replace(tzinfo=UTC)) - _EPOCH
    return since.days * 86_400 + since.seconds, since.microseconds * 1_000


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# Seeded from os.urandom, again in a forked child; apart from ``random``'s shared generator,
# which a caller may seed to repeat a sequence.
_ids = random.Random()
os.register_at_fork(after_in_child=_ids.seed)


def response_id() -> str:
    """A fresh 32-hex-digit id for a response, an output or a region: unique, not secret.

    ``uuid4`` reads ``os.urandom`` for each id, a system call that lets go of the GIL; on the
    event loop, taking it back waits for a compute thread's Python to pause (up to the 5 ms
    switch interval).
    """
    return f"{_ids.getrandbits(128):032x}"


def now_timestamp() -> timestamp_pb2.Timestamp:
    """The current time, without the datetime round trip (outputs stamp every prediction)."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(time.time_ns())
    return stamp


def status(code: int, description: str = "") -> status_pb2.Status:
    return status_pb2.Status(code=code, description=description)


def visibility(gettable: int) -> resources_pb2.Visibility:
    return resources_pb2.Visibility(gettable=gettable)  # type: ignore[arg-type]


def struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(dict(values))
    return message


def struct_to_dict(message: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def json_of(message: Message) -> dict[str, Any]:
    """A message as the plain JSON storage keeps (proto field names, numeric enums)."""
    return message_to_json(message)


def data_from_json(data: Mapping[str, Any]) -> resources_pb2.Data:
    message = resources_pb2.Data()
    json_format.ParseDict(dict(data), message, ignore_unknown_fields=True)
    return message
