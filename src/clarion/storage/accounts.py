"""Users, apps and keys: their records and the ``AccountStore`` protocol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from clarion.storage.base import Page

APP_SPECIFIC_KEY = "app_specific_key"
PERSONAL_ACCESS_TOKEN = "personal_access_token"


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    first_name: str = ""
    last_name: str = ""
    company_name: str = ""
    email: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AppRecord:
    user_id: str
    id: str
    name: str = ""
    description: str = ""
    default_language: str = "en"
    default_workflow_id: str = ""
    visibility: int = 10  # PRIVATE
    notes: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    modified_at: datetime | None = None
    pk: int | None = None  # set once stored; resources inside the app refer to it


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A credential. The token itself is never stored, only its sha256 (``token_hash``)."""

    ref: str  # a non-secret identifier shown by ListKeys in place of the token
    token_hash: str
    user_id: str
    type: str  # APP_SPECIFIC_KEY or PERSONAL_ACCESS_TOKEN
    description: str = ""
    scopes: Sequence[str] = ()
    endpoints: Sequence[str] = ()
    app_id: str | None = None  # the app an API key is bound to
    created_at: datetime | None = None
    expires_at: datetime | None = None
    rate_limit: float | None = None  # calls a second; None: the server's default


class AccountStore(Protocol):
    """Durable storage for users, apps and keys. Every method is one transaction."""

    def create_user(self, user: UserRecord) -> UserRecord: ...
    def get_user(self, user_id: str) -> UserRecord | None: ...
    def count_users(self) -> int: ...
    def create_apps(self, new_apps: Sequence[AppRecord]) -> list[AppRecord]: ...
    def get_app(self, user_id: str, app_id: str) -> AppRecord | None: ...
    def list_apps(
        self, user_id: str, page: Page, *, public_only: bool = False
    ) -> list[AppRecord]: ...
    def update_app(self, app: AppRecord) -> AppRecord: ...
    def delete_app(self, user_id: str, app_id: str) -> bool:
        """Delete the app and, by cascade, everything in it; its blobs are collected later."""
        ...

    def create_key(self, key: KeyRecord) -> KeyRecord: ...
    def find_key(self, token_hash: str) -> KeyRecord | None: ...
    def get_key(self, user_id: str, ref: str) -> KeyRecord | None: ...
    def list_keys(
        self, user_id: str, page: Page, *, app_id: str | None = None
    ) -> list[KeyRecord]: ...
    def update_key(self, key: KeyRecord) -> KeyRecord: ...
    def delete_key(self, user_id: str, ref: str) -> bool: ...
