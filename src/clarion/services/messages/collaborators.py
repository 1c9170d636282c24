"""Collaborators of an app, and a user's collaborations."""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2

from clarion.services.messages.accounts import app_to_proto, user_to_proto
from clarion.services.messages.values import timestamp
from clarion.storage.accounts import AppRecord, UserRecord
from clarion.storage.collaborators import CollaboratorRecord


def collaborator_to_proto(
    record: CollaboratorRecord, app: AppRecord, user: UserRecord | None = None
) -> resources_pb2.Collaborator:
    """A collaborator; its id is the collaborating user's id (what DeleteCollaborators takes)."""
    return resources_pb2.Collaborator(
        id=record.user_id,
        app=resources_pb2.App(id=app.id, user_id=app.user_id),
        user=user_to_proto(user) if user is not None else resources_pb2.User(id=record.user_id),
        scopes=list(record.scopes),
        endpoints=list(record.endpoints),
        created_at=timestamp(record.created_at),
        modified_at=timestamp(record.modified_at),
    )


def collaboration_to_proto(
    app: AppRecord, record: CollaboratorRecord
) -> resources_pb2.Collaboration:
    return resources_pb2.Collaboration(
        app=app_to_proto(app),
        app_owner=resources_pb2.User(id=app.user_id),
        scopes=list(record.scopes),
        endpoints=list(record.endpoints),
        created_at=timestamp(record.created_at),
    )
