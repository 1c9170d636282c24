"""Collaborators: an app's owner lets other users in, each with the scopes of a role.

A collaborator calls with their own PAT; on the app they get the scopes both their PAT and
their role grant (server/auth.py). What only an owner does (deleting the app, its keys, its
collaborators) is never part of a role.
"""

from __future__ import annotations

from collections.abc import Sequence

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2

from clarion.errors import InvalidArgument, NotFound, PermissionDenied
from clarion.protocol.descriptor import v2_methods
from clarion.services.base import HandlerTable, app_pk, conflicts_as, require_app
from clarion.services.context import ALL_SCOPES, CallContext
from clarion.services.messages.collaborators import collaboration_to_proto, collaborator_to_proto
from clarion.services.paging import page_of
from clarion.services.patching import patch_action, patched_by_id
from clarion.storage.accounts import AppRecord, UserRecord
from clarion.storage.collaborators import CollaboratorRecord, CollaboratorStore

# Scopes an owner keeps: a role that held them could take the app from its owner.
OWNER_ONLY_SCOPES = frozenset(
    {
        "Apps_Add",
        "Apps_Delete",
        "Collaborators_Add",
        "Collaborators_Delete",
        "Keys_Add",
        "Keys_Delete",
        "Keys_Get",
        "Secrets_Add",
        "Secrets_Delete",
        "Secrets_Get",
    }
)


def _service_scopes() -> frozenset[str]:
    return frozenset(scope for method in v2_methods().values() for scope in method.scopes)


