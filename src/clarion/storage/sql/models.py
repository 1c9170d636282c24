"""``ModelStore`` on SQLAlchemy Core: custom models, their versions and workflows, and the
labelled vectors training reads."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, Row, delete, func, insert, select, update

from clarion.codes import (
    MODEL_EVALUATING,
    MODEL_QUEUED_FOR_EVALUATION,
    MODEL_QUEUED_FOR_TRAINING,
    MODEL_TRAINED,
    MODEL_TRAINING,
)
from clarion.storage.base import Page
from clarion.storage.errors import Conflict
from clarion.storage.models import (
    EVALUATE_MODEL_JOB,
    TRAIN_MODEL_JOB,
    ModelConcept,
    ModelRecord,
    TrainingSet,
    VersionRecord,
    VersionRef,
    WorkflowRecord,
)
from clarion.storage.schema import (
    annotation_concepts,
    apps,
    custom_models,
    dataset_inputs,
    datasets,
    input_vectors,
    inputs,
    model_versions,
    workflows,
)
from clarion.storage.sql.base import SqlBase, aware, utcnow
from clarion.storage.sql.jobs import enqueue
from clarion.storage.sql.workflow_versions import record_nodes

# lookup_model remembers at most this many absences (a caller trying many ids must not grow it).
_MAX_REMEMBERED_ABSENT = 10_000


class SqlModelStore(SqlBase):
    """Custom models, versions and workflows of apps, by the app's ``pk``.

    ``absent_seconds``: how long ``lookup_model`` trusts that an app has no model of some id.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        absent_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(engine)
        self._absent_seconds = absent_seconds
        self._clock = clock
        # (app_pk, model id) -> until when that app is taken to have no such model.
        self._absent: dict[tuple[int, str], float] = {}

    # models

    def create_model(self, app_pk: int, record: ModelRecord) -> ModelRecord:
        now = utcnow()
        record = replace(record, created_at=now, modified_at=now)
        with self._write() as db:
            db.execute(insert(custom_models).values(**_model_values(app_pk, record)))
        self._absent.pop((app_pk, record.id), None)
        return record

    def lookup_model(self, app_pk: int, model_id: str) -> ModelRecord | None:
        """``get_model``, remembering for ``absent_seconds`` that the app has no such model.

        Every prediction asks whether its model id is one of the app's custom models, and
        nearly always it is a built-in one: the remembered answer saves a query a call. A
        model created through this store is found at once; one created through another
        process, within ``absent_seconds``.
        """
        key = (app_pk, model_id)
        if self._absent.get(key, 0.0) > self._clock():
            return None
        model = self.get_model(app_pk, model_id)
        if model is None and self._absent_seconds > 0:
            if len(self._absent) >= _MAX_REMEMBERED_ABSENT:
                self._absent.clear()  # a caller trying many ids must not grow it without end
            self._absent[key] = self._clock() + self._absent_seconds
        return model

    def forget_absence(self, app_pk: int, model_id: str) -> None:
        self._absent.pop((app_pk, model_id), None)

    def get_model(self, app_pk: int, model_id: str) -> ModelRecord | None:
        with self._read() as db:
            row = db.execute(
                select(custom_models).where(
                    custom_models.c.app_pk == app_pk, custom_models.c.id == model_id
                )
            ).first()
        return _model(row) if row else None

    def list_models(self, app_pk: int) -> list[ModelRecord]:
        """Every custom model of the app, newest first (apps hold few models)."""
        query = (
            select(custom_models)
            .where(custom_models.c.app_pk == app_pk)
            .order_by(custom_models.c.created_at.desc(), custom_models.c.pk.desc())
        )
        with self._read() as db:
            return [_model(row) for row in db.execute(query).all()]

    def update_model(self, app_pk: int, record: ModelRecord) -> ModelRecord:
        record = replace(record, modified_at=utcnow())
        values = _model_values(app_pk, record)
        for key in ("app_pk", "id", "created_at"):
            del values[key]
        with self._write() as db:
            db.execute(
                update(custom_models)
                .where(custom_models.c.app_pk == app_pk, custom_models.c.id == record.id)
                .values(**values)
            )
        return record

    def delete_models(self, app_pk: int, ids: Sequence[str] | None) -> list[str]:
        """Delete models (all of the app's when ``ids`` is None) and their versions."""
        condition = custom_models.c.app_pk == app_pk
        if ids is not None:
            condition = condition & custom_models.c.id.in_(ids)
        with self._write() as db:
            found = list(db.execute(select(custom_models.c.id).where(condition)).scalars())
            db.execute(delete(custom_models).where(condition))
        return found

    # versions

    def create_version(
        self, app_pk: int, model_id: str, version: VersionRecord, model_concepts: bool
    ) -> VersionRecord:
        """Store a version queued for training and its training job, in one transaction.

        With ``model_concepts`` the model's concept list becomes the version's.
        """
        now = utcnow()
        version = replace(version, created_at=now, modified_at=now)
        with self._write() as db:
            model_pk = _model_pk(db, app_pk, model_id)
            result = db.execute(insert(model_versions).values(**_version_values(model_pk, version)))
            assert result.inserted_primary_key is not None
            version_pk = int(result.inserted_primary_key[0])
            enqueue(db, TRAIN_MODEL_JOB, {"version_pk": version_pk}, app_pk)
            changes: dict[str, Any] = {"modified_at": now}
            if model_concepts:
                changes["concepts"] = _concepts_json(version.concepts)
            db.execute(update(custom_models).where(custom_models.c.pk == model_pk).values(changes))
        return replace(version, pk=version_pk)

    def get_version(self, app_pk: int, model_id: str, version_id: str) -> VersionRecord | None:
        query = _versions_query(app_pk, model_id).where(model_versions.c.id == version_id)
        with self._read() as db:
            row = db.execute(query).first()
        return _version(row) if row else None

    def list_versions(
        self, app_pk: int, model_id: str, page: Page, *, trained_only: bool = False
    ) -> list[VersionRecord]:
        """A page of the model's versions, newest first."""
        query = _versions_query(app_pk, model_id)
        if trained_only:
            query = query.where(model_versions.c.status_code == MODEL_TRAINED)
        query = query.order_by(model_versions.c.pk.desc()).limit(page.per_page).offset(page.offset)
        with self._read() as db:
            return [_version(row) for row in db.execute(query).all()]

    def latest_version(
        self, app_pk: int, model_id: str, *, trained_only: bool = False
    ) -> VersionRecord | None:
        found = self.list_versions(app_pk, model_id, Page(1, 1), trained_only=trained_only)
        return found[0] if found else None

    def delete_version(self, app_pk: int, model_id: str, version_id: str) -> bool:
        with self._write() as db:
            model_pk = _model_pk(db, app_pk, model_id)
            result = db.execute(
                delete(model_versions).where(
                    model_versions.c.model_pk == model_pk, model_versions.c.id == version_id
                )
            )
        return bool(result.rowcount)

    def version_by_pk(self, version_pk: int) -> VersionRef | None:
        """A version with its app and model (for jobs, which know only its pk)."""
        query = (
            select(model_versions, custom_models.c.id.label("model_id"), custom_models.c.app_pk)
            .join(custom_models, custom_models.c.pk == model_versions.c.model_pk)
            .where(model_versions.c.pk == version_pk)
        )
        with self._read() as db:
            row = db.execute(query).first()
        return VersionRef(int(row.app_pk), row.model_id, _version(row)) if row else None

    def set_training_status(self, version_pk: int, code: int, description: str) -> None:
        """Record where training stands; a final status also sets ``completed_at``."""
        now = utcnow()
        values: dict[str, Any] = {
            "status_code": code,
            "status_description": description,
            "modified_at": now,
        }
        if code not in (MODEL_TRAINING, MODEL_QUEUED_FOR_TRAINING):
            values["completed_at"] = now
        with self._write() as db:
            db.execute(
                update(model_versions).where(model_versions.c.pk == version_pk).values(values)
            )

    def save_trained(
        self,
        version_pk: int,
        weights: bytes,
        concepts: Sequence[ModelConcept],
        stats: Mapping[str, Any],
    ) -> None:
        """Store what training learned and mark the version trained, at once."""
        now = utcnow()
        with self._write() as db:
            db.execute(
                update(model_versions)
                .where(model_versions.c.pk == version_pk)
                .values(
                    weights=weights,
                    concepts=_concepts_json(concepts),
                    train_stats=dict(stats),
                    status_code=MODEL_TRAINED,
                    status_description="Model is trained and ready",
                    modified_at=now,
                    completed_at=now,
                )
            )

    def request_evaluation(self, version_pk: int) -> bool:
        """Queue an evaluation, unless one is queued or running; True if one was queued."""
        with self._write() as db:
            result = db.execute(
                update(model_versions)
                .where(
                    model_versions.c.pk == version_pk,
                    model_versions.c.metrics_status_code.not_in(
                        (MODEL_QUEUED_FOR_EVALUATION, MODEL_EVALUATING)
                    ),
                )
                .values(
                    metrics_status_code=MODEL_QUEUED_FOR_EVALUATION,
                    metrics_description="Queued for evaluation",
                    modified_at=utcnow(),
                )
            )
            if result.rowcount:
                enqueue(db, EVALUATE_MODEL_JOB, {"version_pk": version_pk})
        return bool(result.rowcount)

    def set_metrics(
        self,
        version_pk: int,
        code: int,
        description: str,
        metrics: Mapping[str, Any] | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "metrics_status_code": code,
            "metrics_description": description,
            "modified_at": utcnow(),
        }
        if metrics is not None:
            values["metrics"] = dict(metrics)
        with self._write() as db:
            db.execute(
                update(model_versions).where(model_versions.c.pk == version_pk).values(values)
            )

    # training data

    def training_set(
        self,
        app_pk: int,
        concept_ids: Sequence[str],
        space: str,
        *,
        dataset_id: str = "",
        every_input: bool = False,
    ) -> TrainingSet:
        """The app's inputs annotated with any of ``concept_ids``, with their ``space`` vectors.

        An input annotated with a concept several times counts as positive if any of those
        annotations is. Inputs come in storage order, so the set is the same on every read.
        ``dataset_id`` keeps only that dataset's inputs; ``every_input`` keeps its inputs
        annotated with none of the concepts too (negatives for all of them), as evaluating
        against a dataset does.
        """
        column = {concept_id: index for index, concept_id in enumerate(concept_ids)}
        members = _dataset_members(app_pk, dataset_id) if dataset_id else None
        with self._read() as db:
            marks = db.execute(_annotation_marks(app_pk, list(column), members)).all()
            vectors_query = _labelled_vectors(app_pk, list(column), space, members, every_input)
            rows = db.execute(vectors_query).all()
        labelled = {int(mark.input_pk) for mark in marks}
        row_of = {int(row.input_pk): index for index, row in enumerate(rows)}
        labels = np.zeros((len(rows), len(column)), dtype=np.float32)
        for mark in marks:
            index = row_of.get(int(mark.input_pk))
            if index is not None:
                labels[index, column[mark.concept_id]] = 1.0 if mark.top > 0 else -1.0
        vectors = (
            np.stack([np.frombuffer(row.vector, dtype=np.float32) for row in rows])
            if rows
            else np.empty((0, 0), dtype=np.float32)
        )
        input_ids = tuple(str(row.id) for row in rows)
        return TrainingSet(input_ids, vectors, labels, len(labelled))

    # workflows

    def create_workflows(
        self, app_pk: int, records: Sequence[WorkflowRecord]
    ) -> list[WorkflowRecord]:
        now = utcnow()
        created = [replace(record, created_at=now, modified_at=now) for record in records]
        with self._write() as db:
            for record in created:
                db.execute(insert(workflows).values(**_workflow_values(app_pk, record)))
                record_nodes(db, app_pk, record.id, record.nodes)
        return created

    def get_workflow(self, app_pk: int, workflow_id: str) -> WorkflowRecord | None:
        with self._read() as db:
            row = db.execute(
                select(workflows).where(workflows.c.app_pk == app_pk, workflows.c.id == workflow_id)
            ).first()
        return _workflow(row) if row else None

    def list_workflows(self, app_pk: int, page: Page) -> list[WorkflowRecord]:
        query = (
            select(workflows)
            .where(workflows.c.app_pk == app_pk)
            .order_by(workflows.c.created_at.desc(), workflows.c.pk.desc())
            .limit(page.per_page)
            .offset(page.offset)
        )
        with self._read() as db:
            return [_workflow(row) for row in db.execute(query).all()]

    def update_workflow(self, app_pk: int, record: WorkflowRecord) -> WorkflowRecord:
        record = replace(record, modified_at=utcnow())
        values = _workflow_values(app_pk, record)
        for key in ("app_pk", "id", "created_at"):
            del values[key]
        with self._write() as db:
            db.execute(
                update(workflows)
                .where(workflows.c.app_pk == app_pk, workflows.c.id == record.id)
                .values(**values)
            )
            record_nodes(db, app_pk, record.id, record.nodes)
        return record

    def delete_workflows(self, app_pk: int, ids: Sequence[str] | None) -> list[str]:
        """Delete workflows (all of the app's when ``ids`` is None); the ids deleted."""
        condition = workflows.c.app_pk == app_pk
        if ids is not None:
            condition = condition & workflows.c.id.in_(ids)
        with self._write() as db:
            found = list(db.execute(select(workflows.c.id).where(condition)).scalars())
            db.execute(delete(workflows).where(condition))
        return found

    def default_workflow_id(self, app_pk: int) -> str:
        """The app's base workflow id ("" when it has none, or the app is gone)."""
        with self._read() as db:
            found = db.execute(
                select(apps.c.default_workflow_id).where(apps.c.pk == app_pk)
            ).scalar_one_or_none()
        return str(found or "")


