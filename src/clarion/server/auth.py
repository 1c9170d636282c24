"""Credential -> principal -> the user and app a call targets, with the method's rules.

``authorization: Key <token>`` carries an app API key or a user PAT, told apart by lookup.
User-level methods (PATAuth) refuse API keys; every method's ``cl_depending_scopes`` must be
granted by the key (``All`` grants all). ``user_id: "me"`` is the caller, an API key implies its
app, and another user's app is reachable only where it is public and the method only reads:
otherwise the answer is the same as for an app that does not exist.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from google.protobuf.message import Message

from clarion.errors import AuthMethodNotAllowed, NotFound, PermissionDenied, Unauthenticated
from clarion.protocol.descriptor import AuthType, MethodSpec
from clarion.services.apps import PUBLIC
from clarion.services.context import ALL_SCOPES, CallContext, Principal
from clarion.services.tokens import hash_token, same_hash
from clarion.storage.accounts import AccountStore, AppRecord, KeyRecord
from clarion.storage.collaborators import CollaboratorLookup, CollaboratorRecord

ME = "me"
_KEY_PREFIX = "Key "
_Record = TypeVar("_Record", KeyRecord, AppRecord)
_Key = TypeVar("_Key", str, tuple[str, str])
# Methods after which what the cache holds may be wrong: a key or app changed or went away
# (a renamed workflow changes the app's record when it was the app's base workflow), or a
# user became a collaborator (the cache remembers who is not one, for reads of public apps).
_CREDENTIAL_WRITES = re.compile(
    r"^(Patch|Delete)(Key|Keys|App|Apps)$|^PatchApps(Ids|Details)$|^PatchWorkflowIds$"
    r"|^(Post|Patch|Delete)Collaborators$"
)


class NotCached(Exception):
    """A record the call needs is not cached: authenticating it means reading the database."""


class CredentialCache:
    """Keys and apps as last read, for up to ``ttl_seconds``, so each call skips two reads.

    Authenticating every call read the key and the app from the database: a third of the
    server's time on a cheap call (bench/predict.py, profiled). Only found records are kept,
    so a key created elsewhere (the CLI, another server process) works at once; a key or app
    patched or deleted through this process is forgotten at once (``forget``), and one changed
    through another process is seen within ``ttl_seconds``.
    """

    def __init__(
        self,
        store: AccountStore,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        collaborators: CollaboratorLookup | None = None,
    ) -> None:
        self._store = store
        self._collaborators = collaborators
        self._ttl = ttl_seconds
        self._clock = clock
        self._keys: dict[str, tuple[float, KeyRecord]] = {}
        self._apps: dict[tuple[str, str], tuple[float, AppRecord]] = {}
        # Until when a user is known not to collaborate on an app (by the app's pk).
        self._not_collaborators: dict[tuple[int, str], float] = {}
        self._lock = threading.Lock()

    def find_key(self, token_hash: str) -> KeyRecord | None:
        return self._through(self._keys, token_hash, lambda: self._store.find_key(token_hash))

    def get_app(self, user_id: str, app_id: str) -> AppRecord | None:
        return self._through(
            self._apps, (user_id, app_id), lambda: self._store.get_app(user_id, app_id)
        )

    def get_collaborator(self, app: AppRecord, user_id: str) -> CollaboratorRecord | None:
        """Read each time, never cached: a collaborator removed loses access at once (reads of
        a public app go through ``collaborator_reading_public``)."""
        if self._collaborators is None or app.pk is None:
            return None
        return self._collaborators.get_collaborator(app.pk, user_id)

    def collaborator_reading_public(
        self, app: AppRecord, user_id: str
    ) -> CollaboratorRecord | None:
        """As ``get_collaborator``, for a read of a public app: there an absence is kept for
        ``ttl_seconds``. Reading a public app as a collaborator only narrows the caller's PAT
        to the role's scopes, so an absence seen late costs nothing a stranger could not do;
        a found record is never kept (a collaborator removed is narrowed no more at once).
        Looking it up each call cost a thread hand-off and a query on every prediction with
        a public model (``clarifai/main``) by a user who does not own it: bench/predict.py."""
        if self.known_not_collaborator(app, user_id):
            return None
        record = self.get_collaborator(app, user_id)
        if record is None and app.pk is not None and self._ttl > 0:
            with self._lock:
                self._not_collaborators[(app.pk, user_id)] = self._clock() + self._ttl
        return record

    def known_not_collaborator(self, app: AppRecord, user_id: str) -> bool:
        """True while the cache holds that ``user_id`` does not collaborate on ``app``."""
        if self._collaborators is None or app.pk is None:
            return True  # nothing to look up: get_collaborator answers None without reading
        until = self._not_collaborators.get((app.pk, user_id))
        return until is not None and until > self._clock()

    def cached_only(self) -> CachedRecords:
        """These records as cached now, refusing (``NotCached``) to read the database."""
        return CachedRecords(self)

    def forget(self) -> None:
        with self._lock:
            self._keys.clear()
            self._apps.clear()
            self._not_collaborators.clear()

    def cached_key(self, token_hash: str) -> KeyRecord:
        return self._fresh(self._keys, token_hash)

    def cached_app(self, user_id: str, app_id: str) -> AppRecord:
        return self._fresh(self._apps, (user_id, app_id))

    def _fresh(self, entries: dict[_Key, tuple[float, _Record]], key: _Key) -> _Record:
        """The record cached under ``key`` while fresh; ``NotCached`` otherwise."""
        entry = entries.get(key)
        if entry is None or entry[0] <= self._clock():
            raise NotCached(key)
        return entry[1]

    def _through(
        self,
        entries: dict[_Key, tuple[float, _Record]],
        key: _Key,
        load: Callable[[], _Record | None],
    ) -> _Record | None:
        """The record cached under ``key`` while fresh, else ``load``'s (kept if found)."""
        try:
            return self._fresh(entries, key)
        except NotCached:
            pass
        record = load()
        if record is not None and self._ttl > 0:
            with self._lock:
                entries[key] = (self._clock() + self._ttl, record)
        return record


