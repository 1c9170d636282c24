"""``DatasetVersionStore`` on SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from clarion.storage.annotations import AnnotationRecord
from clarion.storage.base import Page
from clarion.storage.dataset_versions import DatasetVersionRecord, VersionInput
from clarion.storage.inputs import InputRecord
from clarion.storage.schema import (
    annotation_table,
    dataset_inputs,
    dataset_version_inputs,
    dataset_versions,
    datasets,
    inputs,
)
from clarion.storage.sql.base import SqlBase, annotation_concepts_of, aware, input_from_row, utcnow


class SqlDatasetVersionStore(SqlBase):
    """Dataset versions of an app's datasets, by the app's ``pk``."""

    def create_version(
        self, app_pk: int, dataset_id: str, record: DatasetVersionRecord
    ) -> DatasetVersionRecord | None:
        """Freeze the dataset now as ``record``; None when the dataset does not exist.

        Raises ``Conflict`` when the dataset has a version with this id."""
        now = utcnow()
        with self._write() as db:
            dataset_pk = _dataset_pk(db, app_pk, dataset_id)
            if dataset_pk is None:
                return None
            frozen = _current_inputs(db, dataset_pk)
            values = {
                "app_pk": app_pk,
                "dataset_pk": dataset_pk,
                "id": record.id,
                "description": record.description,
                "metadata": dict(record.metadata),
                "created_at": now,
                "modified_at": now,
            }
            result = db.execute(insert(dataset_versions).values(**values))
            assert result.inserted_primary_key is not None
            version_pk = int(result.inserted_primary_key[0])
            rows = [
                {"version_pk": version_pk, "input_id": item.input.id, "snapshot": _to_json(item)}
                for item in frozen
            ]
            if rows:  # one statement for all: a row at a time took 5 s for 10,000 inputs
                db.execute(insert(dataset_version_inputs), rows)
        return replace(
            record,
            dataset_id=dataset_id,
            input_count=len(frozen),
            created_at=now,
            modified_at=now,
        )

    def get_version(
        self, app_pk: int, dataset_id: str, version_id: str
    ) -> DatasetVersionRecord | None:
        query = _versions(app_pk, dataset_id).where(dataset_versions.c.id == version_id)
        with self._read() as db:
            row = db.execute(query).first()
            return _version(db, row, dataset_id) if row else None

    def list_versions(self, app_pk: int, dataset_id: str, page: Page) -> list[DatasetVersionRecord]:
        """Newest first."""
        query = _versions(app_pk, dataset_id).order_by(
            dataset_versions.c.created_at.desc(), dataset_versions.c.pk.desc()
        )
        with self._read() as db:
            rows = db.execute(query.limit(page.per_page).offset(page.offset)).all()
            return [_version(db, row, dataset_id) for row in rows]

    def update_version(
        self, app_pk: int, dataset_id: str, record: DatasetVersionRecord
    ) -> DatasetVersionRecord:
        """Its description and metadata; what it froze never changes."""
        now = utcnow()
        with self._write() as db:
            db.execute(
                update(dataset_versions)
                .where(_named(app_pk, dataset_id, record.id))
                .values(
                    description=record.description,
                    metadata=dict(record.metadata),
                    modified_at=now,
                )
            )
        return replace(record, modified_at=now)

    def delete_versions(self, app_pk: int, dataset_id: str, version_ids: Sequence[str]) -> None:
        """Delete these versions (their inputs go with them, by cascade)."""
        with self._write() as db:
            db.execute(
                delete(dataset_versions).where(
                    dataset_versions.c.dataset_pk == _dataset_of(app_pk, dataset_id),
                    dataset_versions.c.id.in_(version_ids),
                )
            )

    def version_inputs(
        self, app_pk: int, dataset_id: str, version_id: str, page: Page
    ) -> list[VersionInput]:
        """A page of the version's inputs, by input id."""
        query = (
            select(dataset_version_inputs.c.snapshot)
            .join(dataset_versions, dataset_versions.c.pk == dataset_version_inputs.c.version_pk)
            .where(_named(app_pk, dataset_id, version_id))
            .order_by(dataset_version_inputs.c.input_id)
        )
        with self._read() as db:
            rows = db.execute(query.limit(page.per_page).offset(page.offset)).scalars()
            return [_from_json(snapshot) for snapshot in rows]

    def frozen_labels(
        self, app_pk: int, dataset_id: str, version_id: str
    ) -> dict[str, dict[str, float]] | None:
        """Per input of the version, the highest value each concept was annotated with when
        it was frozen (the same reading of annotations training makes of live ones); None
        when there is no such version."""
        if self.get_version(app_pk, dataset_id, version_id) is None:
            return None
        labels: dict[str, dict[str, float]] = {}
        page = 1
        while found := self.version_inputs(app_pk, dataset_id, version_id, Page(page, 1000)):
            for item in found:
                labels[item.input.id] = _highest_values(item.annotations)
            page += 1
        return labels


