"""``BulkOperationStore`` on SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Row, delete, insert, select, update

from clarion.storage.base import Page
from clarion.storage.bulk_operations import (
    BULK_OPERATION_JOB,
    CANCELLED,
    FINISHED,
    IN_PROGRESS,
    BulkOperationRecord,
)
from clarion.storage.schema import bulk_operations
from clarion.storage.sql.base import SqlBase, aware, utcnow
from clarion.storage.sql.jobs import enqueue


class SqlBulkOperationStore(SqlBase):
    """Bulk operations of apps, by the app's ``pk``."""

    def create_operations(
        self, app_pk: int, records: Sequence[BulkOperationRecord]
    ) -> list[BulkOperationRecord]:
        now = utcnow()
        stored = [replace(r, created_at=now, modified_at=now) for r in records]
        with self._write() as db:
            for record in stored:
                db.execute(insert(bulk_operations).values(**_values(app_pk, record)))
                enqueue(db, BULK_OPERATION_JOB, {"app_pk": app_pk, "id": record.id}, app_pk)
        return stored

    def get_operation(self, app_pk: int, operation_id: str) -> BulkOperationRecord | None:
        with self._read() as db:
            row = db.execute(select(bulk_operations).where(*_the(app_pk, [operation_id]))).first()
        return _record(row) if row else None

    def list_operations(self, app_pk: int, page: Page) -> list[BulkOperationRecord]:
        query = (
            select(bulk_operations)
            .where(bulk_operations.c.app_pk == app_pk)
            .order_by(bulk_operations.c.created_at.desc(), bulk_operations.c.pk.desc())
            .limit(page.per_page)
            .offset(page.offset)
        )
        with self._read() as db:
            return [_record(row) for row in db.execute(query).all()]

    def cancel_operations(self, app_pk: int, ids: Sequence[str]) -> None:
        with self._write() as db:
            db.execute(
                update(bulk_operations)
                .where(*_the(app_pk, ids), bulk_operations.c.state.not_in(FINISHED))
                .values(state=CANCELLED, modified_at=utcnow())
            )

    def delete_operations(self, app_pk: int, ids: Sequence[str]) -> None:
        with self._write() as db:
            db.execute(delete(bulk_operations).where(*_the(app_pk, ids)))

    def record_progress(
        self, app_pk: int, operation_id: str, processed: int, last_processed_id: str
    ) -> bool:
        with self._write() as db:
            changed = db.execute(
                update(bulk_operations)
                .where(*_the(app_pk, [operation_id]), bulk_operations.c.state.not_in(FINISHED))
                .values(
                    state=IN_PROGRESS,
                    processed=processed,
                    last_processed_id=last_processed_id,
                    modified_at=utcnow(),
                )
            )
        return changed.rowcount > 0

    def finish_operation(
        self, app_pk: int, operation_id: str, state: str, description: str = ""
    ) -> None:
        with self._write() as db:
            db.execute(
                update(bulk_operations)
                .where(*_the(app_pk, [operation_id]), bulk_operations.c.state.not_in(FINISHED))
                .values(state=state, description=description, modified_at=utcnow())
            )


def _the(app_pk: int, ids: Sequence[str]) -> tuple[Any, ...]:
    return (bulk_operations.c.app_pk == app_pk, bulk_operations.c.id.in_(list(ids)))


def _values(app_pk: int, record: BulkOperationRecord) -> dict[str, Any]:
    return {
        "app_pk": app_pk,
        "id": record.id,
        "source": {"kind": record.source, "input_ids": list(record.input_ids)},
        "operation": dict(record.operation),
        "state": record.state,
        "processed": record.processed,
        "last_processed_id": record.last_processed_id,
        "description": record.description,
        "created_by": record.created_by,
        "created_at": record.created_at,
        "modified_at": record.modified_at,
    }


def _record(row: Row[Any]) -> BulkOperationRecord:
    source = row.source or {}
    return BulkOperationRecord(
        id=row.id,
        operation=row.operation or {},
        input_ids=tuple(source.get("input_ids", ())),
        source=str(source.get("kind", "input_ids")),
        state=row.state,
        processed=row.processed,
        last_processed_id=row.last_processed_id,
        description=row.description,
        created_by=row.created_by,
        created_at=aware(row.created_at),
        modified_at=aware(row.modified_at),
    )
