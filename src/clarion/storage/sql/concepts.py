"""``ConceptStore`` on SQLAlchemy Core, and creating the concepts annotations name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Row, case, func, insert, select, update

from clarion.storage.annotations import AnnotationRecord
from clarion.storage.base import Page
from clarion.storage.concepts import ConceptRecord
from clarion.storage.errors import ConceptsExist
from clarion.storage.schema import annotation_concepts, concepts, inputs
from clarion.storage.sql.base import SqlBase, annotation_concepts_of, aware, utcnow


class SqlConceptStore(SqlBase):
    """Concepts of apps, by the app's ``pk``."""

    def create_concepts(self, app_pk: int, records: Sequence[ConceptRecord]) -> list[ConceptRecord]:
        """Create concepts (PostConcepts): all of them, or none if one's id is taken."""
        now = utcnow()
        with self._write() as db:
            taken = db.execute(
                select(concepts.c.id).where(
                    concepts.c.app_pk == app_pk, concepts.c.id.in_([r.id for r in records])
                )
            ).scalars()
            existing = sorted(taken)
            if existing:
                raise ConceptsExist(existing)
            db.execute(insert(concepts), [concept_values(app_pk, r, now) for r in records])
        return [self.get_concept(app_pk, record.id) or record for record in records]

    def get_concept(self, app_pk: int, concept_id: str) -> ConceptRecord | None:
        with self._read() as db:
            row = db.execute(
                select(concepts).where(concepts.c.app_pk == app_pk, concepts.c.id == concept_id)
            ).first()
        return _concept(row) if row else None

    def list_concepts(
        self, app_pk: int, page: Page, *, name_prefix: str = ""
    ) -> list[ConceptRecord]:
        query = select(concepts).where(concepts.c.app_pk == app_pk)
        if name_prefix:
            query = query.where(func.lower(concepts.c.name).startswith(name_prefix.lower()))
        query = query.order_by(concepts.c.created_at.desc(), concepts.c.id)
        with self._read() as db:
            rows = db.execute(query.limit(page.per_page).offset(page.offset)).all()
        return [_concept(row) for row in rows]

    def update_concept(self, app_pk: int, record: ConceptRecord) -> ConceptRecord:
        record = replace(record, modified_at=utcnow())
        with self._write() as db:
            db.execute(
                update(concepts)
                .where(concepts.c.app_pk == app_pk, concepts.c.id == record.id)
                .values(name=record.name, language=record.language, modified_at=record.modified_at)
            )
        return record

    def annotated_concept_counts(self, app_pk: int) -> dict[str, tuple[int, int]]:
        """Per concept id, how many annotations say it is present and how many absent."""
        present = case((annotation_concepts.c.value > 0, 1), else_=0)
        query = (
            select(
                annotation_concepts.c.concept_id,
                func.sum(present),
                func.count(),
            )
            .join(inputs, inputs.c.pk == annotation_concepts.c.input_pk)
            .where(inputs.c.app_pk == app_pk)
            .group_by(annotation_concepts.c.concept_id)
        )
        with self._read() as db:
            rows = db.execute(query).all()
        return {row[0]: (int(row[1]), int(row[2]) - int(row[1])) for row in rows}


def concepts_in(data: Mapping[str, Any]) -> list[ConceptRecord]:
    """The concepts an annotation's data names, its regions' included."""
    found = [_concept_of(concept) for concept in annotation_concepts_of(data)]
    return [concept for concept in found if concept.id]


def _concept_of(data: Mapping[str, Any]) -> ConceptRecord:
    concept_id = str(data.get("id") or data.get("name") or "")
    return ConceptRecord(id=concept_id, name=str(data.get("name") or concept_id))


def named_concepts(records: Iterable[AnnotationRecord]) -> list[ConceptRecord]:
    return [concept for record in records for concept in concepts_in(record.data)]


def ensure_concepts(
    db: Connection, app_pk: int, records: Sequence[ConceptRecord], now: Any
) -> None:
    """Create the concepts that do not exist yet; existing ones keep their names."""
    wanted = {record.id: record for record in records}
    if not wanted:
        return
    existing = set(
        db.execute(
            select(concepts.c.id).where(concepts.c.app_pk == app_pk, concepts.c.id.in_(wanted))
        ).scalars()
    )
    for concept_id, record in wanted.items():
        if concept_id not in existing:
            db.execute(insert(concepts).values(**concept_values(app_pk, record, now)))


def concept_values(app_pk: int, record: ConceptRecord, now: Any) -> dict[str, Any]:
    return {
        "app_pk": app_pk,
        "id": record.id,
        "name": record.name or record.id,
        "language": record.language,
        "metadata": dict(record.metadata),
        "created_at": now,
        "modified_at": now,
    }


def _concept(row: Row[Any]) -> ConceptRecord:
    return ConceptRecord(
        id=row.id,
        name=row.name,
        language=row.language,
        metadata=row.metadata or {},
        created_at=aware(row.created_at),
        modified_at=aware(row.modified_at),
    )
