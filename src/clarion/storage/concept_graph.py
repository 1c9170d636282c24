"""What an app knows about its concepts beyond their names: their names in other languages,
knowledge graphs, and relations between concepts. The records and the ``ConceptGraphStore``
protocol."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from clarion.storage.base import Page

HYPERNYM = "hypernym"  # the object is a kind of the subject: "animal" hypernym "dog"
HYPONYM = "hyponym"  # the subject is a kind of the object
SYNONYM = "synonym"
PREDICATES = (HYPERNYM, HYPONYM, SYNONYM)
# A relation read from its object's side says the same thing the other way round.
REVERSED = {HYPERNYM: HYPONYM, HYPONYM: HYPERNYM, SYNONYM: SYNONYM}


@dataclass(frozen=True, slots=True)
class ConceptLanguageRecord:
    """A concept's name (and definition) in one language."""

    concept_id: str
    language: str
    name: str
    definition: str = ""
    created_at: datetime | None = None
    modified_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class KnowledgeGraphRecord:
    id: str
    name: str = ""
    description: str = ""
    examples_app_id: str = ""
    sampled_examples_app_id: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ConceptRelationRecord:
    """ "``subject_id`` ``predicate`` ``object_id``", as posted."""

    id: str
    subject_id: str
    object_id: str
    predicate: str
    knowledge_graph_id: str = ""
    created_at: datetime | None = None


class ConceptGraphStore(Protocol):
    """Concepts' languages, knowledge graphs and relations of apps, by the app's ``pk``.
    Writes raise ``Conflict`` when an id (or a concept's language) is taken."""

    def add_languages(
        self, app_pk: int, records: Sequence[ConceptLanguageRecord]
    ) -> list[ConceptLanguageRecord]: ...
    def update_languages(
        self, app_pk: int, records: Sequence[ConceptLanguageRecord]
    ) -> list[ConceptLanguageRecord]:
        """Save the name and definition of existing translations."""
        ...

    def languages_of(self, app_pk: int, concept_id: str) -> list[ConceptLanguageRecord]:
        """A concept's translations, by language."""
        ...

    def concepts_named(self, app_pk: int, language: str, names: Collection[str]) -> dict[str, str]:
        """Per name (lower case) in ``language``, the id of the concept so named."""
        ...

    def translations_starting(
        self, app_pk: int, language: str, prefix: str, limit: int
    ) -> list[ConceptLanguageRecord]:
        """Up to ``limit`` translations into ``language`` whose name starts with ``prefix``
        (case-insensitive), by concept id."""
        ...

    def add_knowledge_graphs(
        self, app_pk: int, records: Sequence[KnowledgeGraphRecord]
    ) -> list[KnowledgeGraphRecord]: ...
    def list_knowledge_graphs(self, app_pk: int) -> list[KnowledgeGraphRecord]: ...
    def add_relations(
        self, app_pk: int, records: Sequence[ConceptRelationRecord]
    ) -> list[ConceptRelationRecord]: ...
    def relations_of(
        self,
        app_pk: int,
        concept_id: str,
        page: Page,
        *,
        knowledge_graph_id: str | None = None,
        predicate: str | None = None,
    ) -> list[ConceptRelationRecord]:
        """Relations naming the concept as subject or object (every one of the app's when
        ``concept_id`` is empty), as posted; ``predicate`` as read from the concept's side."""
        ...

    def delete_relations(self, app_pk: int, concept_id: str, ids: Sequence[str]) -> list[str]:
        """Delete relations of the concept by id; the ids deleted."""
        ...
