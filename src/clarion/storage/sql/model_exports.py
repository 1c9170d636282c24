"""``ModelExportStore`` on SQLAlchemy Core."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Row, delete, insert, select

from clarion.storage.model_exports import ModelExportRecord
from clarion.storage.schema import model_exports
from clarion.storage.sql.base import SqlBase, aware, utcnow


class SqlModelExportStore(SqlBase):
    """Exports of model versions, one per version."""

    def get_export(self, version_pk: int) -> ModelExportRecord | None:
        query = select(model_exports).where(model_exports.c.version_pk == version_pk)
        with self._read() as db:
            row = db.execute(query).first()
        return _record(row) if row else None

    def save_export(self, record: ModelExportRecord) -> ModelExportRecord:
        stored = replace(record, created_at=utcnow())
        with self._write() as db:
            db.execute(delete(model_exports).where(model_exports.c.version_pk == record.version_pk))
            db.execute(
                insert(model_exports).values(
                    version_pk=stored.version_pk,
                    blob=stored.blob,
                    size=stored.size,
                    created_at=stored.created_at,
                )
            )
        return stored

    def export_blobs(self) -> set[str]:
        with self._read() as db:
            return set(db.execute(select(model_exports.c.blob)).scalars())


def _record(row: Row[Any]) -> ModelExportRecord:
    return ModelExportRecord(
        version_pk=row.version_pk,
        blob=row.blob,
        size=row.size,
        created_at=aware(row.created_at),
    )
