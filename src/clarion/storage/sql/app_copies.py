"""``AppCopyStore`` on SQLAlchemy Core: the copy is set-based ``INSERT ... SELECT``
statements in one transaction, each table's rows of the source app inserted under the
destination's key (rows that name other rows, such as dataset members and annotations, are
matched to their copies by id)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Table, and_, case, func, insert, literal, select, update
from sqlalchemy.sql import ColumnElement

from clarion.codes import (
    APP_DUPLICATION_FAILED,
    APP_DUPLICATION_SUCCESS,
    INPUT_DOWNLOAD_IN_PROGRESS,
    INPUT_DOWNLOAD_PENDING,
    MODEL_EVALUATING,
    MODEL_NOT_EVALUATED,
    MODEL_QUEUED_FOR_EVALUATION,
    MODEL_QUEUED_FOR_TRAINING,
    MODEL_TRAINING,
)
from clarion.storage.accounts import AppRecord
from clarion.storage.app_copies import APP_DUPLICATION_JOB, COPY_KINDS, DuplicationRecord
from clarion.storage.base import Page
from clarion.storage.schema import (
    annotation_concepts,
    annotation_table,
    app_duplications,
    apps,
    concepts,
    custom_models,
    dataset_inputs,
    datasets,
    input_metadata,
    inputs,
    model_versions,
    workflow_versions,
    workflows,
)
from clarion.storage.sql.accounts import _app_values
from clarion.storage.sql.base import SqlBase, aware, utcnow
from clarion.storage.sql.jobs import enqueue

_UNFINISHED_INPUTS = (INPUT_DOWNLOAD_PENDING, INPUT_DOWNLOAD_IN_PROGRESS)
_UNFINISHED_VERSIONS = (MODEL_QUEUED_FOR_TRAINING, MODEL_TRAINING)


@dataclass(frozen=True, slots=True)
class _Copy:
    pk: int
    user_id: str
    record: DuplicationRecord


class SqlAppCopies(SqlBase):
    def start(
        self, user_id: str, source_app_id: str, destination: AppRecord, copy: Sequence[str]
    ) -> DuplicationRecord:
        """Create the destination app and queue its copy; ``Conflict`` if the app id is taken."""
        now = utcnow()
        record = DuplicationRecord(
            id=uuid.uuid4().hex,
            source_app_id=source_app_id,
            destination_app_id=destination.id,
            copy=tuple(copy),
            status_description="Queued",
            created_at=now,
            modified_at=now,
        )
        destination = replace(destination, created_at=now, modified_at=now)
        with self._write() as db:
            created = db.execute(apps.insert().values(**_app_values(destination)))
            result = db.execute(insert(app_duplications).values(**_values(user_id, record)))
            pk = result.inserted_primary_key[0] if result.inserted_primary_key else None
            app_pk = created.inserted_primary_key[0] if created.inserted_primary_key else 0
            # The new app's work: workers take apps' jobs in turn.
            enqueue(db, APP_DUPLICATION_JOB, {"duplication_pk": pk}, app_pk=app_pk)
        return record

    def get(self, user_id: str, duplication_id: str) -> DuplicationRecord | None:
        query = select(app_duplications).where(
            app_duplications.c.user_id == user_id, app_duplications.c.id == duplication_id
        )
        with self._read() as db:
            row = db.execute(query).first()
        return _record(row) if row is not None else None

    def list(self, user_id: str, page: Page) -> list[DuplicationRecord]:
        query = (
            select(app_duplications)
            .where(app_duplications.c.user_id == user_id)
            .order_by(app_duplications.c.pk.desc())
            .limit(page.per_page)
            .offset(page.offset)
        )
        with self._read() as db:
            return [_record(row) for row in db.execute(query).all()]

    def run_copy(self, duplication_pk: int) -> int | None:
        """Copy, once: the destination app's pk when the copy was made now or before (to
        reindex), None when the duplication is gone or could not be made (and is marked so)."""
        with self._write() as db:
            found = _load(db, duplication_pk)
            if found is None:
                return None
            source, destination = _app_pks(db, found)
            if found.record.status_code == APP_DUPLICATION_SUCCESS:
                return destination
            if source is None or destination is None:
                _finish(db, duplication_pk, APP_DUPLICATION_FAILED, _gone(found), {})
                return None
            progress = _copy_all(db, source, destination, found.record.copy)
            _finish(db, duplication_pk, APP_DUPLICATION_SUCCESS, _done(progress), progress)
        return destination

    def fail(self, duplication_pk: int, description: str) -> None:
        with self._write() as db:
            _finish(db, duplication_pk, APP_DUPLICATION_FAILED, description, {})


def _copy_all(db: Connection, source: int, destination: int, copy: Sequence[str]) -> dict[str, int]:
    progress: dict[str, int] = {}
    if "concepts" in copy:
        progress["concepts"] = _copy_rows(db, concepts, source, destination)
    if "inputs" in copy:
        progress["inputs"] = _copy_inputs(db, source, destination)
        progress["inputs_left_out"] = _count(
            db, inputs, (inputs.c.app_pk == source) & inputs.c.status_code.in_(_UNFINISHED_INPUTS)
        )
        _copy_datasets(db, source, destination)
    if "annotations" in copy:
        progress["annotations"] = _copy_annotations(db, source, destination)
    if "models" in copy:
        progress["models"] = _copy_models(db, source, destination)
    if "workflows" in copy:
        progress["workflows"] = _copy_workflows(db, source, destination)
    return progress


def _copy_rows(
    db: Connection,
    table: Table,
    source: int,
    destination: int,
    where: ColumnElement[bool] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> int:
    """Copy an app's rows of ``table`` (keyed by ``app_pk``) to the destination app."""
    overrides = {"app_pk": literal(destination), **(overrides or {})}
    names = [column.name for column in table.columns if column.name != "pk"]
    chosen = [overrides.get(name, table.c[name]) for name in names]
    condition = table.c.app_pk == source
    if where is not None:
        condition = condition & where
    db.execute(insert(table).from_select(names, select(*chosen).where(condition)))
    # Counted, not the driver's rowcount (not every driver reports one for INSERT ... SELECT):
    # the destination is a new app, so all its rows are the copied ones.
    return _count(db, table, table.c.app_pk == destination)


