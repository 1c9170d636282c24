"""Collaborators: other users let into an app, each with the scopes of their role there."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from clarion.storage.accounts import AppRecord, UserRecord
from clarion.storage.base import Page


@dataclass(frozen=True, slots=True)
class CollaboratorRecord:
    """User ``user_id``'s access to an app: what they may do there (``scopes``, and
    ``endpoints`` when only some methods are let through)."""

    user_id: str
    scopes: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = ()
    created_at: datetime | None = None
    modified_at: datetime | None = None


class CollaboratorLookup(Protocol):
    """What authentication needs: whether a user collaborates on an app, and how."""

    def get_collaborator(self, app_pk: int, user_id: str) -> CollaboratorRecord | None: ...


class CollaboratorStore(CollaboratorLookup, Protocol):
    """Collaborators of apps, by the app's ``pk``; and a user's collaborations."""

    def add_collaborators(
        self, app_pk: int, records: Sequence[CollaboratorRecord]
    ) -> list[CollaboratorRecord]:
        """All or none; ``Conflict`` when one already collaborates on the app."""
        ...

    def list_collaborators(self, app_pk: int, page: Page) -> list[CollaboratorRecord]: ...
    def update_collaborator(
        self, app_pk: int, record: CollaboratorRecord
    ) -> CollaboratorRecord: ...
    def delete_collaborators(self, app_pk: int, user_ids: Sequence[str]) -> int: ...
    def list_collaborations(
        self, user_id: str, page: Page
    ) -> list[tuple[AppRecord, CollaboratorRecord]]:
        """The apps ``user_id`` collaborates on, oldest collaboration first."""
        ...

    def find_user(self, user_id: str = "", email: str = "") -> UserRecord | None:
        """The user with this id, or else with this e-mail address."""
        ...
