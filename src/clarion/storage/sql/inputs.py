"""``InputStore`` on SQLAlchemy Core.

Adding inputs writes the inputs, their input-level annotations, the concepts they name, their
dataset links and one ingestion job each in a single transaction: an acknowledged input is never
without the job that ingests it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from clarion.storage.annotations import AnnotationRecord
from clarion.storage.base import Page
from clarion.storage.dialect import EncodedJson, encode_json, keys_in
from clarion.storage.inputs import InputRecord
from clarion.storage.jobs import COLLECT_BLOBS_JOB, INGEST_JOB
from clarion.storage.schema import inputs
from clarion.storage.sql.annotations import insert_annotation
from clarion.storage.sql.base import SqlBase, input_from_row, utcnow, with_dataset_ids
from clarion.storage.sql.concepts import ensure_concepts, named_concepts
from clarion.storage.sql.datasets import dataset_pks_of, link_datasets
from clarion.storage.sql.ingestion import update_input_status
from clarion.storage.sql.jobs import enqueue, enqueue_once
from clarion.storage.sql.searches import flat_metadata, log_removals, write_metadata_rows


class SqlInputStore(SqlBase):
    """Inputs of apps, by the app's ``pk``."""

    def add_inputs(
        self,
        app_pk: int,
        new_inputs: Sequence[InputRecord],
        new_annotations: Sequence[AnnotationRecord],
    ) -> list[InputRecord]:
        """Store inputs with their annotations, concepts and datasets, and queue their ingestion."""
        now = utcnow()
        stored = []
        # The metadata's JSON and filter rows are worked out before the write lock is taken.
        flat = [flat_metadata(record.metadata) for record in new_inputs]
        encoded = [encode_json(dict(record.metadata)) for record in new_inputs]
        with self._write() as db:
            dataset_pks = dataset_pks_of(db, app_pk, {d for i in new_inputs for d in i.dataset_ids})
            input_pks: dict[str, int] = {}
            for record, leaves, metadata in zip(new_inputs, flat, encoded, strict=True):
                record = replace(record, created_at=now, modified_at=now)
                pk = _insert_input(db, app_pk, record, metadata)
                write_metadata_rows(db, pk, leaves)
                input_pks[record.id] = pk
                link_datasets(db, pk, [dataset_pks[d] for d in record.dataset_ids], now)
                enqueue(db, INGEST_JOB, {"input_pk": pk}, app_pk)
                stored.append(replace(record, pk=pk))
            for annotation in new_annotations:
                insert_annotation(db, app_pk, input_pks[annotation.input_id], annotation, now)
            ensure_concepts(db, app_pk, named_concepts(new_annotations), now)
        return stored

    def existing_input_ids(self, app_pk: int, ids: Iterable[str]) -> set[str]:
        ids = list(ids)
        query = select(inputs.c.id).where(inputs.c.app_pk == app_pk, inputs.c.id.in_(ids))
        with self._read() as db:
            return set(db.execute(query).scalars())

    def existing_urls(self, app_pk: int, urls: Iterable[str]) -> set[str]:
        urls = [url for url in urls if url]
        query = select(inputs.c.url).where(inputs.c.app_pk == app_pk, inputs.c.url.in_(urls))
        with self._read() as db:
            return set(db.execute(query).scalars())

    def get_input(self, app_pk: int, input_id: str) -> InputRecord | None:
        with self._read() as db:
            row = db.execute(
                select(inputs).where(inputs.c.app_pk == app_pk, inputs.c.id == input_id)
            ).first()
            return with_dataset_ids(db, [input_from_row(row)])[0] if row else None

    def get_input_by_pk(self, input_pk: int) -> tuple[int, InputRecord] | None:
        """The input and its app's pk (for workers, which know only the pk)."""
        with self._read() as db:
            row = db.execute(select(inputs).where(inputs.c.pk == input_pk)).first()
        return (int(row.app_pk), input_from_row(row)) if row else None

    def get_inputs_by_pks(self, input_pks: Sequence[int]) -> dict[int, tuple[int, InputRecord]]:
        """``get_input_by_pk`` for a batch, in one read: by pk, those that exist."""
        with self._read() as db:
            rows = db.execute(select(inputs).where(keys_in(db, inputs.c.pk, input_pks))).all()
        return {int(row.pk): (int(row.app_pk), input_from_row(row)) for row in rows}

    def list_inputs(
        self, app_pk: int, page: Page, *, ids: Sequence[str] = (), status_code: int = 0
    ) -> list[InputRecord]:
        query = select(inputs).where(inputs.c.app_pk == app_pk)
        if ids:
            query = query.where(inputs.c.id.in_(ids))
        if status_code:
            query = query.where(inputs.c.status_code == status_code)
        query = query.order_by(inputs.c.created_at.desc(), inputs.c.pk.desc())
        with self._read() as db:
            rows = db.execute(query.limit(page.per_page).offset(page.offset)).all()
            return with_dataset_ids(db, [input_from_row(row) for row in rows])

    def stream_inputs(
        self, app_pk: int, per_page: int, last_id: str, *, descending: bool
    ) -> list[InputRecord]:
        """Inputs ordered by id, after the ``last_id`` cursor."""
        query = select(inputs).where(inputs.c.app_pk == app_pk)
        if last_id:
            query = query.where(inputs.c.id < last_id if descending else inputs.c.id > last_id)
        order = inputs.c.id.desc() if descending else inputs.c.id.asc()
        with self._read() as db:
            rows = db.execute(query.order_by(order).limit(per_page)).all()
            return with_dataset_ids(db, [input_from_row(row) for row in rows])

    def update_input(self, app_pk: int, record: InputRecord) -> InputRecord:
        """Save metadata and geo (what PatchInputs changes)."""
        record = replace(record, modified_at=utcnow())
        lon, lat = record.geo or (None, None)
        leaves, metadata = flat_metadata(record.metadata), encode_json(dict(record.metadata))
        with self._write() as db:
            db.execute(
                update(inputs)
                .where(inputs.c.app_pk == app_pk, inputs.c.id == record.id)
                .values(
                    metadata=metadata,
                    geo_longitude=lon,
                    geo_latitude=lat,
                    modified_at=record.modified_at,
                )
            )
            if record.pk is not None:
                write_metadata_rows(db, record.pk, leaves)
        return record

    def set_input_status(
        self,
        input_pk: int,
        code: int,
        description: str,
        *,
        blob: str | None = None,
        size: tuple[int, int] | None = None,
        image_format: str = "",
    ) -> None:
        """Record where ingestion of one input stands (workers call this)."""
        with self._write() as db:
            update_input_status(
                db, input_pk, code, description, blob=blob, size=size, image_format=image_format
            )

    def delete_inputs(self, app_pk: int, ids: Sequence[str]) -> list[str]:
        """Delete inputs (their annotations and dataset links go with them); the ids deleted."""
        with self._write() as db:
            found = list(
                db.execute(
                    select(inputs.c.id).where(inputs.c.app_pk == app_pk, inputs.c.id.in_(ids))
                ).scalars()
            )
            found_pks = list(
                db.execute(
                    select(inputs.c.pk).where(inputs.c.app_pk == app_pk, inputs.c.id.in_(found))
                ).scalars()
            )
            log_removals(db, found_pks)
            db.execute(delete(inputs).where(inputs.c.pk.in_(found_pks)))
            if found:
                enqueue_once(db, COLLECT_BLOBS_JOB)
        return found

    def count_inputs_by_status(self, app_pk: int) -> dict[int, int]:
        query = (
            select(inputs.c.status_code, func.count())
            .where(inputs.c.app_pk == app_pk)
            .group_by(inputs.c.status_code)
        )
        with self._read() as db:
            return {int(code): int(count) for code, count in db.execute(query).all()}

    def count_add_job(self, app_pk: int, job_id: str) -> dict[int, int]:
        """Inputs of one ``inputs_add_job_id``, counted by status."""
        query = (
            select(inputs.c.status_code, func.count())
            .where(inputs.c.app_pk == app_pk, inputs.c.add_job_id == job_id)
            .group_by(inputs.c.status_code)
        )
        with self._read() as db:
            return {int(code): int(count) for code, count in db.execute(query).all()}

    def list_add_jobs(self, app_pk: int, page: Page) -> list[str]:
        query = (
            select(inputs.c.add_job_id)
            .where(inputs.c.app_pk == app_pk, inputs.c.add_job_id != "")
            .group_by(inputs.c.add_job_id)
            .order_by(func.min(inputs.c.created_at).desc())
        )
        with self._read() as db:
            return list(db.execute(query.limit(page.per_page).offset(page.offset)).scalars())

    def referenced_blobs(self) -> set[str]:
        """Every blob some input still refers to (the rest can be collected)."""
        with self._read() as db:
            return set(
                db.execute(select(inputs.c.blob).where(inputs.c.blob.is_not(None))).scalars()
            )


def _insert_input(db: Connection, app_pk: int, record: InputRecord, metadata: EncodedJson) -> int:
    values = {**_input_values(app_pk, record), "metadata": metadata}
    result = db.execute(insert(inputs).values(**values))
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def _input_values(app_pk: int, record: InputRecord) -> dict[str, Any]:
    lon, lat = record.geo or (None, None)
    return {
        "app_pk": app_pk,
        "id": record.id,
        "kind": record.kind,
        "url": record.url,
        "text": record.text,
        "blob": record.blob,
        "metadata": dict(record.metadata),
        "geo_longitude": lon,
        "geo_latitude": lat,
        "width": record.width,
        "height": record.height,
        "format": record.format,
        "status_code": record.status_code,
        "status_description": record.status_description,
        "add_job_id": record.add_job_id,
        "created_at": record.created_at,
        "modified_at": record.modified_at,
    }
