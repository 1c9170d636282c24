"""Keys and scopes: app API keys and PATs, ``MyScopes`` and ``ListScopes``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2

from clarion.errors import InvalidArgument, NotFound, PermissionDenied
from clarion.protocol.descriptor import MethodSpec, all_scope_names, v2_methods
from clarion.services.base import HandlerTable, require_app, require_own_user
from clarion.services.context import ALL_SCOPES, CallContext, Principal
from clarion.services.messages.accounts import app_to_proto, key_to_proto
from clarion.services.paging import page_of
from clarion.services.patching import patch_action
from clarion.services.tokens import hash_token, new_ref, new_token
from clarion.storage.accounts import (
    APP_SPECIFIC_KEY,
    PERSONAL_ACCESS_TOKEN,
    AccountStore,
    KeyRecord,
)

KEY_TYPES = (APP_SPECIFIC_KEY, PERSONAL_ACCESS_TOKEN)


class KeysService:
    def __init__(self, store: AccountStore) -> None:
        self._store = store

    def handlers(self) -> HandlerTable:
        return {
            "PostKeys": self.post_keys,
            "GetKey": self.get_key,
            "ListKeys": self.list_keys,
            "ListAppKeys": self.list_app_keys,
            "PatchKeys": self.patch_keys,
            "DeleteKey": self.delete_key,
            "MyScopes": self.my_scopes,
            "MyScopesUser": self.my_scopes_user,
            "MyScopesRoot": self.my_scopes_root,
            "ListScopes": self.list_scopes,
        }

    def post_keys(
        self, request: service_pb2.PostKeysRequest, ctx: CallContext
    ) -> service_pb2.MultiKeyResponse:
        user_id = require_own_user(ctx)
        if not request.keys:
            raise InvalidArgument("PostKeys needs at least one key in 'keys'")
        drafts = [self._new_key(user_id, key) for key in request.keys]
        for record, _ in drafts:
            _check_grants(ctx.caller, None, record)
        created = [(self._store.create_key(record), token) for record, token in drafts]
        return service_pb2.MultiKeyResponse(
            keys=[key_to_proto(record, token=token) for record, token in created]
        )

    def get_key(
        self, request: service_pb2.GetKeyRequest, ctx: CallContext
    ) -> service_pb2.SingleKeyResponse:
        key = self._lookup(require_own_user(ctx), request.key_id)
        return service_pb2.SingleKeyResponse(key=key_to_proto(key))

    def list_keys(
        self, request: service_pb2.ListKeysRequest, ctx: CallContext
    ) -> service_pb2.MultiKeyResponse:
        user_id = require_own_user(ctx)
        found = self._store.list_keys(user_id, page_of(request.page, request.per_page))
        return service_pb2.MultiKeyResponse(keys=[key_to_proto(key) for key in found])

    def list_app_keys(
        self, request: service_pb2.ListAppKeysRequest, ctx: CallContext
    ) -> service_pb2.MultiKeyResponse:
        user_id = require_own_user(ctx)
        page = page_of(request.page, request.per_page)
        found = self._store.list_keys(user_id, page, app_id=require_app(ctx).id)
        return service_pb2.MultiKeyResponse(keys=[key_to_proto(key) for key in found])

    def patch_keys(
        self, request: service_pb2.PatchKeysRequest, ctx: CallContext
    ) -> service_pb2.MultiKeyResponse:
        user_id = require_own_user(ctx)
        action = patch_action(request.action, default="overwrite", allowed=("overwrite", "merge"))
        current = [self._lookup(user_id, patch.id) for patch in request.keys]
        changes = [
            (key, _patched(key, patch, action))
            for key, patch in zip(current, request.keys, strict=True)
        ]
        # Every patch is checked before any is stored: a refusal leaves all keys as they were.
        for before, after in changes:
            _check_grants(ctx.caller, before, after)
        patched = [self._store.update_key(after) for _, after in changes]
        return service_pb2.MultiKeyResponse(keys=[key_to_proto(key) for key in patched])

    def delete_key(
        self, request: service_pb2.DeleteKeyRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        user_id = require_own_user(ctx)
        key = self._lookup(user_id, request.key_id)
        self._store.delete_key(user_id, key.ref)
        return status_pb2.BaseResponse()

    def my_scopes(
        self, request: service_pb2.MyScopesRequest, ctx: CallContext
    ) -> service_pb2.MultiScopeResponse:
        caller = ctx.caller
        response = service_pb2.MultiScopeResponse(
            scopes=list(caller.key.scopes),
            endpoints=[method.name for method in _callable_methods(caller)],
        )
        if ctx.app is not None:
            response.app.CopyFrom(app_to_proto(ctx.app))
        return response

    def my_scopes_user(
        self, request: service_pb2.MyScopesUserRequest, ctx: CallContext
    ) -> service_pb2.MultiScopeUserResponse:
        """The PAT's scopes and the methods it may call, user-level ones included; Clarion has
        no feature flags, so ``user_feature_flags`` stays empty."""
        caller = ctx.caller
        return service_pb2.MultiScopeUserResponse(
            scopes=list(caller.key.scopes),
            endpoints=[method.name for method in _callable_methods(caller)],
        )

    def my_scopes_root(
        self, request: service_pb2.MyScopesRootRequest, ctx: CallContext
    ) -> service_pb2.MultiScopeRootResponse:
        """As ``MyScopesUser``, at the root (no user in the path): the caller's own."""
        caller = ctx.caller
        return service_pb2.MultiScopeRootResponse(
            scopes=list(caller.key.scopes),
            endpoints=[method.name for method in _callable_methods(caller)],
        )

    def list_scopes(
        self, request: service_pb2.ListScopesRequest, ctx: CallContext
    ) -> service_pb2.MultiScopeDepsResponse:
        key_type = request.key_type or APP_SPECIFIC_KEY
        _check_key_type(key_type)
        methods = [
            method
            for method in v2_methods().values()
            if key_type == PERSONAL_ACCESS_TOKEN or not method.auth_type.user_level
        ]
        return service_pb2.MultiScopeDepsResponse(
            scope_deps=[resources_pb2.ScopeDeps(scope=name) for name in all_scope_names()],
            endpoint_deps=[
                resources_pb2.EndpointDeps(
                    endpoint=method.name, depending_scopes=sorted(method.scopes)
                )
                for method in methods
            ],
        )

    def _new_key(self, user_id: str, key: resources_pb2.Key) -> tuple[KeyRecord, str]:
        key_type = key.type or APP_SPECIFIC_KEY
        _check_key_type(key_type)
        scopes = _checked_scopes(key.scopes) or _default_scopes(key_type)
        app_id = self._bound_app(user_id, key_type, key.apps)
        token = new_token()
        record = KeyRecord(
            ref=new_ref(),
            token_hash=hash_token(token),
            user_id=user_id,
            type=key_type,
            description=key.description,
            scopes=scopes,
            endpoints=_checked_endpoints(key.endpoints),
            app_id=app_id,
            expires_at=key.expires_at.ToDatetime(UTC) if key.HasField("expires_at") else None,
        )
        return record, token

    def _bound_app(
        self, user_id: str, key_type: str, apps: Sequence[resources_pb2.App]
    ) -> str | None:
        """An API key belongs to exactly one of the caller's apps; a PAT to none."""
        if key_type == PERSONAL_ACCESS_TOKEN:
            if apps:
                raise InvalidArgument("A personal access token is not bound to an app")
            return None
        if len(apps) != 1 or not apps[0].id:
            raise InvalidArgument("An app_specific_key needs exactly one app in 'apps'")
        app = apps[0]
        if app.user_id not in ("", "me", user_id) or self._store.get_app(user_id, app.id) is None:
            raise NotFound("app", app.id)
        return app.id

    def set_rate_limit(self, user_id: str, key_id: str, rate: float | None) -> KeyRecord:
        """Give a key its own rate limit in calls a second (0: none; None: the default).

        No V2 field carries it, so the CLI sets it (``clarion rate-limit``).
        """
        if rate is not None and (rate < 0 or rate != rate):
            raise InvalidArgument(f"A rate limit is a number of calls a second, not {rate}")
        key = self._lookup(user_id, key_id)
        return self._store.update_key(dataclasses.replace(key, rate_limit=rate))

    def _lookup(self, user_id: str, key_id: str) -> KeyRecord:
        """A key by the ref ListKeys shows, or by the token itself."""
        if not key_id:
            raise InvalidArgument("key_id is required")
        key = self._store.get_key(user_id, key_id) or self._store.find_key(hash_token(key_id))
        if key is None or key.user_id != user_id:
            raise NotFound("key", _masked(key_id))
        return key