def _dataset_members(app_pk: int, dataset_id: str) -> Any:
    """The input pks of one of the app's datasets, as a subquery."""
    return (
        select(dataset_inputs.c.input_pk)
        .join(datasets, datasets.c.pk == dataset_inputs.c.dataset_pk)
        .where(datasets.c.app_pk == app_pk, datasets.c.id == dataset_id)
    )


def _annotation_marks(app_pk: int, concept_ids: list[str], members: Any = None) -> Any:
    """(input, concept, highest annotated value) for the concepts, in the app."""
    query = (
        select(
            annotation_concepts.c.input_pk,
            annotation_concepts.c.concept_id,
            func.max(annotation_concepts.c.value).label("top"),
        )
        .join(inputs, inputs.c.pk == annotation_concepts.c.input_pk)
        .where(inputs.c.app_pk == app_pk, annotation_concepts.c.concept_id.in_(concept_ids))
        .group_by(annotation_concepts.c.input_pk, annotation_concepts.c.concept_id)
    )
    return query if members is None else query.where(annotation_concepts.c.input_pk.in_(members))


def _labelled_vectors(
    app_pk: int, concept_ids: list[str], space: str, members: Any, every_input: bool
) -> Any:
    query = (
        select(input_vectors.c.input_pk, input_vectors.c.vector, inputs.c.id)
        .join(inputs, inputs.c.pk == input_vectors.c.input_pk)
        .where(input_vectors.c.app_pk == app_pk, input_vectors.c.space == space)
        .order_by(input_vectors.c.input_pk)
    )
    if members is not None:
        query = query.where(input_vectors.c.input_pk.in_(members))
    if not every_input:
        labelled = select(annotation_concepts.c.input_pk).where(
            annotation_concepts.c.concept_id.in_(concept_ids)
        )
        query = query.where(input_vectors.c.input_pk.in_(labelled))
    return query


