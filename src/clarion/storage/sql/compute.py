"""``ComputeStore`` on SQLAlchemy Core: one row per compute record, its message kept as bytes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import ColumnElement, Row, and_, delete, insert, select, update

from clarion.storage.base import Page
from clarion.storage.compute import RUNNER, ComputeRecord
from clarion.storage.schema import compute_resources
from clarion.storage.sql.base import SqlBase, aware, utcnow


class SqlComputeStore(SqlBase):
    """``ComputeStore`` on SQLAlchemy Core."""

    def create_records(self, records: Sequence[ComputeRecord]) -> list[ComputeRecord]:
        now = utcnow()
        created = [replace(record, created_at=now, modified_at=now) for record in records]
        with self._write() as connection:
            connection.execute(insert(compute_resources), [_row(r) for r in created])
        return created

    def get_record(self, kind: str, user_id: str, scope: str, id: str) -> ComputeRecord | None:
        query = select(compute_resources).where(
            _owned(kind, user_id), compute_resources.c.scope == scope, compute_resources.c.id == id
        )
        with self._read() as connection:
            row = connection.execute(query).first()
        return _record(row) if row is not None else None

    def list_records(
        self, kind: str, user_id: str, scope: str | None, page: Page
    ) -> list[ComputeRecord]:
        """The user's records of ``kind``, oldest first; under ``scope`` only when given."""
        query = select(compute_resources).where(_owned(kind, user_id))
        if scope is not None:
            query = query.where(compute_resources.c.scope == scope)
        query = query.order_by(compute_resources.c.pk).limit(page.per_page).offset(page.offset)
        with self._read() as connection:
            return [_record(row) for row in connection.execute(query)]

    def update_records(self, records: Sequence[ComputeRecord]) -> list[ComputeRecord]:
        now = utcnow()
        updated = [replace(record, modified_at=now) for record in records]
        with self._write() as connection:
            for record in updated:
                connection.execute(
                    update(compute_resources)
                    .where(
                        _owned(record.kind, record.user_id),
                        compute_resources.c.scope == record.scope,
                        compute_resources.c.id == record.id,
                    )
                    .values(body=record.body, model_key=record.model_key, modified_at=now)
                )
        return updated

    def delete_records(self, kind: str, user_id: str, scope: str, ids: Sequence[str]) -> int:
        statement = delete(compute_resources).where(
            _owned(kind, user_id),
            compute_resources.c.scope == scope,
            compute_resources.c.id.in_(list(ids)),
        )
        with self._write() as connection:
            return int(connection.execute(statement).rowcount)

    def runners_of_model(self, model_key: str) -> list[ComputeRecord]:
        query = select(compute_resources).where(
            compute_resources.c.kind == RUNNER, compute_resources.c.model_key == model_key
        )
        with self._read() as connection:
            return [_record(row) for row in connection.execute(query)]


def _owned(kind: str, user_id: str) -> ColumnElement[bool]:
    return and_(compute_resources.c.kind == kind, compute_resources.c.user_id == user_id)


def _row(record: ComputeRecord) -> dict[str, object]:
    return {
        "kind": record.kind,
        "user_id": record.user_id,
        "scope": record.scope,
        "id": record.id,
        "model_key": record.model_key,
        "body": record.body,
        "created_at": record.created_at,
        "modified_at": record.modified_at,
    }


def _record(row: Row[tuple[object, ...]]) -> ComputeRecord:
    values = row._mapping
    return ComputeRecord(
        kind=str(values["kind"]),
        user_id=str(values["user_id"]),
        id=str(values["id"]),
        body=bytes(values["body"]),
        scope=str(values["scope"]),
        model_key=str(values["model_key"]),
        created_at=aware(values["created_at"]),
        modified_at=aware(values["modified_at"]),
    )