def _copy_inputs(db: Connection, source: int, destination: int) -> int:
    finished = inputs.c.status_code.not_in(_UNFINISHED_INPUTS)
    count = _copy_rows(db, inputs, source, destination, finished, {"add_job_id": literal("")})
    pairs = _input_pairs(source, destination)
    db.execute(
        insert(input_metadata).from_select(
            ["input_pk", "path", "value"],
            select(pairs.c.new_pk, input_metadata.c.path, input_metadata.c.value).join(
                pairs, pairs.c.old_pk == input_metadata.c.input_pk
            ),
        )
    )
    return count


def _input_pairs(source: int, destination: int) -> Any:
    """(old_pk, new_pk) of each copied input, matched by id."""
    old, new = inputs.alias("old_inputs"), inputs.alias("new_inputs")
    return (
        select(old.c.pk.label("old_pk"), new.c.pk.label("new_pk"))
        .join(new, and_(new.c.app_pk == destination, new.c.id == old.c.id))
        .where(old.c.app_pk == source)
        .subquery()
    )


def _copy_datasets(db: Connection, source: int, destination: int) -> None:
    _copy_rows(db, datasets, source, destination)
    old, new = datasets.alias("old_datasets"), datasets.alias("new_datasets")
    pairs = _input_pairs(source, destination)
    db.execute(
        insert(dataset_inputs).from_select(
            ["dataset_pk", "input_pk", "created_at"],
            select(new.c.pk, pairs.c.new_pk, dataset_inputs.c.created_at)
            .join(old, old.c.pk == dataset_inputs.c.dataset_pk)
            .join(new, and_(new.c.app_pk == destination, new.c.id == old.c.id))
            .join(pairs, pairs.c.old_pk == dataset_inputs.c.input_pk)
            .where(old.c.app_pk == source),
        )
    )


def _copy_annotations(db: Connection, source: int, destination: int) -> int:
    """Annotations of copied inputs (an input left out takes its annotations with it)."""
    pairs = _input_pairs(source, destination)
    table = annotation_table
    names = [column.name for column in table.columns if column.name != "pk"]
    values: dict[str, Any] = {name: table.c[name] for name in names}
    values.update(app_pk=literal(destination), input_pk=pairs.c.new_pk)
    db.execute(
        insert(table).from_select(
            names,
            select(*[values[name] for name in names])
            .join(pairs, pairs.c.old_pk == table.c.input_pk)
            .where(table.c.app_pk == source),
        )
    )
    old, new = table.alias("old_annotations"), table.alias("new_annotations")
    db.execute(
        insert(annotation_concepts).from_select(
            ["annotation_pk", "input_pk", "concept_id", "name", "value"],
            select(
                new.c.pk,
                new.c.input_pk,
                annotation_concepts.c.concept_id,
                annotation_concepts.c.name,
                annotation_concepts.c.value,
            )
            .join(old, old.c.pk == annotation_concepts.c.annotation_pk)
            .join(new, and_(new.c.app_pk == destination, new.c.id == old.c.id))
            .where(old.c.app_pk == source),
        )
    )
    return _count(db, table, table.c.app_pk == destination)