def _model_pk(db: Connection, app_pk: int, model_id: str) -> int:
    pk = db.execute(
        select(custom_models.c.pk).where(
            custom_models.c.app_pk == app_pk, custom_models.c.id == model_id
        )
    ).scalar_one_or_none()
    if pk is None:
        raise Conflict(f"model '{model_id}' does not exist")
    return int(pk)


def _versions_query(app_pk: int, model_id: str) -> Any:
    return (
        select(model_versions, custom_models.c.id.label("model_id"))
        .join(custom_models, custom_models.c.pk == model_versions.c.model_pk)
        .where(custom_models.c.app_pk == app_pk, custom_models.c.id == model_id)
    )


def _concepts_json(concepts: Sequence[ModelConcept]) -> list[dict[str, str]]:
    return [{"id": concept.id, "name": concept.name} for concept in concepts]


def _concepts_of(values: Any) -> tuple[ModelConcept, ...]:
    return tuple(ModelConcept(str(c["id"]), str(c.get("name") or c["id"])) for c in values or ())


def _model_values(app_pk: int, record: ModelRecord) -> dict[str, Any]:
    return {
        "app_pk": app_pk,
        "id": record.id,
        "name": record.name,
        "model_type_id": record.model_type_id,
        "description": record.description,
        "notes": record.notes,
        "metadata": dict(record.metadata),
        "concepts": _concepts_json(record.concepts),
        "output_config": dict(record.output_config),
        "created_at": record.created_at,
        "modified_at": record.modified_at,
    }


