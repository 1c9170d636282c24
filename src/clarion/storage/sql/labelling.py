"""``LabellingStore`` on SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from clarion.codes import TASK_ASSIGNMENT_PENDING
from clarion.storage.base import Page
from clarion.storage.labelling import (
    AssignmentRecord,
    NextInputs,
    StatusCount,
    TaskRecord,
)
from clarion.storage.schema import (
    annotation_table,
    dataset_inputs,
    datasets,
    inputs,
    labelling_tasks,
    task_assignments,
)
from clarion.storage.sql.base import SqlBase, aware, utcnow


class SqlLabellingStore(SqlBase):
    """Tasks of apps, by the app's ``pk``, and their assignments."""

    def create_tasks(self, app_pk: int, records: Sequence[TaskRecord]) -> list[TaskRecord]:
        now = utcnow()
        created = [replace(record, created_at=now, modified_at=now) for record in records]
        with self._write() as db:
            for record in created:
                db.execute(
                    insert(labelling_tasks).values(
                        app_pk=app_pk,
                        id=record.id,
                        spec=dict(record.spec),
                        created_at=now,
                        modified_at=now,
                    )
                )
        return created

    def get_task(self, app_pk: int, task_id: str) -> TaskRecord | None:
        found = self.list_tasks(app_pk, Page(1, 1), ids=[task_id])
        return found[0] if found else None

    def list_tasks(self, app_pk: int, page: Page, *, ids: Sequence[str] = ()) -> list[TaskRecord]:
        query = select(labelling_tasks).where(labelling_tasks.c.app_pk == app_pk)
        if ids:
            query = query.where(labelling_tasks.c.id.in_(ids))
        query = query.order_by(labelling_tasks.c.created_at.desc(), labelling_tasks.c.id)
        with self._read() as db:
            rows = db.execute(query.limit(page.per_page).offset(page.offset)).all()
        return [_task(row) for row in rows]

    def update_task(self, app_pk: int, record: TaskRecord) -> TaskRecord:
        record = replace(record, modified_at=utcnow())
        with self._write() as db:
            db.execute(
                update(labelling_tasks)
                .where(labelling_tasks.c.app_pk == app_pk, labelling_tasks.c.id == record.id)
                .values(spec=dict(record.spec), modified_at=record.modified_at)
            )
        return record

    def delete_tasks(self, app_pk: int, ids: Sequence[str]) -> int:
        with self._write() as db:
            for task_pk in _task_pks(db, app_pk, ids):
                db.execute(delete(task_assignments).where(task_assignments.c.task_pk == task_pk))
            result = db.execute(
                delete(labelling_tasks).where(
                    labelling_tasks.c.app_pk == app_pk, labelling_tasks.c.id.in_(ids)
                )
            )
        return int(result.rowcount)

    def assign_next(
        self,
        app_pk: int,
        task_id: str,
        worker_user_id: str,
        source: NextInputs,
        limit: int,
        new_ids: Sequence[str],
    ) -> list[AssignmentRecord]:
        now = utcnow()
        with self._write() as db:
            found = _task_pks(db, app_pk, [task_id])
            if not found:  # deleted since the service read it
                return []
            task_pk = found[0]
            pending = _pending_count(db, task_pk, worker_user_id)
            candidates = _unassigned_inputs(app_pk, task_pk, worker_user_id, source)
            chosen = db.execute(candidates.limit(max(0, limit - pending))).scalars().all()
            for input_pk, assignment_id in zip(chosen, new_ids, strict=False):
                db.execute(
                    insert(task_assignments).values(
                        task_pk=task_pk,
                        id=assignment_id,
                        input_pk=input_pk,
                        worker_user_id=worker_user_id,
                        status_code=_PENDING,
                        created_at=now,
                        modified_at=now,
                    )
                )
        return self.list_assignments(
            app_pk, task_id, worker_user_id=worker_user_id, status_codes=[_PENDING]
        )[:limit]

    def list_assignments(
        self,
        app_pk: int,
        task_id: str,
        *,
        ids: Sequence[str] = (),
        input_ids: Sequence[str] = (),
        worker_user_id: str = "",
        status_codes: Sequence[int] = (),
    ) -> list[AssignmentRecord]:
        query = _assignments_query(app_pk, task_id)
        if ids:
            query = query.where(task_assignments.c.id.in_(ids))
        if input_ids:
            query = query.where(inputs.c.id.in_(input_ids))
        if worker_user_id:
            query = query.where(task_assignments.c.worker_user_id == worker_user_id)
        if status_codes:
            query = query.where(task_assignments.c.status_code.in_(status_codes))
        query = query.order_by(task_assignments.c.created_at, task_assignments.c.pk)
        with self._read() as db:
            rows = db.execute(query).all()
        return [_assignment(row, task_id) for row in rows]

    def set_assignment_status(
        self, app_pk: int, task_id: str, ids: Sequence[str], status_code: int, annotation_code: int
    ) -> list[AssignmentRecord]:
        now = utcnow()
        with self._write() as db:
            found = _task_pks(db, app_pk, [task_id])
            if not found:  # deleted since the service read it
                return []
            task_pk = found[0]
            chosen = db.execute(
                select(task_assignments.c.input_pk, task_assignments.c.worker_user_id).where(
                    task_assignments.c.task_pk == task_pk, task_assignments.c.id.in_(ids)
                )
            ).all()
            db.execute(
                update(task_assignments)
                .where(task_assignments.c.task_pk == task_pk, task_assignments.c.id.in_(ids))
                .values(status_code=status_code, modified_at=now)
            )
            for row in chosen:
                db.execute(
                    update(annotation_table)
                    .where(
                        annotation_table.c.app_pk == app_pk,
                        annotation_table.c.task_id == task_id,
                        annotation_table.c.input_pk == row.input_pk,
                        annotation_table.c.worker_user_id == row.worker_user_id,
                    )
                    .values(status_code=annotation_code, modified_at=now)
                )
        return self.list_assignments(app_pk, task_id, ids=ids)

    def assignment_counts(self, app_pk: int, task_id: str) -> list[StatusCount]:
        column = task_assignments.c
        query = (
            select(column.worker_user_id, column.status_code, func.count())
            .join(labelling_tasks, labelling_tasks.c.pk == column.task_pk)
            .where(labelling_tasks.c.app_pk == app_pk, labelling_tasks.c.id == task_id)
            .group_by(column.worker_user_id, column.status_code)
        )
        with self._read() as db:
            return [StatusCount(*row) for row in db.execute(query).all()]

    def annotation_counts(self, app_pk: int, task_id: str) -> list[StatusCount]:
        column = annotation_table.c
        query = (
            select(column.worker_user_id, column.status_code, func.count())
            .where(column.app_pk == app_pk, column.task_id == task_id)
            .group_by(column.worker_user_id, column.status_code)
        )
        with self._read() as db:
            return [StatusCount(row[0] or "", row[1], row[2]) for row in db.execute(query).all()]

    def set_annotation_status(
        self,
        app_pk: int,
        task_id: str,
        user_ids: Sequence[str],
        from_codes: Sequence[int],
        to_code: int,
    ) -> int:
        column = annotation_table.c
        statement = update(annotation_table).where(
            column.app_pk == app_pk, column.task_id == task_id
        )
        if user_ids:
            statement = statement.where(column.worker_user_id.in_(user_ids))
        if from_codes:
            statement = statement.where(column.status_code.in_(from_codes))
        with self._write() as db:
            result = db.execute(statement.values(status_code=to_code, modified_at=utcnow()))
        return int(result.rowcount)

    def annotation_workers(self, app_pk: int, page: Page) -> list[str]:
        column = annotation_table.c
        query = (
            select(column.worker_user_id)
            .where(column.app_pk == app_pk, column.worker_user_id.is_not(None))
            .group_by(column.worker_user_id)
            .order_by(column.worker_user_id)
        )
        with self._read() as db:
            return list(db.execute(query.limit(page.per_page).offset(page.offset)).scalars())