def _patched(key: KeyRecord, patch: resources_pb2.Key, action: str) -> KeyRecord:
    scopes = _checked_scopes(patch.scopes)
    endpoints = _checked_endpoints(patch.endpoints)
    if action == "merge":
        scopes = tuple(dict.fromkeys([*key.scopes, *scopes]))
        endpoints = tuple(dict.fromkeys([*key.endpoints, *endpoints]))
    return replace(
        key,
        description=patch.description or key.description,
        scopes=scopes or key.scopes,
        endpoints=endpoints or key.endpoints,
        expires_at=patch.expires_at.ToDatetime(UTC)
        if patch.HasField("expires_at")
        else key.expires_at,
    )


def _check_grants(caller: Principal, before: KeyRecord | None, after: KeyRecord) -> None:
    """Refuse a key (new: ``before`` is None, or patched) that could do what ``caller`` cannot.

    Without this, a key holding only ``Keys_Add`` could mint or patch a key to ``All``. A key
    with ``All`` grants anything; any other key grants only scopes it holds, and a key limited
    to some endpoints only keys limited to (some of) those. What a patched key could already
    do stays, so a limited key may still rename or narrow a wider one.
    """
    _check_scope_grants(caller.key, _granted_scopes(before, after))
    if caller.key.endpoints:
        _check_endpoint_grants(caller.key, before, after)


