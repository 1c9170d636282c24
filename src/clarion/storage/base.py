"""What the rest of Clarion sees of storage: plain records and the ``Store`` protocol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

from clarion.codes import (
    ANNOTATION_SUCCESS,
    INPUT_DOWNLOAD_FAILED,
    INPUT_DOWNLOAD_IN_PROGRESS,
    INPUT_DOWNLOAD_PENDING,
    INPUT_DOWNLOAD_SUCCESS,
)

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


INPUT_SUCCESS: Final = INPUT_DOWNLOAD_SUCCESS
INPUT_PENDING: Final = INPUT_DOWNLOAD_PENDING
INPUT_FAILED: Final = INPUT_DOWNLOAD_FAILED
INPUT_IN_PROGRESS: Final = INPUT_DOWNLOAD_IN_PROGRESS


@dataclass(frozen=True, slots=True)
class InputRecord:
    """An input of an app: what was sent, and where ingestion stands."""

    id: str
    kind: str  # "image" or "text"
    url: str = ""
    text: str = ""
    blob: str | None = None  # sha256 of the original bytes in the blob store
    metadata: Mapping[str, Any] = field(default_factory=dict)
    geo: tuple[float, float] | None = None  # (longitude, latitude)
    width: int | None = None
    height: int | None = None
    format: str = ""
    status_code: int = INPUT_PENDING
    status_description: str = ""
    add_job_id: str = ""
    dataset_ids: tuple[str, ...] = ()
    created_at: datetime | None = None
    modified_at: datetime | None = None
    pk: int | None = None


@dataclass(frozen=True, slots=True)
class ConceptRecord:
    id: str
    name: str
    language: str = "en"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    modified_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AnnotationRecord:
    """``data`` is the annotation's Data as plain JSON (``concepts``, ``regions``)."""

    id: str
    input_id: str
    data: Mapping[str, Any] = field(default_factory=dict)
    input_level: bool = False
    status_code: int = ANNOTATION_SUCCESS
    created_at: datetime | None = None
    modified_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DatasetRecord:
    id: str
    description: str = ""
    notes: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    modified_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class JobRecord:
    pk: int
    kind: str
    payload: Mapping[str, Any]
    attempts: int
    lease_token: str
    app_pk: int = 0  # whose job it is (0: no one app's)


@dataclass(frozen=True, slots=True)
class Page:
    """``page`` counts from 1."""

    page: int = 1
    per_page: int = 128

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


class Store(Protocol):
    """Durable storage for users, apps and keys. Every method is one transaction."""

    def create_user(self, user: UserRecord) -> UserRecord: ...
    def get_user(self, user_id: str) -> UserRecord | None: ...
    def count_users(self) -> int: ...

    def create_apps(self, apps: Sequence[AppRecord]) -> list[AppRecord]: ...
    def get_app(self, user_id: str, app_id: str) -> AppRecord | None: ...
    def list_apps(
        self, user_id: str, page: Page, *, public_only: bool = False
    ) -> list[AppRecord]: ...
    def update_app(self, app: AppRecord) -> AppRecord: ...
    def delete_app(self, user_id: str, app_id: str) -> bool: ...

    def create_key(self, key: KeyRecord) -> KeyRecord: ...
    def find_key(self, token_hash: str) -> KeyRecord | None: ...
    def get_key(self, user_id: str, ref: str) -> KeyRecord | None: ...
    def list_keys(
        self, user_id: str, page: Page, *, app_id: str | None = None
    ) -> list[KeyRecord]: ...
    def update_key(self, key: KeyRecord) -> KeyRecord: ...
    def delete_key(self, user_id: str, ref: str) -> bool: ...

    def close(self) -> None: ...
