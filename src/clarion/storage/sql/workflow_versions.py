"""``WorkflowVersionStore`` on SQLAlchemy Core, and ``record_nodes``, which the workflow writes
of ``SqlModelStore`` call inside their own transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, select, update

from clarion.storage.base import Page
from clarion.storage.schema import workflow_versions, workflows
from clarion.storage.sql.base import SqlBase, aware, utcnow
from clarion.storage.workflow_versions import PRIVATE, WorkflowVersionRecord


def record_nodes(db: Connection, app_pk: int, workflow_id: str, nodes: Sequence[Any]) -> None:
    """In the caller's transaction: a new version of the workflow when ``nodes`` differ from
    its newest version's (or it has none)."""
    workflow_pk = db.execute(
        select(workflows.c.pk).where(workflows.c.app_pk == app_pk, workflows.c.id == workflow_id)
    ).scalar_one_or_none()
    if workflow_pk is None:
        return
    newest = db.execute(
        select(workflow_versions.c.nodes)
        .where(workflow_versions.c.workflow_pk == workflow_pk)
        .order_by(workflow_versions.c.pk.desc())
        .limit(1)
    ).first()
    if newest is not None and list(newest.nodes) == [dict(node) for node in nodes]:
        return
    now = utcnow()
    db.execute(
        workflow_versions.insert().values(
            workflow_pk=workflow_pk,
            id=uuid.uuid4().hex,
            nodes=[dict(node) for node in nodes],
            description="",
            metadata={},
            license="",
            visibility=PRIVATE,
            created_at=now,
            modified_at=now,
        )
    )


class SqlWorkflowVersions(SqlBase):
    """By the app's ``pk`` and the workflow's id; newest first."""

    def list_versions(
        self, app_pk: int, workflow_id: str, page: Page
    ) -> list[WorkflowVersionRecord]:
        query = (
            _versions_of(app_pk, workflow_id)
            .order_by(workflow_versions.c.pk.desc())
            .limit(page.per_page)
            .offset(page.offset)
        )
        with self._read() as db:
            return [_record(row, workflow_id) for row in db.execute(query).all()]

    def get_version(
        self, app_pk: int, workflow_id: str, version_id: str
    ) -> WorkflowVersionRecord | None:
        query = _versions_of(app_pk, workflow_id).where(workflow_versions.c.id == version_id)
        with self._read() as db:
            row = db.execute(query).first()
        return _record(row, workflow_id) if row is not None else None

    def newest_id(self, app_pk: int, workflow_id: str) -> str | None:
        query = _versions_of(app_pk, workflow_id).order_by(workflow_versions.c.pk.desc()).limit(1)
        with self._read() as db:
            row = db.execute(query).first()
        return str(row.id) if row is not None else None

    def update_version(self, app_pk: int, record: WorkflowVersionRecord) -> None:
        with self._write() as db:
            db.execute(
                update(workflow_versions)
                .where(
                    workflow_versions.c.workflow_pk == _workflow_pk(app_pk, record.workflow_id),
                    workflow_versions.c.id == record.id,
                )
                .values(
                    description=record.description,
                    metadata=dict(record.metadata),
                    license=record.license,
                    visibility=record.visibility,
                    modified_at=utcnow(),
                )
            )

    def delete_versions(self, app_pk: int, workflow_id: str, ids: Sequence[str]) -> None:
        with self._write() as db:
            db.execute(
                delete(workflow_versions).where(
                    workflow_versions.c.workflow_pk == _workflow_pk(app_pk, workflow_id),
                    workflow_versions.c.id.in_(list(ids)),
                )
            )


def _workflow_pk(app_pk: int, workflow_id: str) -> Any:
    return (
        select(workflows.c.pk)
        .where(workflows.c.app_pk == app_pk, workflows.c.id == workflow_id)
        .scalar_subquery()
    )


def _versions_of(app_pk: int, workflow_id: str) -> Any:
    return select(workflow_versions).where(
        workflow_versions.c.workflow_pk == _workflow_pk(app_pk, workflow_id)
    )


def _record(row: Row[Any], workflow_id: str) -> WorkflowVersionRecord:
    return WorkflowVersionRecord(
        id=row.id,
        workflow_id=workflow_id,
        nodes=tuple(row.nodes or ()),
        description=row.description,
        metadata=row.metadata or {},
        license=row.license,
        visibility=row.visibility,
        created_at=aware(row.created_at),
        modified_at=aware(row.modified_at),
    )