class CachedRecords:
    """A credential cache's records, without falling back to the database."""

    def __init__(self, cache: CredentialCache) -> None:
        self._cache = cache

    def find_key(self, token_hash: str) -> KeyRecord | None:
        return self._cache.cached_key(token_hash)

    def get_app(self, user_id: str, app_id: str) -> AppRecord | None:
        return self._cache.cached_app(user_id, app_id)

    def get_collaborator(self, app: AppRecord, user_id: str) -> CollaboratorRecord | None:
        raise NotCached((app.user_id, app.id, user_id))

    def collaborator_reading_public(
        self, app: AppRecord, user_id: str
    ) -> CollaboratorRecord | None:
        if self._cache.known_not_collaborator(app, user_id):
            return None
        raise NotCached((app.user_id, app.id, user_id))


class _Records(Protocol):
    """Where keys, apps and collaborators are looked up: the cache, falling back to the
    database or not."""

    def find_key(self, token_hash: str) -> KeyRecord | None: ...
    def get_app(self, user_id: str, app_id: str) -> AppRecord | None: ...
    def get_collaborator(self, app: AppRecord, user_id: str) -> CollaboratorRecord | None: ...
    def collaborator_reading_public(
        self, app: AppRecord, user_id: str
    ) -> CollaboratorRecord | None: ...


class Authenticator:
    def __init__(
        self,
        store: AccountStore,
        cache_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        collaborators: CollaboratorLookup | None = None,
    ) -> None:
        self._store = CredentialCache(store, cache_seconds, clock, collaborators)
        self._cached = self._store.cached_only()

    def after_success(self, method: MethodSpec) -> None:
        """Forget cached credentials when ``method`` may have changed a key or an app."""
        if _CREDENTIAL_WRITES.match(method.name):
            self._store.forget()

    def authenticate(
        self, method: MethodSpec, request: Message, metadata: Mapping[str, str], req_id: str
    ) -> CallContext:
        """The context for this call, or the ``ApiError`` that refuses it."""
        return _authenticate(self._store, method, request, metadata, req_id)

    def authenticate_cached(
        self, method: MethodSpec, request: Message, metadata: Mapping[str, str], req_id: str
    ) -> CallContext | None:
        """As ``authenticate`` when the records it needs are cached; None when it would read
        the database (so the caller can run it off the event loop instead)."""
        try:
            return _authenticate(self._cached, method, request, metadata, req_id)
        except NotCached:
            return None


def _authenticate(
    records: _Records,
    method: MethodSpec,
    request: Message,
    metadata: Mapping[str, str],
    req_id: str,
) -> CallContext:
    if method.auth_type == AuthType.NO_AUTH:
        return CallContext(method=method, req_id=req_id, principal=None)
    principal = _principal(records, metadata)
    _check_method_allowed(method, principal)
    user_id, app_id = _requested_user_app(request)
    if principal.is_pat:
        user_id, app = _pat_target(records, method, principal, user_id, app_id)
        if app is not None and not principal.owns(app):
            principal = _as_collaborator(records, method, principal, app)
    else:
        user_id, app = _api_key_target(records, method, principal, user_id, app_id)
    return CallContext(method, req_id, principal, user_id=user_id, app=app)