def _highest_values(annotations: Sequence[AnnotationRecord]) -> dict[str, float]:
    highest: dict[str, float] = {}
    for annotation in annotations:
        for concept in annotation_concepts_of(annotation.data):
            concept_id = str(concept.get("id") or concept.get("name") or "")
            value = float(concept.get("value", 1.0))
            highest[concept_id] = max(value, highest.get(concept_id, value))
    return highest


def _dataset_pk(db: Connection, app_pk: int, dataset_id: str) -> int | None:
    found = db.execute(
        select(datasets.c.pk).where(datasets.c.app_pk == app_pk, datasets.c.id == dataset_id)
    ).scalar()
    return int(found) if found is not None else None


def _dataset_of(app_pk: int, dataset_id: str) -> Any:
    return (
        select(datasets.c.pk)
        .where(datasets.c.app_pk == app_pk, datasets.c.id == dataset_id)
        .scalar_subquery()
    )


def _named(app_pk: int, dataset_id: str, version_id: str) -> Any:
    return (dataset_versions.c.dataset_pk == _dataset_of(app_pk, dataset_id)) & (
        dataset_versions.c.id == version_id
    )


def _versions(app_pk: int, dataset_id: str) -> Any:
    return select(dataset_versions).where(
        dataset_versions.c.dataset_pk == _dataset_of(app_pk, dataset_id)
    )


def _version(db: Connection, row: Row[Any], dataset_id: str) -> DatasetVersionRecord:
    count = db.execute(
        select(func.count()).where(dataset_version_inputs.c.version_pk == row.pk)
    ).scalar_one()
    return DatasetVersionRecord(
        id=row.id,
        dataset_id=dataset_id,
        description=row.description,
        metadata=row.metadata or {},
        input_count=int(count),
        created_at=aware(row.created_at),
        modified_at=aware(row.modified_at),
    )


def _current_inputs(db: Connection, dataset_pk: int) -> list[VersionInput]:
    """The dataset's inputs now, each with its annotations."""
    rows = db.execute(
        select(inputs)
        .join(dataset_inputs, dataset_inputs.c.input_pk == inputs.c.pk)
        .where(dataset_inputs.c.dataset_pk == dataset_pk)
        .order_by(inputs.c.id)
    ).all()
    records = [input_from_row(row) for row in rows]
    by_input: dict[int, list[AnnotationRecord]] = {}
    annotation_rows = db.execute(
        select(annotation_table)
        .join(dataset_inputs, dataset_inputs.c.input_pk == annotation_table.c.input_pk)
        .where(dataset_inputs.c.dataset_pk == dataset_pk)
        .order_by(annotation_table.c.pk)
    ).all()
    ids = {record.pk: record.id for record in records}
    for row in annotation_rows:
        by_input.setdefault(row.input_pk, []).append(
            AnnotationRecord(
                id=row.id,
                input_id=ids[row.input_pk],
                data=row.data or {},
                input_level=bool(row.input_level),
                status_code=row.status_code,
                created_at=aware(row.created_at),
                modified_at=aware(row.modified_at),
            )
        )
    return [VersionInput(record, tuple(by_input.get(record.pk or 0, ()))) for record in records]


def _to_json(item: VersionInput) -> dict[str, Any]:
    record = item.input
    return {
        "input": {
            "id": record.id,
            "kind": record.kind,
            "url": record.url,
            "text": record.text,
            "blob": record.blob,
            "metadata": dict(record.metadata),
            "geo": list(record.geo) if record.geo is not None else None,
            "width": record.width,
            "height": record.height,
            "format": record.format,
            "status_code": record.status_code,
            "created_at": _iso(record.created_at),
        },
        "annotations": [
            {
                "id": annotation.id,
                "data": dict(annotation.data),
                "input_level": annotation.input_level,
                "status_code": annotation.status_code,
                "created_at": _iso(annotation.created_at),
            }
            for annotation in item.annotations
        ],
    }


def _from_json(snapshot: Mapping[str, Any]) -> VersionInput:
    given = snapshot["input"]
    geo = given.get("geo")
    record = InputRecord(
        id=given["id"],
        kind=given["kind"],
        url=given.get("url", ""),
        text=given.get("text", ""),
        blob=given.get("blob"),
        metadata=given.get("metadata") or {},
        geo=(float(geo[0]), float(geo[1])) if geo else None,
        width=given.get("width"),
        height=given.get("height"),
        format=given.get("format", ""),
        status_code=given["status_code"],
        created_at=_parse(given.get("created_at")),
    )
    annotations = tuple(
        AnnotationRecord(
            id=annotation["id"],
            input_id=record.id,
            data=annotation.get("data") or {},
            input_level=bool(annotation.get("input_level")),
            status_code=annotation["status_code"],
            created_at=_parse(annotation.get("created_at")),
        )
        for annotation in snapshot.get("annotations", ())
    )
    return VersionInput(record, annotations)


def _iso(value: datetime | None) -> str | None:
    return aware(value).isoformat() if value is not None else None  # type: ignore[union-attr]


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