def _copy_models(db: Connection, source: int, destination: int) -> int:
    count = _copy_rows(db, custom_models, source, destination)
    old, new = custom_models.alias("old_models"), custom_models.alias("new_models")
    names = [c.name for c in model_versions.columns if c.name not in ("pk", "model_pk")]
    # An evaluation under way is not copied, so its version is shown as not evaluated.
    evaluation = case(
        (
            model_versions.c.metrics_status_code.in_(
                (MODEL_QUEUED_FOR_EVALUATION, MODEL_EVALUATING)
            ),
            literal(MODEL_NOT_EVALUATED),
        ),
        else_=model_versions.c.metrics_status_code,
    )
    chosen = [
        evaluation if name == "metrics_status_code" else model_versions.c[name] for name in names
    ]
    db.execute(
        insert(model_versions).from_select(
            ["model_pk", *names],
            select(new.c.pk, *chosen)
            .join(old, old.c.pk == model_versions.c.model_pk)
            .join(new, and_(new.c.app_pk == destination, new.c.id == old.c.id))
            .where(
                old.c.app_pk == source,
                model_versions.c.status_code.not_in(_UNFINISHED_VERSIONS),
            ),
        )
    )
    return count


def _copy_workflows(db: Connection, source: int, destination: int) -> int:
    count = _copy_rows(db, workflows, source, destination)
    old, new = workflows.alias("old_workflows"), workflows.alias("new_workflows")
    names = [c.name for c in workflow_versions.columns if c.name not in ("pk", "workflow_pk")]
    db.execute(
        insert(workflow_versions).from_select(
            ["workflow_pk", *names],
            select(new.c.pk, *[workflow_versions.c[name] for name in names])
            .join(old, old.c.pk == workflow_versions.c.workflow_pk)
            .join(new, and_(new.c.app_pk == destination, new.c.id == old.c.id))
            .where(old.c.app_pk == source)
            .order_by(workflow_versions.c.pk),  # the newest stays the newest
        )
    )
    return count


def _count(db: Connection, table: Table, condition: ColumnElement[bool]) -> int:
    return int(db.execute(select(func.count()).select_from(table).where(condition)).scalar_one())


def _load(db: Connection, duplication_pk: int) -> _Copy | None:
    row = db.execute(
        select(app_duplications).where(app_duplications.c.pk == duplication_pk)
    ).first()
    return _Copy(row.pk, row.user_id, _record(row)) if row is not None else None


def _app_pks(db: Connection, found: _Copy) -> tuple[int | None, int | None]:
    def pk(app_id: str) -> int | None:
        query = select(apps.c.pk).where(apps.c.user_id == found.user_id, apps.c.id == app_id)
        return db.execute(query).scalar_one_or_none()

    return pk(found.record.source_app_id), pk(found.record.destination_app_id)


def _finish(
    db: Connection, duplication_pk: int, code: int, description: str, progress: Mapping[str, int]
) -> None:
    db.execute(
        update(app_duplications)
        .where(app_duplications.c.pk == duplication_pk)
        .values(
            status_code=code,
            status_description=description,
            progress=dict(progress),
            modified_at=utcnow(),
        )
    )


def _gone(found: _Copy) -> str:
    return (
        f"App '{found.record.source_app_id}' or '{found.record.destination_app_id}' was deleted "
        "before the copy ran"
    )


def _done(progress: Mapping[str, int]) -> str:
    left_out = progress.get("inputs_left_out", 0)
    if left_out:
        return f"Copied; {left_out} inputs still being ingested were left out"
    return "Copied"


def _values(user_id: str, record: DuplicationRecord) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "id": record.id,
        "source_app_id": record.source_app_id,
        "destination_app_id": record.destination_app_id,
        "filter": {kind: kind in record.copy for kind in COPY_KINDS},
        "status_code": record.status_code,
        "status_description": record.status_description,
        "progress": dict(record.progress),
        "created_at": record.created_at,
        "modified_at": record.modified_at,
    }


def _record(row: Any) -> DuplicationRecord:
    chosen = row.filter or {}
    return DuplicationRecord(
        id=row.id,
        source_app_id=row.source_app_id,
        destination_app_id=row.destination_app_id,
        copy=tuple(kind for kind in COPY_KINDS if chosen.get(kind)),
        status_code=row.status_code,
        status_description=row.status_description,
        progress={str(k): int(v) for k, v in (row.progress or {}).items()},
        created_at=aware(row.created_at),
        modified_at=aware(row.modified_at),
    )
