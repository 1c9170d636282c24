"""Users: ``GetUser``, and creating users and PATs for the admin commands."""

from __future__ import annotations

import contextlib

from clarifai_grpc.grpc.api import service_pb2

from clarion.errors import AlreadyExists, NotFound
from clarion.services.base import HandlerTable, check_id, conflicts_as
from clarion.services.context import ALL_SCOPES, CallContext
from clarion.services.messages.accounts import user_to_proto
from clarion.services.tokens import hash_token, new_ref, new_token
from clarion.storage.accounts import (
    PERSONAL_ACCESS_TOKEN,
    AccountStore,
    AppRecord,
    KeyRecord,
    UserRecord,
)

PUBLIC_VISIBILITY = 50


class UsersService:
    def __init__(self, store: AccountStore) -> None:
        self._store = store

    def handlers(self) -> HandlerTable:
        return {"GetUser": self.get_user}

    def get_user(
        self, request: service_pb2.GetUserRequest, ctx: CallContext
    ) -> service_pb2.SingleUserResponse:
        user = self._store.get_user(ctx.user_id)
        if user is None or not ctx.own_user:
            raise NotFound("user", ctx.user_id)
        return service_pb2.SingleUserResponse(user=user_to_proto(user))

    def create_user(self, user_id: str) -> UserRecord:
        with conflicts_as("user", user_id):
            return self._store.create_user(UserRecord(id=check_id("user", user_id)))

    def create_pat(self, user_id: str, description: str = "", token: str | None = None) -> str:
        """A new PAT with every scope for ``user_id``; returns the token (shown only now)."""
        if self._store.get_user(user_id) is None:
            raise NotFound("user", user_id)
        token = token or new_token()
        self._store.create_key(
            KeyRecord(
                ref=new_ref(),
                token_hash=hash_token(token),
                user_id=user_id,
                type=PERSONAL_ACCESS_TOKEN,
                description=description,
                scopes=(ALL_SCOPES,),
            )
        )
        return token

    def ensure_public_app(self, user_id: str, app_id: str) -> None:
        """The public app the built-in models live in (``clarifai/main``), made once.

        Several server processes starting together on one database race to make it: the
        loser finds it made.
        """
        if self._store.get_user(user_id) is None:
            with contextlib.suppress(AlreadyExists):
                self.create_user(user_id)
        if self._store.get_app(user_id, app_id) is None:
            public = AppRecord(
                user_id=user_id,
                id=app_id,
                name="Built-in models",
                description="The models that ship with Clarion",
                visibility=PUBLIC_VISIBILITY,
            )
            with contextlib.suppress(AlreadyExists), conflicts_as("app", app_id):
                self._store.create_apps([public])

    def ensure_admin(self, user_id: str, token: str | None) -> str | None:
        """On a new database, create the admin user and its PAT; return the PAT then.

        Call it before anything else creates users (the public app's user included).
        """
        if self._store.count_users() > 0:
            return None
        try:
            self.create_user(user_id)
        except AlreadyExists:
            return None  # another server process, starting at the same time, made it
        return self.create_pat(user_id, description="admin PAT created at first start", token=token)