_PENDING = TASK_ASSIGNMENT_PENDING


def _task_pks(db: Connection, app_pk: int, ids: Sequence[str]) -> list[int]:
    query = select(labelling_tasks.c.pk).where(
        labelling_tasks.c.app_pk == app_pk, labelling_tasks.c.id.in_(ids)
    )
    return list(db.execute(query).scalars())


def _pending_count(db: Connection, task_pk: int, worker_user_id: str) -> int:
    query = select(func.count()).where(
        task_assignments.c.task_pk == task_pk,
        task_assignments.c.worker_user_id == worker_user_id,
        task_assignments.c.status_code == _PENDING,
    )
    return int(db.execute(query).scalar_one())


def _unassigned_inputs(app_pk: int, task_pk: int, worker_user_id: str, source: NextInputs) -> Any:
    """A query of input pks the labeller may be given next, oldest first."""
    taken = select(task_assignments.c.input_pk).where(task_assignments.c.task_pk == task_pk)
    if not source.exclusive:
        taken = taken.where(task_assignments.c.worker_user_id == worker_user_id)
    query = select(inputs.c.pk).where(inputs.c.app_pk == app_pk, inputs.c.pk.not_in(taken))
    if source.dataset_id:
        in_dataset = (
            select(dataset_inputs.c.input_pk)
            .join(datasets, datasets.c.pk == dataset_inputs.c.dataset_pk)
            .where(datasets.c.app_pk == app_pk, datasets.c.id == source.dataset_id)
        )
        query = query.where(inputs.c.pk.in_(in_dataset))
    if source.input_ids:
        query = query.where(inputs.c.id.in_(source.input_ids))
    return query.order_by(inputs.c.created_at, inputs.c.pk)


def _assignments_query(app_pk: int, task_id: str) -> Any:
    return (
        select(task_assignments, inputs.c.id.label("input_id"))
        .join(labelling_tasks, labelling_tasks.c.pk == task_assignments.c.task_pk)
        .join(inputs, inputs.c.pk == task_assignments.c.input_pk)
        .where(labelling_tasks.c.app_pk == app_pk, labelling_tasks.c.id == task_id)
    )


def _task(row: Row[Any]) -> TaskRecord:
    return TaskRecord(
        id=row.id,
        spec=row.spec or {},
        created_at=aware(row.created_at),
        modified_at=aware(row.modified_at),
    )


def _assignment(row: Row[Any], task_id: str) -> AssignmentRecord:
    return AssignmentRecord(
        id=row.id,
        task_id=task_id,
        input_id=row.input_id,
        worker_user_id=row.worker_user_id,
        status_code=row.status_code,
        created_at=aware(row.created_at),
        modified_at=aware(row.modified_at),
    )