def _model(row: Row[Any]) -> ModelRecord:
    return ModelRecord(
        id=row.id,
        model_type_id=row.model_type_id,
        name=row.name,
        description=row.description,
        notes=row.notes,
        metadata=row.metadata or {},
        concepts=_concepts_of(row.concepts),
        output_config=row.output_config or {},
        created_at=aware(row.created_at),
        modified_at=aware(row.modified_at),
    )


def _version_values(model_pk: int, record: VersionRecord) -> dict[str, Any]:
    return {
        "model_pk": model_pk,
        "id": record.id,
        "description": record.description,
        "status_code": record.status_code,
        "status_description": record.status_description,
        "concepts": _concepts_json(record.concepts),
        "output_config": dict(record.output_config),
        "weights": record.weights,
        "train_stats": dict(record.train_stats),
        "metrics_status_code": record.metrics_status_code,
        "metrics_description": record.metrics_description,
        "metrics": dict(record.metrics) if record.metrics is not None else None,
        "created_at": record.created_at,
        "modified_at": record.modified_at,
        "completed_at": record.completed_at,
        "train_params": dict(record.train_params),
    }


def _version(row: Row[Any]) -> VersionRecord:
    return VersionRecord(
        id=row.id,
        model_id=row.model_id,
        status_code=row.status_code,
        status_description=row.status_description,
        description=row.description,
        concepts=_concepts_of(row.concepts),
        output_config=row.output_config or {},
        weights=row.weights,
        train_stats=row.train_stats or {},
        metrics_status_code=row.metrics_status_code,
        metrics_description=row.metrics_description,
        metrics=row.metrics,
        created_at=aware(row.created_at),
        modified_at=aware(row.modified_at),
        completed_at=aware(row.completed_at),
        pk=row.pk,
        train_params=row.train_params or {},
    )


def _workflow_values(app_pk: int, record: WorkflowRecord) -> dict[str, Any]:
    return {
        "app_pk": app_pk,
        "id": record.id,
        "description": record.description,
        "notes": record.notes,
        "metadata": dict(record.metadata),
        "nodes": [dict(node) for node in record.nodes],
        "created_at": record.created_at,
        "modified_at": record.modified_at,
    }


def _workflow(row: Row[Any]) -> WorkflowRecord:
    return WorkflowRecord(
        id=row.id,
        nodes=tuple(row.nodes or ()),
        description=row.description,
        notes=row.notes,
        metadata=row.metadata or {},
        created_at=aware(row.created_at),
        modified_at=aware(row.modified_at),
    )
