"""An app's data: inputs, concepts, annotations and datasets, on SQLAlchemy Core.

Adding inputs writes the inputs, their input-level annotations, the concepts they name, their
dataset links and one ingestion job each in a single transaction: an acknowledged input is never
without the job that ingests it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Row, and_, case, delete, func, insert, select, update

from clarion.storage.base import (
    AnnotationRecord,
    ConceptRecord,
    DatasetRecord,
    InputRecord,
    Page,
)
from clarion.storage.dialect import EncodedJson, encode_json
from clarion.storage.errors import ConceptsExist, Conflict
from clarion.storage.queue import COLLECT_BLOBS_JOB, INGEST_JOB, enqueue, enqueue_once
from clarion.storage.rows import annotation_concepts_of, input_from_row, with_dataset_ids
from clarion.storage.schema import (
    annotation_concepts,
    annotation_table,
    concepts,
    dataset_inputs,
    datasets,
    inputs,
)
from clarion.storage.searchdata import (
    flat_metadata,
    log_removals,
    write_annotation_concepts,
    write_metadata_rows,
)
from clarion.storage.sql import SqlBase, aware, utcnow


class SqlDataStore(SqlBase):
    """Inputs, concepts, annotations and datasets of apps, by the app's ``pk``."""

    # inputs

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
            dataset_pks = _dataset_pks(db, app_pk, {d for i in new_inputs for d in i.dataset_ids})
            input_pks: dict[str, int] = {}
            for record, leaves, metadata in zip(new_inputs, flat, encoded, strict=True):
                record = replace(record, created_at=now, modified_at=now)
                pk = _insert_input(db, app_pk, record, metadata)
                write_metadata_rows(db, pk, leaves)
                input_pks[record.id] = pk
                _link_datasets(db, pk, [dataset_pks[d] for d in record.dataset_ids], now)
                enqueue(db, INGEST_JOB, {"input_pk": pk}, app_pk)
                stored.append(replace(record, pk=pk))
            for annotation in new_annotations:
                _insert_annotation(db, app_pk, input_pks[annotation.input_id], annotation, now)
            _ensure_concepts(db, app_pk, _named_concepts(new_annotations), now)
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
        values: dict[str, Any] = {
            "status_code": code,
            "status_description": description,
            "modified_at": utcnow(),
        }
        if blob is not None:
            values["blob"] = blob
        if size is not None:
            values["width"], values["height"] = size
        if image_format:
            values["format"] = image_format
        with self._write() as db:
            db.execute(update(inputs).where(inputs.c.pk == input_pk).values(**values))

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

    # concepts

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
            db.execute(insert(concepts), [_concept_values(app_pk, r, now) for r in records])
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

    # annotations

    def add_annotations(
        self, app_pk: int, records: Sequence[AnnotationRecord]
    ) -> list[AnnotationRecord]:
        now = utcnow()
        with self._write() as db:
            pks = _input_pks(db, app_pk, {record.input_id for record in records})
            for record in records:
                _insert_annotation(db, app_pk, pks[record.input_id], record, now)
            _ensure_concepts(db, app_pk, _named_concepts(records), now)
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
            _ensure_concepts(db, app_pk, _named_concepts([record]), record.modified_at)
        return record

    def set_input_level_concepts(
        self, app_pk: int, input_id: str, data: Mapping[str, Any], new_id: str
    ) -> None:
        """Replace the input-level annotation's data, creating it (as ``new_id``) if absent."""
        now = utcnow()
        with self._write() as db:
            input_pk = _input_pks(db, app_pk, {input_id})[input_id]
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
                _insert_annotation(db, app_pk, input_pk, record, now)
            _ensure_concepts(db, app_pk, _concepts_in(data), now)

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

    # datasets

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
            dataset_pk = _dataset_pks(db, app_pk, {dataset_id})[dataset_id]
            for input_pk in _input_pks(db, app_pk, set(input_ids)).values():
                _link_datasets(db, input_pk, [dataset_pk], now)

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
            dataset_pk = _dataset_pks(db, app_pk, {dataset_id})[dataset_id]
            input_pks = list(_input_pks(db, app_pk, set(input_ids)).values())
            db.execute(
                delete(dataset_inputs).where(
                    dataset_inputs.c.dataset_pk == dataset_pk,
                    dataset_inputs.c.input_pk.in_(input_pks),
                )
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


def _input_pks(db: Connection, app_pk: int, ids: set[str]) -> dict[str, int]:
    rows = db.execute(
        select(inputs.c.id, inputs.c.pk).where(inputs.c.app_pk == app_pk, inputs.c.id.in_(ids))
    ).all()
    found = {row.id: int(row.pk) for row in rows}
    missing = ids - set(found)
    if missing:
        raise Conflict(f"input '{sorted(missing)[0]}' does not exist")
    return found


def _dataset_pks(db: Connection, app_pk: int, ids: set[str]) -> dict[str, int]:
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


def _link_datasets(db: Connection, input_pk: int, dataset_pks: Sequence[int], now: Any) -> None:
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


def _insert_annotation(
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


def _concepts_in(data: Mapping[str, Any]) -> list[ConceptRecord]:
    """The concepts an annotation's data names, its regions' included."""
    found = [_concept_of(concept) for concept in annotation_concepts_of(data)]
    return [concept for concept in found if concept.id]


def _concept_of(data: Mapping[str, Any]) -> ConceptRecord:
    concept_id = str(data.get("id") or data.get("name") or "")
    return ConceptRecord(id=concept_id, name=str(data.get("name") or concept_id))


def _named_concepts(records: Iterable[AnnotationRecord]) -> list[ConceptRecord]:
    return [concept for record in records for concept in _concepts_in(record.data)]


def _ensure_concepts(
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
            db.execute(insert(concepts).values(**_concept_values(app_pk, record, now)))


def _concept_values(app_pk: int, record: ConceptRecord, now: Any) -> dict[str, Any]:
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
