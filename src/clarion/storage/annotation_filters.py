"""Annotation filters of apps (an id and a search over the app's annotations, as JSON): the
record and the ``AnnotationFilterStore`` protocol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from clarion.storage.base import Page


@dataclass(frozen=True, slots=True)
class AnnotationFilterRecord:
    id: str
    search: Mapping[str, Any] = field(default_factory=dict)  # Clarifai JSON of a Search
    created_at: datetime | None = None
    modified_at: datetime | None = None


class AnnotationFilterStore(Protocol):
    """By the app's ``pk``; a new id already taken raises ``Conflict``."""

    def create(
        self, app_pk: int, records: Sequence[AnnotationFilterRecord]
    ) -> list[AnnotationFilterRecord]: ...
    def get(self, app_pk: int, filter_id: str) -> AnnotationFilterRecord | None: ...
    def list(self, app_pk: int, page: Page) -> list[AnnotationFilterRecord]:
        """The app's filters, newest first."""
        ...

    def replace_search(self, app_pk: int, filter_id: str, search: Mapping[str, Any]) -> None: ...
    def delete(self, app_pk: int, ids: Sequence[str] | None) -> None:
        """The filters named (all of the app's when ``ids`` is None)."""
        ...
