"""Users, apps and keys."""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2

from clarion.services.messages.values import struct, timestamp, visibility
from clarion.storage.accounts import AppRecord, KeyRecord, UserRecord


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
        visibility=visibility(app.visibility),
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