def _principal(records: _Records, metadata: Mapping[str, str]) -> Principal:
    token = _token_from(metadata)
    token_hash = hash_token(token)
    key = records.find_key(token_hash)
    if key is None or not same_hash(key.token_hash, token_hash):
        raise Unauthenticated()
    if key.expires_at is not None and key.expires_at <= datetime.now(UTC):
        raise Unauthenticated()
    return Principal(key)


def _pat_target(
    records: _Records, method: MethodSpec, principal: Principal, user_id: str, app_id: str
) -> tuple[str, AppRecord | None]:
    if user_id in ("", ME):
        user_id = principal.user_id
    if not app_id:
        return user_id, None
    app = records.get_app(user_id, app_id)
    if app is None or not _may_use(records, principal, app, method):
        raise NotFound("app", app_id)
    return user_id, app


def _as_collaborator(
    records: _Records, method: MethodSpec, principal: Principal, app: AppRecord
) -> Principal:
    """The caller on another user's app: as a collaborator, with the scopes (and endpoints)
    both their PAT and their role there grant; a reader of a public app keeps their PAT."""
    public_read = app.visibility == PUBLIC and method.read_only
    if public_read:
        collaborator = records.collaborator_reading_public(app, principal.user_id)
    else:
        collaborator = records.get_collaborator(app, principal.user_id)
    if collaborator is None:
        return principal  # _pat_target let it in: a read of a public app
    key = principal.key
    scopes = _granted_by_both(key.scopes, collaborator.scopes)
    endpoints = _endpoints_of_both(key.endpoints, collaborator.endpoints)
    narrowed = Principal(replace(key, scopes=scopes, endpoints=endpoints))
    try:
        _check_method_allowed(method, narrowed)
    except PermissionDenied:
        if public_read:
            return principal  # what anyone may read of a public app, a collaborator may too
        raise
    return narrowed


def _granted_by_both(pat_scopes: Sequence[str], role_scopes: Sequence[str]) -> tuple[str, ...]:
    if ALL_SCOPES in pat_scopes:
        return tuple(role_scopes)
    return tuple(scope for scope in role_scopes if scope in pat_scopes)


def _endpoints_of_both(pat: Sequence[str], role: Sequence[str]) -> tuple[str, ...]:
    """Endpoints limit a credential when listed: both lists limit a collaborator."""
    if pat and role:
        return tuple(name for name in role if name in pat)
    return tuple(pat or role)


def _api_key_target(
    records: _Records, method: MethodSpec, principal: Principal, user_id: str, app_id: str
) -> tuple[str, AppRecord | None]:
    key = principal.key
    if user_id in ("", ME):
        user_id = key.user_id
    if not app_id and user_id == key.user_id:
        app_id = key.app_id or ""
    app = records.get_app(user_id, app_id) if app_id else None
    if app is None or not _may_use(records, principal, app, method):
        # The key names one app: any other is the "key/application pair" refusal.
        raise Unauthenticated()
    return user_id, app


def _token_from(metadata: Mapping[str, str]) -> str:
    header = metadata.get("authorization", "")
    if header.startswith(_KEY_PREFIX) and header[len(_KEY_PREFIX) :].strip():
        return header[len(_KEY_PREFIX) :].strip()
    session_token = metadata.get("x-clarifai-session-token", "").strip()
    if session_token:
        return session_token
    raise Unauthenticated()


def _check_method_allowed(method: MethodSpec, principal: Principal) -> None:
    if method.auth_type.user_level and not principal.is_pat:
        raise AuthMethodNotAllowed(
            f"{method.name} needs a personal access token (PAT); app API keys are refused"
        )
    missing = principal.missing_scopes(method.scopes)
    if missing:
        raise PermissionDenied(
            f"This key lacks the scopes {', '.join(missing)} that {method.name} needs"
        )
    endpoints = principal.key.endpoints
    if endpoints and method.name not in endpoints:
        raise PermissionDenied(f"This key may not call {method.name}")


def _requested_user_app(request: Message) -> tuple[str, str]:
    if "upload_config" in request.DESCRIPTOR.fields_by_name:
        # PostModelVersionsUpload names its app inside its first message's upload_config.
        request = request.upload_config  # type: ignore[attr-defined]
    if "user_app_id" not in request.DESCRIPTOR.fields_by_name:
        return "", ""
    user_app_id = request.user_app_id  # type: ignore[attr-defined]
    return str(user_app_id.user_id), str(user_app_id.app_id)


def _may_use(records: _Records, principal: Principal, app: AppRecord, method: MethodSpec) -> bool:
    """An API key uses its own app; a PAT its user's apps and those its user collaborates
    on; anyone reads a public app."""
    if principal.owns(app) or (app.visibility == PUBLIC and method.read_only):
        return True
    return principal.is_pat and records.get_collaborator(app, principal.user_id) is not None