class CollaboratorsService:
    def __init__(self, collaborators: CollaboratorStore) -> None:
        self._collaborators = collaborators
        self._known_scopes = _service_scopes()
        self._known_methods = frozenset(v2_methods())
        # A collaborator added without scopes gets every scope an owner may share.
        self.default_scopes = tuple(sorted(self._known_scopes - OWNER_ONLY_SCOPES))

    def handlers(self) -> HandlerTable:
        return {
            "PostCollaborators": self.post_collaborators,
            "ListCollaborators": self.list_collaborators,
            "PatchCollaborators": self.patch_collaborators,
            "DeleteCollaborators": self.delete_collaborators,
            "ListCollaborations": self.list_collaborations,
        }

    def post_collaborators(
        self, request: service_pb2.PostCollaboratorsRequest, ctx: CallContext
    ) -> service_pb2.MultiCollaboratorsResponse:
        app = _owned_app(ctx, "add collaborators")
        if not request.collaborators:
            raise InvalidArgument("PostCollaborators needs at least one collaborator")
        users = [self._user_of(app, asked) for asked in request.collaborators]
        records = [
            CollaboratorRecord(
                user_id=user.id,
                scopes=self._checked_scopes(asked.scopes) or self.default_scopes,
                endpoints=self._checked_endpoints(asked.endpoints),
            )
            for user, asked in zip(users, request.collaborators, strict=True)
        ]
        with conflicts_as("collaborator", ", ".join(user.id for user in users)):
            added = self._collaborators.add_collaborators(app_pk(app), records)
        return service_pb2.MultiCollaboratorsResponse(
            collaborators=[
                collaborator_to_proto(record, app, user)
                for record, user in zip(added, users, strict=True)
            ]
        )

    def list_collaborators(
        self, request: service_pb2.ListCollaboratorsRequest, ctx: CallContext
    ) -> service_pb2.MultiCollaboratorsResponse:
        app = require_app(ctx)
        page = page_of(request.page, request.per_page)
        found = self._collaborators.list_collaborators(app_pk(app), page)
        return service_pb2.MultiCollaboratorsResponse(
            collaborators=[collaborator_to_proto(record, app) for record in found],
            app_owner=resources_pb2.User(id=app.user_id),
        )

    def patch_collaborators(
        self, request: service_pb2.PatchCollaboratorsRequest, ctx: CallContext
    ) -> service_pb2.MultiCollaboratorsResponse:
        app = _owned_app(ctx, "change collaborators")
        action = patch_action(request.action, default="overwrite")
        patched = []
        for asked in request.collaborators:
            user_id = asked.id or asked.user.id
            current = self._collaborators.get_collaborator(app_pk(app), user_id)
            if current is None:
                raise NotFound("collaborator", user_id)
            scopes = patched_by_id(current.scopes, self._checked_scopes(asked.scopes), action, str)
            endpoints = patched_by_id(
                current.endpoints, self._checked_endpoints(asked.endpoints), action, str
            )
            if not scopes:
                raise InvalidArgument(
                    f"Collaborator '{user_id}' would be left with no scopes: remove the "
                    "collaborator with DeleteCollaborators instead"
                )
            changed = CollaboratorRecord(
                user_id=user_id,
                scopes=tuple(scopes),
                endpoints=tuple(endpoints),
                created_at=current.created_at,
            )
            patched.append(self._collaborators.update_collaborator(app_pk(app), changed))
        return service_pb2.MultiCollaboratorsResponse(
            collaborators=[collaborator_to_proto(record, app) for record in patched]
        )

    def delete_collaborators(
        self, request: service_pb2.DeleteCollaboratorsRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        app = _owned_app(ctx, "remove collaborators")
        user_ids = list(request.collaborator_ids)
        for email in request.user_emails:
            user = self._collaborators.find_user(email=email)
            if user is None:
                raise NotFound("user with e-mail", email)
            user_ids.append(user.id)
        if not user_ids:
            raise InvalidArgument("DeleteCollaborators needs collaborator_ids or user_emails")
        for user_id in user_ids:
            if self._collaborators.get_collaborator(app_pk(app), user_id) is None:
                raise NotFound("collaborator", user_id)
        self._collaborators.delete_collaborators(app_pk(app), user_ids)
        return status_pb2.BaseResponse()

    def list_collaborations(
        self, request: service_pb2.ListCollaborationsRequest, ctx: CallContext
    ) -> service_pb2.MultiCollaborationsResponse:
        if not ctx.own_user:
            raise NotFound("user", ctx.user_id)
        if request.template_only:
            raise InvalidArgument(
                "template_only is not supported: Clarion has no app templates; leave it unset"
            )
        page = page_of(request.page, request.per_page)
        found = self._collaborators.list_collaborations(ctx.user_id, page)
        return service_pb2.MultiCollaborationsResponse(
            collaborations=[collaboration_to_proto(app, record) for app, record in found]
        )

    def _user_of(self, app: AppRecord, asked: resources_pb2.Collaborator) -> UserRecord:
        user_id, email = asked.user.id, asked.user.primary_email
        if not user_id and not email:
            raise InvalidArgument("Each collaborator needs user.id or user.primary_email")
        user = self._collaborators.find_user(user_id=user_id, email=email)
        if user is None:
            raise NotFound("user", user_id or email)
        if user.id == app.user_id:
            raise InvalidArgument(f"User '{user.id}' owns app '{app.id}': owners need no role")
        return user

    def _checked_scopes(self, scopes: Sequence[str]) -> tuple[str, ...]:
        if ALL_SCOPES in scopes:
            raise InvalidArgument(
                f"A collaborator cannot be given '{ALL_SCOPES}': name the scopes of their role"
            )
        kept = sorted(set(scopes) & OWNER_ONLY_SCOPES)
        if kept:
            raise InvalidArgument(
                f"Scopes {', '.join(kept)} stay with the app's owner and cannot be given to "
                "a collaborator"
            )
        unknown = sorted(set(scopes) - self._known_scopes)
        if unknown:
            raise InvalidArgument(f"Unknown scope(s) {', '.join(unknown)}")
        return tuple(dict.fromkeys(scopes))

    def _checked_endpoints(self, endpoints: Sequence[str]) -> tuple[str, ...]:
        unknown = sorted(set(endpoints) - self._known_methods)
        if unknown:
            raise InvalidArgument(
                f"Unknown endpoint(s) {', '.join(unknown)}: name V2 methods, like GetInput"
            )
        return tuple(dict.fromkeys(endpoints))


def _owned_app(ctx: CallContext, doing: str) -> AppRecord:
    """The app, when the caller owns it: only an owner may ``doing``."""
    app = require_app(ctx)
    if not ctx.caller.owns(app):
        raise PermissionDenied(f"Only the owner of app '{app.id}' may {doing}")
    return app
