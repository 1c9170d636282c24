"""Concepts of an app: the record and the ``ConceptStore`` protocol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from clarion.storage.base import Page


@dataclass(frozen=True, slots=True)
class ConceptRecord:
    id: str
    name: str
    language: str = "en"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    modified_at: datetime | None = None


class ConceptStore(Protocol):
    """Concepts of apps, by the app's ``pk``."""

    def create_concepts(self, app_pk: int, records: Sequence[ConceptRecord]) -> list[ConceptRecord]:
        """Create concepts (PostConcepts): all of them, or none if one's id is taken
        (``ConceptsExist`` names the ids taken)."""
        ...

    def get_concept(self, app_pk: int, concept_id: str) -> ConceptRecord | None: ...
    def list_concepts(
        self, app_pk: int, page: Page, *, name_prefix: str = ""
    ) -> list[ConceptRecord]: ...
    def update_concept(self, app_pk: int, record: ConceptRecord) -> ConceptRecord: ...
    def annotated_concept_counts(self, app_pk: int) -> dict[str, tuple[int, int]]:
        """Per concept id, how many annotations say it is present and how many absent."""
        ...
