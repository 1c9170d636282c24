"""Users, apps (and their copies) and keys."""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2

from clarion.services.messages.values import status, struct, timestamp, visibility
from clarion.storage.accounts import AppRecord, KeyRecord, UserRecord
from clarion.storage.app_copies import COPY_KINDS, DuplicationRecord


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


def duplication_to_proto(user_id: str, record: DuplicationRecord) -> resources_pb2.AppDuplication:
    """A copy of an app: what it copies (``filter``), where it stands, what it copied."""
    chosen = {f"copy_{kind}": kind in record.copy for kind in COPY_KINDS}
    return resources_pb2.AppDuplication(
        id=record.id,
        new_app_id=record.destination_app_id,
        destination_app=resources_pb2.App(id=record.destination_app_id, user_id=user_id),
        status=status(record.status_code, record.status_description),
        created_at=timestamp(record.created_at),
        last_modified_at=timestamp(record.modified_at),
        filter=resources_pb2.AppDuplicationFilters(**chosen),
        progress=[
            resources_pb2.AppCopyProgress(field=kind, value=count)
            for kind, count in record.progress.items()
        ],
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
