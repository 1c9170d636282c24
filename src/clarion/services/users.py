"""Users: ``GetUser``, and creating users and PATs for the admin commands."""

from __future__ import annotations

from clarifai_grpc.grpc.api import service_pb2

from clarion.errors import NotFound
from clarion.services.base import HandlerTable, check_id, conflicts_as
from clarion.services.context import ALL_SCOPES, CallContext
from clarion.services.convert import user_to_proto
from clarion.services.tokens import hash_token, new_ref, new_token
from clarion.storage.base import PERSONAL_ACCESS_TOKEN, KeyRecord, Store, UserRecord


class UsersService:
    def __init__(self, store: Store) -> None:
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

    def ensure_admin(self, user_id: str, token: str | None) -> str | None:
        """On an empty database, create the admin user and its PAT; return the PAT then."""
        if self._store.count_users() > 0:
            return None
        self.create_user(user_id)
        return self.create_pat(user_id, description="admin PAT created at first start", token=token)
