"""Records <-> protobuf messages, one function per pair."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from google.protobuf import json_format, struct_pb2, timestamp_pb2

from clarion.storage.base import AppRecord, KeyRecord, UserRecord


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
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
