"""``ConceptGraphStore`` on SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, delete, func, insert, or_, select, update

from clarion.storage.base import Page
from clarion.storage.concept_graph import (
    REVERSED,
    ConceptLanguageRecord,
    ConceptRelationRecord,
    KnowledgeGraphRecord,
)
from clarion.storage.schema import concept_languages, concept_relations, knowledge_graphs
from clarion.storage.sql.base import SqlBase, aware, utcnow


class SqlConceptGraphStore(SqlBase):
    """Concepts' languages, knowledge graphs and relations, by the app's ``pk``."""

    def add_languages(
        self, app_pk: int, records: Sequence[ConceptLanguageRecord]
    ) -> list[ConceptLanguageRecord]:
        now = utcnow()
        stored = [replace(r, created_at=now, modified_at=now) for r in records]
        rows = [
            {
                "app_pk": app_pk,
                "concept_id": r.concept_id,
                "language": r.language,
                "name": r.name,
                "definition": r.definition,
                "created_at": now,
                "modified_at": now,
            }
            for r in stored
        ]
        with self._write() as db:
            db.execute(insert(concept_languages), rows)
        return stored

    def update_languages(
        self, app_pk: int, records: Sequence[ConceptLanguageRecord]
    ) -> list[ConceptLanguageRecord]:
        now = utcnow()
        stored = [replace(r, modified_at=now) for r in records]
        with self._write() as db:
            for record in stored:
                db.execute(
                    update(concept_languages)
                    .where(
                        concept_languages.c.app_pk == app_pk,
                        concept_languages.c.concept_id == record.concept_id,
                        concept_languages.c.language == record.language,
                    )
                    .values(name=record.name, definition=record.definition, modified_at=now)
                )
        return stored

    def languages_of(self, app_pk: int, concept_id: str) -> list[ConceptLanguageRecord]:
        query = (
            select(concept_languages)
            .where(
                concept_languages.c.app_pk == app_pk,
                concept_languages.c.concept_id == concept_id,
            )
            .order_by(concept_languages.c.language)
        )
        with self._read() as db:
            return [_language(row) for row in db.execute(query).all()]

    def concepts_named(self, app_pk: int, language: str, names: Collection[str]) -> dict[str, str]:
        wanted = {name.lower() for name in names if name}
        if not wanted:
            return {}
        query = select(concept_languages.c.name, concept_languages.c.concept_id).where(
            concept_languages.c.app_pk == app_pk,
            concept_languages.c.language == language,
            func.lower(concept_languages.c.name).in_(wanted),
        )
        with self._read() as db:
            return {row.name.lower(): row.concept_id for row in db.execute(query).all()}

    def translations_starting(
        self, app_pk: int, language: str, prefix: str, limit: int
    ) -> list[ConceptLanguageRecord]:
        query = select(concept_languages).where(
            concept_languages.c.app_pk == app_pk, concept_languages.c.language == language
        )
        if prefix:
            query = query.where(func.lower(concept_languages.c.name).startswith(prefix.lower()))
        query = query.order_by(concept_languages.c.concept_id).limit(limit)
        with self._read() as db:
            return [_language(row) for row in db.execute(query).all()]

    def add_knowledge_graphs(
        self, app_pk: int, records: Sequence[KnowledgeGraphRecord]
    ) -> list[KnowledgeGraphRecord]:
        now = utcnow()
        stored = [replace(r, created_at=now) for r in records]
        rows = [
            {
                "app_pk": app_pk,
                "id": r.id,
                "name": r.name,
                "description": r.description,
                "examples_app_id": r.examples_app_id,
                "sampled_examples_app_id": r.sampled_examples_app_id,
                "created_at": now,
            }
            for r in stored
        ]
        with self._write() as db:
            db.execute(insert(knowledge_graphs), rows)
        return stored

    def list_knowledge_graphs(self, app_pk: int) -> list[KnowledgeGraphRecord]:
        query = (
            select(knowledge_graphs)
            .where(knowledge_graphs.c.app_pk == app_pk)
            .order_by(knowledge_graphs.c.pk)
        )
        with self._read() as db:
            return [_graph(row) for row in db.execute(query).all()]

    def add_relations(
        self, app_pk: int, records: Sequence[ConceptRelationRecord]
    ) -> list[ConceptRelationRecord]:
        now = utcnow()
        stored = [replace(r, created_at=now) for r in records]
        rows = [
            {
                "app_pk": app_pk,
                "id": r.id,
                "subject_id": r.subject_id,
                "object_id": r.object_id,
                "predicate": r.predicate,
                "knowledge_graph_id": r.knowledge_graph_id,
                "created_at": now,
            }
            for r in stored
        ]
        with self._write() as db:
            db.execute(insert(concept_relations), rows)
        return stored

    def relations_of(
        self,
        app_pk: int,
        concept_id: str,
        page: Page,
        *,
        knowledge_graph_id: str | None = None,
        predicate: str | None = None,
    ) -> list[ConceptRelationRecord]:
        query = select(concept_relations).where(concept_relations.c.app_pk == app_pk)
        if concept_id:
            query = query.where(_naming(concept_id, predicate))
        elif predicate is not None:
            query = query.where(concept_relations.c.predicate == predicate)
        if knowledge_graph_id is not None:
            query = query.where(concept_relations.c.knowledge_graph_id == knowledge_graph_id)
        query = query.order_by(concept_relations.c.pk)  # as posted
        with self._read() as db:
            rows = db.execute(query.limit(page.per_page).offset(page.offset)).all()
        return [_relation(row) for row in rows]

    def delete_relations(self, app_pk: int, concept_id: str, ids: Sequence[str]) -> list[str]:
        of_the_concept = (
            concept_relations.c.app_pk == app_pk,
            concept_relations.c.id.in_(ids),
            or_(
                concept_relations.c.subject_id == concept_id,
                concept_relations.c.object_id == concept_id,
            ),
        )
        with self._write() as db:
            found = list(
                db.execute(select(concept_relations.c.id).where(*of_the_concept)).scalars()
            )
            db.execute(delete(concept_relations).where(*of_the_concept))
        return found


def _naming(concept_id: str, predicate: str | None) -> ColumnElement[bool]:
    """Relations with the concept as subject, or as object (where the predicate reads the
    other way round)."""
    as_subject = concept_relations.c.subject_id == concept_id
    as_object = concept_relations.c.object_id == concept_id
    if predicate is None:
        return or_(as_subject, as_object)
    return or_(
        and_(as_subject, concept_relations.c.predicate == predicate),
        and_(as_object, concept_relations.c.predicate == REVERSED.get(predicate, predicate)),
    )


def _language(row: Row[Any]) -> ConceptLanguageRecord:
    return ConceptLanguageRecord(
        concept_id=row.concept_id,
        language=row.language,
        name=row.name,
        definition=row.definition,
        created_at=aware(row.created_at),
        modified_at=aware(row.modified_at),
    )


def _graph(row: Row[Any]) -> KnowledgeGraphRecord:
    return KnowledgeGraphRecord(
        id=row.id,
        name=row.name,
        description=row.description,
        examples_app_id=row.examples_app_id,
        sampled_examples_app_id=row.sampled_examples_app_id,
        created_at=aware(row.created_at),
    )


def _relation(row: Row[Any]) -> ConceptRelationRecord:
    return ConceptRelationRecord(
        id=row.id,
        subject_id=row.subject_id,
        object_id=row.object_id,
        predicate=row.predicate,
        knowledge_graph_id=row.knowledge_graph_id,
        created_at=aware(row.created_at),
    )
