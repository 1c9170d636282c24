"""``EvaluationStore`` on SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Row, insert, select, update

from clarion.codes import MODEL_EVALUATED, MODEL_EVALUATING, MODEL_QUEUED_FOR_EVALUATION
from clarion.storage.base import Page
from clarion.storage.evaluations import RUN_EVALUATION_JOB, EvaluationFilter, EvaluationRecord
from clarion.storage.schema import custom_models, evaluations, model_versions
from clarion.storage.sql.base import SqlBase, aware, utcnow
from clarion.storage.sql.jobs import enqueue

_NOT_FAILED = (MODEL_EVALUATED, MODEL_EVALUATING, MODEL_QUEUED_FOR_EVALUATION)


class SqlEvaluationStore(SqlBase):
    """Evaluations of an app's model versions, by the app's ``pk``."""

    def create_evaluations(
        self, app_pk: int, records: Sequence[EvaluationRecord]
    ) -> list[EvaluationRecord]:
        """Store queued evaluations and queue their jobs, all or none (an id taken: none)."""
        now = utcnow()
        created = []
        with self._write() as db:
            for record in records:
                record = replace(record, created_at=now, modified_at=now)
                result = db.execute(insert(evaluations).values(**_values(app_pk, record)))
                assert result.inserted_primary_key is not None
                pk = int(result.inserted_primary_key[0])
                enqueue(db, RUN_EVALUATION_JOB, {"evaluation_pk": pk}, app_pk)
                created.append(replace(record, pk=pk))
        return created

    def get_evaluation(self, app_pk: int, evaluation_id: str) -> EvaluationRecord | None:
        query = _query().where(evaluations.c.app_pk == app_pk, evaluations.c.id == evaluation_id)
        with self._read() as db:
            row = db.execute(query).first()
        return _record(row) if row else None

    def list_evaluations(
        self,
        app_pk: int,
        page: Page,
        chosen: EvaluationFilter | None = None,
        *,
        ascending: bool = False,
    ) -> list[EvaluationRecord]:
        """A page of the app's evaluations, newest first (oldest first if ``ascending``)."""
        chosen = chosen or EvaluationFilter()
        query = _query().where(evaluations.c.app_pk == app_pk)
        if chosen.model_id:
            query = query.where(custom_models.c.id == chosen.model_id)
        if chosen.version_id:
            query = query.where(model_versions.c.id == chosen.version_id)
        if chosen.model_type_id:
            query = query.where(custom_models.c.model_type_id == chosen.model_type_id)
        if chosen.dataset_ids:
            query = query.where(evaluations.c.dataset_id.in_(list(chosen.dataset_ids)))
        if not chosen.with_failed:
            query = query.where(evaluations.c.status_code.in_(_NOT_FAILED))
        order = evaluations.c.pk.asc() if ascending else evaluations.c.pk.desc()
        query = query.order_by(order).limit(page.per_page).offset(page.offset)
        with self._read() as db:
            return [_record(row) for row in db.execute(query).all()]

    def evaluation_by_pk(self, pk: int) -> tuple[int, EvaluationRecord] | None:
        """An evaluation with its app's pk (for the job, which knows only the row's pk)."""
        with self._read() as db:
            row = db.execute(_query().where(evaluations.c.pk == pk)).first()
        return (int(row.app_pk), _record(row)) if row else None

    def set_evaluation_status(
        self, pk: int, code: int, description: str, metrics: Mapping[str, Any] | None = None
    ) -> None:
        values: dict[str, Any] = {
            "status_code": code,
            "status_description": description,
            "modified_at": utcnow(),
        }
        if metrics is not None:
            values["metrics"] = dict(metrics)
        with self._write() as db:
            db.execute(update(evaluations).where(evaluations.c.pk == pk).values(values))


def _query() -> Any:
    return (
        select(
            evaluations,
            custom_models.c.id.label("model_id"),
            model_versions.c.id.label("version_id"),
        )
        .join(model_versions, model_versions.c.pk == evaluations.c.version_pk)
        .join(custom_models, custom_models.c.pk == model_versions.c.model_pk)
    )


def _values(app_pk: int, record: EvaluationRecord) -> dict[str, Any]:
    return {
        "app_pk": app_pk,
        "id": record.id,
        "version_pk": record.version_pk,
        "dataset_id": record.dataset_id,
        "status_code": record.status_code,
        "status_description": record.status_description,
        "metrics": dict(record.metrics) if record.metrics is not None else None,
        "created_at": record.created_at,
        "modified_at": record.modified_at,
    }


def _record(row: Row[Any]) -> EvaluationRecord:
    return EvaluationRecord(
        id=row.id,
        model_id=row.model_id,
        version_id=row.version_id,
        dataset_id=row.dataset_id,
        status_code=row.status_code,
        status_description=row.status_description,
        metrics=row.metrics,
        created_at=aware(row.created_at),
        modified_at=aware(row.modified_at),
        version_pk=row.version_pk,
        pk=row.pk,
    )
