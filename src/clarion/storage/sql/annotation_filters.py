"""``AnnotationFilterStore`` on SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row, delete, insert, select, update

from clarion.storage.annotation_filters import AnnotationFilterRecord
from clarion.storage.base import Page
from clarion.storage.schema import annotation_filters
from clarion.storage.sql.base import SqlBase, aware, utcnow


class SqlAnnotationFilters(SqlBase):
    """By the app's ``pk``; a new id already taken raises ``Conflict``."""

    def create(
        self, app_pk: int, records: Sequence[AnnotationFilterRecord]
    ) -> list[AnnotationFilterRecord]:
        now = utcnow()
        with self._write() as db:
            for record in records:
                db.execute(
                    insert(annotation_filters).values(
                        app_pk=app_pk,
                        id=record.id,
                        search=dict(record.search),
                        created_at=now,
                        modified_at=now,
                    )
                )
        return [AnnotationFilterRecord(record.id, record.search, now, now) for record in records]

    def get(self, app_pk: int, filter_id: str) -> AnnotationFilterRecord | None:
        with self._read() as db:
            row = db.execute(
                select(annotation_filters).where(
                    annotation_filters.c.app_pk == app_pk, annotation_filters.c.id == filter_id
                )
            ).first()
        return _record(row) if row is not None else None

    def list(self, app_pk: int, page: Page) -> list[AnnotationFilterRecord]:
        query = (
            select(annotation_filters)
            .where(annotation_filters.c.app_pk == app_pk)
            .order_by(annotation_filters.c.pk.desc())
            .limit(page.per_page)
            .offset(page.offset)
        )
        with self._read() as db:
            return [_record(row) for row in db.execute(query).all()]

    def replace_search(self, app_pk: int, filter_id: str, search: Mapping[str, Any]) -> None:
        with self._write() as db:
            db.execute(
                update(annotation_filters)
                .where(annotation_filters.c.app_pk == app_pk, annotation_filters.c.id == filter_id)
                .values(search=dict(search), modified_at=utcnow())
            )

    def delete(self, app_pk: int, ids: Sequence[str] | None) -> None:
        """The filters named (all of the app's when ``ids`` is None)."""
        condition = annotation_filters.c.app_pk == app_pk
        if ids is not None:
            condition = condition & annotation_filters.c.id.in_(list(ids))
        with self._write() as db:
            db.execute(delete(annotation_filters).where(condition))


def _record(row: Row[Any]) -> AnnotationFilterRecord:
    return AnnotationFilterRecord(
        id=row.id,
        search=row.search or {},
        created_at=aware(row.created_at),
        modified_at=aware(row.modified_at),
    )