def _check_scope_grants(caller: KeyRecord, granted: set[str]) -> None:
    beyond = sorted(granted - set(caller.scopes))
    if beyond and ALL_SCOPES not in caller.scopes:
        raise PermissionDenied(
            f"This key cannot grant scopes it does not have: {', '.join(beyond)}. A key may "
            f"only create or widen keys within its own scopes ({', '.join(caller.scopes)})"
        )


def _check_endpoint_grants(caller: KeyRecord, before: KeyRecord | None, after: KeyRecord) -> None:
    """``caller`` may call only its ``endpoints``: so may every key it creates or widens."""
    if before is None and not after.endpoints:
        raise PermissionDenied(
            "This key may call only some endpoints, so a key it creates must name endpoints "
            f"among them: {', '.join(caller.endpoints)}"
        )
    beyond = sorted(_granted_endpoints(before, after) - set(caller.endpoints))
    if beyond:
        raise PermissionDenied(
            f"This key cannot grant endpoints it may not call: {', '.join(beyond)}"
        )


def _granted_scopes(before: KeyRecord | None, after: KeyRecord) -> set[str]:
    """The scopes ``after`` has that ``before`` lacked (nothing when ``before`` had All)."""
    if before is None:
        return set(after.scopes)
    if ALL_SCOPES in before.scopes:
        return set()
    return set(after.scopes) - set(before.scopes)


def _granted_endpoints(before: KeyRecord | None, after: KeyRecord) -> set[str]:
    """The endpoints ``after`` may call that ``before`` could not (no endpoints: every one)."""
    if before is None:
        return set(after.endpoints)
    if not before.endpoints:
        return set()
    return set(after.endpoints) - set(before.endpoints)


def _check_key_type(key_type: str) -> None:
    if key_type not in KEY_TYPES:
        raise InvalidArgument(f"Unknown key type '{key_type}': use one of {', '.join(KEY_TYPES)}")


def _checked_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    scopes = tuple(scopes)
    unknown = sorted(set(scopes) - set(all_scope_names()))
    if unknown:
        raise InvalidArgument(f"Unknown scopes: {', '.join(unknown)} (ListScopes lists them)")
    return scopes


def _default_scopes(key_type: str) -> tuple[str, ...]:
    if key_type == PERSONAL_ACCESS_TOKEN:
        return (ALL_SCOPES,)
    raise InvalidArgument("An app_specific_key needs at least one scope ('All' grants every one)")


def _checked_endpoints(endpoints: Iterable[str]) -> tuple[str, ...]:
    endpoints = tuple(endpoints)
    unknown = sorted(set(endpoints) - set(v2_methods()))
    if unknown:
        raise InvalidArgument(f"Unknown endpoints: {', '.join(unknown)}")
    return endpoints


def _callable_methods(caller: Principal) -> list[MethodSpec]:
    return [
        method
        for method in v2_methods().values()
        if caller.has_scopes(method.scopes)
        and (caller.is_pat or not method.auth_type.user_level)
        and (not caller.key.endpoints or method.name in caller.key.endpoints)
    ]


def _masked(key_id: str) -> str:
    """Never echo a whole token back in an error."""
    return key_id if len(key_id) <= 16 else key_id[:4] + "..."
