"""``DatasetStore`` on SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from clarion.storage.base import Page
from clarion.storage.datasets import DatasetRecord
from clarion.storage.errors import Conflict
from clarion.storage.inputs import InputRecord
from clarion.storage.schema import dataset_inputs, datasets, inputs
from clarion.storage.sql.base import (
    SqlBase,
    aware,
    input_from_row,
    input_pks_of,
    utcnow,
    with_dataset_ids,
)


class SqlDatasetStore(SqlBase):
    """Datasets of apps and the inputs in them, by the app's ``pk``."""

    def create_datasets(self, app_pk: int, records: Sequence[DatasetRecord]) -> list[DatasetRecord]:
        now = utcnow()
        created = [replace(record, created_at=now, modified_at=now) for record in records]
        with self._write() as db:
            for record in created:
                db.execute(insert(datasets).values(**_dataset_values(app_pk, record)))
        return created

    def get_dataset(self, app_pk: int, dataset_id: str) -> DatasetRecord | None:
        with self._read() as db:
            row = db.execute(
                select(datasets).where(datasets.c.app_pk == app_pk, datasets.c.id == dataset_id)
            ).first()
        return _dataset(row) if row else None

    def list_datasets(self, app_pk: int, page: Page) -> list[DatasetRecord]:
        query = (
            select(datasets)
            .where(datasets.c.app_pk == app_pk)
            .order_by(datasets.c.created_at.desc(), datasets.c.id)
        )
        with self._read() as db:
            rows = db.execute(query.limit(page.per_page).offset(page.offset)).all()
        return [_dataset(row) for row in rows]

    def update_dataset(self, app_pk: int, record: DatasetRecord) -> DatasetRecord:
        record = replace(record, modified_at=utcnow())
        values = _dataset_values(app_pk, record)
        for key in ("app_pk", "id", "created_at"):
            del values[key]
        with self._write() as db:
            db.execute(
                update(datasets)
                .where(datasets.c.app_pk == app_pk, datasets.c.id == record.id)
                .values(**values)
            )
        return record

    def delete_datasets(self, app_pk: int, ids: Sequence[str]) -> int:
        with self._write() as db:
            result = db.execute(
                delete(datasets).where(datasets.c.app_pk == app_pk, datasets.c.id.in_(ids))
            )
        return int(result.rowcount)

    def add_dataset_inputs(self, app_pk: int, dataset_id: str, input_ids: Sequence[str]) -> None:
        now = utcnow()
        with self._write() as db:
            dataset_pk = dataset_pks_of(db, app_pk, {dataset_id})[dataset_id]
            for input_pk in input_pks_of(db, app_pk, set(input_ids)).values():
                link_datasets(db, input_pk, [dataset_pk], now)

    def list_dataset_inputs(self, app_pk: int, dataset_id: str, page: Page) -> list[InputRecord]:
        query = (
            select(inputs)
            .join(dataset_inputs, dataset_inputs.c.input_pk == inputs.c.pk)
            .join(datasets, datasets.c.pk == dataset_inputs.c.dataset_pk)
            .where(datasets.c.app_pk == app_pk, datasets.c.id == dataset_id)
            .order_by(dataset_inputs.c.created_at.desc(), inputs.c.pk.desc())
        )
        with self._read() as db:
            rows = db.execute(query.limit(page.per_page).offset(page.offset)).all()
            return with_dataset_ids(db, [input_from_row(row) for row in rows])

    def delete_dataset_inputs(self, app_pk: int, dataset_id: str, input_ids: Sequence[str]) -> None:
        with self._write() as db:
            dataset_pk = dataset_pks_of(db, app_pk, {dataset_id})[dataset_id]
            input_pks = list(input_pks_of(db, app_pk, set(input_ids)).values())
            db.execute(
                delete(dataset_inputs).where(
                    dataset_inputs.c.dataset_pk == dataset_pk,
                    dataset_inputs.c.input_pk.in_(input_pks),
                )
            )


def dataset_pks_of(db: Connection, app_pk: int, ids: set[str]) -> dict[str, int]:
    if not ids:
        return {}
    rows = db.execute(
        select(datasets.c.id, datasets.c.pk).where(
            datasets.c.app_pk == app_pk, datasets.c.id.in_(ids)
        )
    ).all()
    found = {row.id: int(row.pk) for row in rows}
    missing = ids - set(found)
    if missing:
        raise Conflict(f"dataset '{sorted(missing)[0]}' does not exist")
    return found


def link_datasets(db: Connection, input_pk: int, dataset_pks: Sequence[int], now: Any) -> None:
    for dataset_pk in dataset_pks:
        linked = db.execute(
            select(dataset_inputs.c.input_pk).where(
                dataset_inputs.c.dataset_pk == dataset_pk, dataset_inputs.c.input_pk == input_pk
            )
        ).first()
        if not linked:
            db.execute(
                insert(dataset_inputs).values(
                    dataset_pk=dataset_pk, input_pk=input_pk, created_at=now
                )
            )


def _dataset_values(app_pk: int, record: DatasetRecord) -> dict[str, Any]:
    return {
        "app_pk": app_pk,
        "id": record.id,
        "description": record.description,
        "notes": record.notes,
        "metadata": dict(record.metadata),
        "created_at": record.created_at,
        "modified_at": record.modified_at,
    }


def _dataset(row: Row[Any]) -> DatasetRecord:
    return DatasetRecord(
        id=row.id,
        description=row.description,
        notes=row.notes,
        metadata=row.metadata or {},
        created_at=aware(row.created_at),
        modified_at=aware(row.modified_at),
    )
