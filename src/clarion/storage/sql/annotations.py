"""``AnnotationStore`` on SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, insert, select, update

from clarion.storage.annotations import AnnotationRecord
from clarion.storage.base import Page
from clarion.storage.schema import annotation_table, inputs
from clarion.storage.sql.base import SqlBase, aware, input_pks_of, utcnow
from clarion.storage.sql.concepts import concepts_in, ensure_concepts, named_concepts
from clarion.storage.sql.searches import write_annotation_concepts


class SqlAnnotationStore(SqlBase):
    """Annotations of apps' inputs, by the app's ``pk``."""

    def add_annotations(
        self, app_pk: int, records: Sequence[AnnotationRecord]
    ) -> list[AnnotationRecord]:
        now = utcnow()
        with self._write() as db:
            pks = input_pks_of(db, app_pk, {record.input_id for record in records})
            for record in records:
                insert_annotation(db, app_pk, pks[record.input_id], record, now)
            ensure_concepts(db, app_pk, named_concepts(records), now)
        return [replace(record, created_at=now, modified_at=now) for record in records]

    def get_annotation(self, app_pk: int, annotation_id: str) -> AnnotationRecord | None:
        query = _annotations_query(app_pk).where(annotation_table.c.id == annotation_id)
        with self._read() as db:
            row = db.execute(query).first()
        return _annotation(row) if row else None

    def list_annotations(
        self,
        app_pk: int,
        page: Page,
        *,
        ids: Sequence[str] = (),
        input_ids: Sequence[str] = (),
        input_level: bool | None = None,
    ) -> list[AnnotationRecord]:
        query = _annotations_query(app_pk)
        if ids:
            query = query.where(annotation_table.c.id.in_(ids))
        if input_ids:
            query = query.where(inputs.c.id.in_(input_ids))
        if input_level is not None:
            query = query.where(annotation_table.c.input_level == input_level)
        query = query.order_by(annotation_table.c.created_at.desc(), annotation_table.c.pk.desc())
        with self._read() as db:
            rows = db.execute(query.limit(page.per_page).offset(page.offset)).all()
        return [_annotation(row) for row in rows]

    def update_annotation(self, app_pk: int, record: AnnotationRecord) -> AnnotationRecord:
        record = replace(record, modified_at=utcnow())
        with self._write() as db:
            row = db.execute(
                select(annotation_table.c.pk, annotation_table.c.input_pk).where(
                    annotation_table.c.app_pk == app_pk, annotation_table.c.id == record.id
                )
            ).one()
            db.execute(
                update(annotation_table)
                .where(annotation_table.c.pk == row.pk)
                .values(data=dict(record.data), modified_at=record.modified_at)
            )
            write_annotation_concepts(db, row.pk, row.input_pk, record.data)
            ensure_concepts(db, app_pk, named_concepts([record]), record.modified_at)
        return record

    def set_input_level_concepts(
        self, app_pk: int, input_id: str, data: Mapping[str, Any], new_id: str
    ) -> None:
        """Replace the input-level annotation's data, creating it (as ``new_id``) if absent."""
        now = utcnow()
        with self._write() as db:
            input_pk = input_pks_of(db, app_pk, {input_id})[input_id]
            found = db.execute(
                select(annotation_table.c.pk).where(
                    annotation_table.c.input_pk == input_pk,
                    annotation_table.c.input_level.is_(True),
                )
            ).first()
            if found:
                db.execute(
                    update(annotation_table)
                    .where(annotation_table.c.pk == found.pk)
                    .values(data=dict(data), modified_at=now)
                )
                write_annotation_concepts(db, found.pk, input_pk, data)
            else:
                record = AnnotationRecord(id=new_id, input_id=input_id, data=data, input_level=True)
                insert_annotation(db, app_pk, input_pk, record, now)
            ensure_concepts(db, app_pk, concepts_in(data), now)

    def delete_annotations(
        self, app_pk: int, *, ids: Sequence[str] = (), input_ids: Sequence[str] = ()
    ) -> int:
        condition = annotation_table.c.app_pk == app_pk
        if ids:
            condition = and_(condition, annotation_table.c.id.in_(ids))
        if input_ids:
            input_pks = select(inputs.c.pk).where(
                inputs.c.app_pk == app_pk, inputs.c.id.in_(input_ids)
            )
            condition = and_(condition, annotation_table.c.input_pk.in_(input_pks))
        with self._write() as db:
            return int(db.execute(delete(annotation_table).where(condition)).rowcount)


def insert_annotation(
    db: Connection, app_pk: int, input_pk: int, record: AnnotationRecord, now: Any
) -> None:
    result = db.execute(
        insert(annotation_table).values(
            app_pk=app_pk,
            id=record.id,
            input_pk=input_pk,
            input_level=record.input_level,
            data=dict(record.data),
            status_code=record.status_code,
            created_at=now,
            modified_at=now,
        )
    )
    assert result.inserted_primary_key is not None
    write_annotation_concepts(db, int(result.inserted_primary_key[0]), input_pk, record.data)


def _annotations_query(app_pk: int) -> Any:
    return (
        select(annotation_table, inputs.c.id.label("input_id"))
        .join(inputs, inputs.c.pk == annotation_table.c.input_pk)
        .where(annotation_table.c.app_pk == app_pk)
    )


def _annotation(row: Row[Any]) -> AnnotationRecord:
    return AnnotationRecord(
        id=row.id,
        input_id=row.input_id,
        data=row.data or {},
        input_level=bool(row.input_level),
        status_code=row.status_code,
        created_at=aware(row.created_at),
        modified_at=aware(row.modified_at),
    )
