"""Records <-> protobuf messages, one function per pair."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_pb2
from google.protobuf import json_format, struct_pb2, timestamp_pb2
from google.protobuf.message import Message

from clarion.protocol.json_codec import message_to_json
from clarion.storage.accounts import AppRecord, KeyRecord, UserRecord
from clarion.storage.annotations import AnnotationRecord
from clarion.storage.concepts import ConceptRecord
from clarion.storage.datasets import DatasetRecord
from clarion.storage.inputs import (
    INPUT_FAILED,
    INPUT_IN_PROGRESS,
    INPUT_PENDING,
    INPUT_SUCCESS,
    InputRecord,
)

# Clarifai's descriptions of an input's status, for a record stored without one (a new input
# is pending): clarifai==2.6.2 reads status.description of every input it is given.
_INPUT_STATUS_DESCRIPTIONS = {
    INPUT_SUCCESS: "Download complete",
    INPUT_PENDING: "Download pending",
    INPUT_FAILED: "Download failed",
    INPUT_IN_PROGRESS: "Download in progress",
}


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


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


def struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(dict(values))
    return message


def struct_to_dict(message: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def user_to_proto(user: UserRecord) -> resources_pb2.User:
    return resources_pb2.User(
        id=user.id,
        first_name=user.first_name,
        last_name=user.last_name,
        company_name=user.company_name,
        primary_email=user.email,
        created_at=timestamp(user.created_at),
    )


def app_to_proto(app: AppRecord) -> resources_pb2.App:
    return resources_pb2.App(
        id=app.id,
        user_id=app.user_id,
        name=app.name,
        description=app.description,
        default_language=app.default_language,
        default_workflow_id=app.default_workflow_id,
        notes=app.notes,
        metadata=struct(app.metadata),
        visibility=resources_pb2.Visibility(gettable=app.visibility),  # type: ignore[arg-type]
        created_at=timestamp(app.created_at),
        modified_at=timestamp(app.modified_at),
    )


def key_to_proto(key: KeyRecord, *, token: str | None = None) -> resources_pb2.Key:
    """A key as the API shows it: the token only right after creation, else its ``ref``."""
    message = resources_pb2.Key(
        id=token or key.ref,
        type=key.type,
        description=key.description,
        scopes=list(key.scopes),
        endpoints=list(key.endpoints),
        created_at=timestamp(key.created_at),
        expires_at=timestamp(key.expires_at),
    )
    if key.app_id is not None:
        message.apps.append(resources_pb2.App(id=key.app_id, user_id=key.user_id))
    return message


def json_of(message: Message) -> dict[str, Any]:
    """A message as the plain JSON storage keeps (proto field names, numeric enums)."""
    return message_to_json(message)


def data_from_json(data: Mapping[str, Any]) -> resources_pb2.Data:
    message = resources_pb2.Data()
    json_format.ParseDict(dict(data), message, ignore_unknown_fields=True)
    return message


def status(code: int, description: str = "") -> status_pb2.Status:
    return status_pb2.Status(code=code, description=description)


def concept_to_proto(concept: ConceptRecord, app: AppRecord) -> resources_pb2.Concept:
    return resources_pb2.Concept(
        id=concept.id,
        name=concept.name,
        value=1.0,
        language=concept.language,
        app_id=app.id,
        user_id=app.user_id,
        created_at=timestamp(concept.created_at),
        metadata=struct(concept.metadata),
    )


def annotation_to_proto(annotation: AnnotationRecord, app: AppRecord) -> resources_pb2.Annotation:
    return resources_pb2.Annotation(
        id=annotation.id,
        input_id=annotation.input_id,
        data=data_from_json(annotation.data),
        user_id=app.user_id,
        input_level=annotation.input_level,
        status=status(annotation.status_code),
        created_at=timestamp(annotation.created_at),
        modified_at=timestamp(annotation.modified_at),
    )


def dataset_to_proto(dataset: DatasetRecord, app: AppRecord) -> resources_pb2.Dataset:
    return resources_pb2.Dataset(
        id=dataset.id,
        app_id=app.id,
        user_id=app.user_id,
        description=dataset.description,
        notes=dataset.notes,
        metadata=struct(dataset.metadata),
        created_at=timestamp(dataset.created_at),
        modified_at=timestamp(dataset.modified_at),
    )


def input_to_proto(
    record: InputRecord,
    annotation_data: Mapping[str, Any] | None = None,
    hosted: resources_pb2.HostedURL | None = None,
) -> resources_pb2.Input:
    """An input as stored: its data as sent (bytes left out), concepts, status."""
    data = resources_pb2.Data(metadata=struct(record.metadata))
    if annotation_data:
        data.concepts.extend(data_from_json(annotation_data).concepts)
    if record.kind == "image":
        data.image.url = record.url
        if hosted is not None:
            data.image.hosted.CopyFrom(hosted)
            if not record.url:
                # Uploaded bytes: Clarifai gives every stored image a URL on its data host,
                # and old clients (npm clarifai@2, clarifai==2.6.2) read nothing else.
                data.image.url = f"{hosted.prefix}/orig/{hosted.suffix}"
        if record.width:
            data.image.image_info.width = record.width
            data.image.image_info.height = record.height or 0
            data.image.image_info.format = record.format
    elif record.kind == "text":
        data.text.raw = record.text
        data.text.url = record.url
    if record.geo is not None:
        data.geo.geo_point.longitude, data.geo.geo_point.latitude = record.geo
    return resources_pb2.Input(
        id=record.id,
        data=data,
        dataset_ids=list(record.dataset_ids),
        status=status(
            record.status_code,
            record.status_description or _INPUT_STATUS_DESCRIPTIONS.get(record.status_code, ""),
        ),
        created_at=timestamp(record.created_at),
        modified_at=timestamp(record.modified_at),
    )
