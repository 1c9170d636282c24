"""Reading input rows: shared by the data store and the search store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Row, select

from clarion.storage.base import InputRecord
from clarion.storage.schema import dataset_inputs, datasets
from clarion.storage.sql import aware


def input_from_row(row: Row[Any]) -> InputRecord:
    geo = None
    if row.geo_longitude is not None and row.geo_latitude is not None:
        geo = (float(row.geo_longitude), float(row.geo_latitude))
    return InputRecord(
        id=row.id,
        kind=row.kind,
        url=row.url,
        text=row.text,
        blob=row.blob,
        metadata=row.metadata or {},
        geo=geo,
        width=row.width,
        height=row.height,
        format=row.format,
        status_code=row.status_code,
        status_description=row.status_description,
        add_job_id=row.add_job_id,
        created_at=aware(row.created_at),
        modified_at=aware(row.modified_at),
        pk=row.pk,
    )


def with_dataset_ids(db: Connection, records: list[InputRecord]) -> list[InputRecord]:
    """Fill ``dataset_ids`` for a page of inputs with one query."""
    pks = [record.pk for record in records]
    rows = db.execute(
        select(dataset_inputs.c.input_pk, datasets.c.id)
        .join(datasets, datasets.c.pk == dataset_inputs.c.dataset_pk)
        .where(dataset_inputs.c.input_pk.in_(pks))
        .order_by(datasets.c.id)
    ).all()
    by_input: dict[int, list[str]] = {}
    for input_pk, dataset_id in rows:
        by_input.setdefault(input_pk, []).append(dataset_id)
    # Most inputs are in no dataset: only those that are get a new record.
    return [
        replace(r, dataset_ids=tuple(by_input[r.pk])) if r.pk in by_input else r for r in records
    ]


def annotation_concepts_of(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The concepts an annotation's data names (its JSON form), its regions' included."""
    found = list(data.get("concepts", []))
    for region in data.get("regions", []):
        found += region.get("data", {}).get("concepts", [])
    return found
