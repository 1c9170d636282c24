"""``CollaboratorStore`` on SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Row, delete, insert, select, update

from clarion.storage.accounts import AppRecord, UserRecord
from clarion.storage.base import Page
from clarion.storage.collaborators import CollaboratorRecord
from clarion.storage.schema import apps, collaborators, users
from clarion.storage.sql.base import SqlBase, aware, utcnow


class SqlCollaboratorStore(SqlBase):
    """Collaborators of apps, by the app's ``pk``; and a user's collaborations."""

    def add_collaborators(
        self, app_pk: int, records: Sequence[CollaboratorRecord]
    ) -> list[CollaboratorRecord]:
        """All or none; ``Conflict`` when one already collaborates on the app."""
        now = utcnow()
        added = [replace(record, created_at=now, modified_at=now) for record in records]
        with self._write() as db:
            for record in added:
                db.execute(insert(collaborators).values(**_values(app_pk, record)))
        return added

    def get_collaborator(self, app_pk: int, user_id: str) -> CollaboratorRecord | None:
        query = select(collaborators).where(
            collaborators.c.app_pk == app_pk, collaborators.c.user_id == user_id
        )
        with self._read() as db:
            row = db.execute(query).first()
        return _record(row) if row else None

    def list_collaborators(self, app_pk: int, page: Page) -> list[CollaboratorRecord]:
        query = (
            select(collaborators)
            .where(collaborators.c.app_pk == app_pk)
            .order_by(collaborators.c.created_at, collaborators.c.pk)
        )
        with self._read() as db:
            rows = db.execute(query.limit(page.per_page).offset(page.offset)).all()
        return [_record(row) for row in rows]

    def update_collaborator(self, app_pk: int, record: CollaboratorRecord) -> CollaboratorRecord:
        record = replace(record, modified_at=utcnow())
        with self._write() as db:
            db.execute(
                update(collaborators)
                .where(collaborators.c.app_pk == app_pk, collaborators.c.user_id == record.user_id)
                .values(
                    scopes=list(record.scopes),
                    endpoints=list(record.endpoints),
                    modified_at=record.modified_at,
                )
            )
        return record

    def delete_collaborators(self, app_pk: int, user_ids: Sequence[str]) -> int:
        with self._write() as db:
            result = db.execute(
                delete(collaborators).where(
                    collaborators.c.app_pk == app_pk, collaborators.c.user_id.in_(user_ids)
                )
            )
        return int(result.rowcount)

    def list_collaborations(
        self, user_id: str, page: Page
    ) -> list[tuple[AppRecord, CollaboratorRecord]]:
        """The apps ``user_id`` collaborates on, oldest collaboration first."""
        query = (
            select(apps, collaborators.c.scopes, collaborators.c.endpoints)
            .add_columns(collaborators.c.created_at.label("since"))
            .join(collaborators, collaborators.c.app_pk == apps.c.pk)
            .where(collaborators.c.user_id == user_id)
            .order_by(collaborators.c.created_at, collaborators.c.pk)
        )
        with self._read() as db:
            rows = db.execute(query.limit(page.per_page).offset(page.offset)).all()
        return [(_app(row), _collaboration(user_id, row)) for row in rows]

    def find_user(self, user_id: str = "", email: str = "") -> UserRecord | None:
        """The user with this id, or else with this e-mail address."""
        query = select(users).where(users.c.id == user_id if user_id else users.c.email == email)
        with self._read() as db:
            row = db.execute(query).first()
        if row is None:
            return None
        return UserRecord(
            id=row.id,
            first_name=row.first_name,
            last_name=row.last_name,
            company_name=row.company_name,
            email=row.email,
            created_at=aware(row.created_at),
        )


def _values(app_pk: int, record: CollaboratorRecord) -> dict[str, Any]:
    return {
        "app_pk": app_pk,
        "user_id": record.user_id,
        "scopes": list(record.scopes),
        "endpoints": list(record.endpoints),
        "created_at": record.created_at,
        "modified_at": record.modified_at,
    }


def _record(row: Row[Any]) -> CollaboratorRecord:
    return CollaboratorRecord(
        user_id=row.user_id,
        scopes=tuple(row.scopes or ()),
        endpoints=tuple(row.endpoints or ()),
        created_at=aware(row.created_at),
        modified_at=aware(row.modified_at),
    )


def _collaboration(user_id: str, row: Row[Any]) -> CollaboratorRecord:
    return CollaboratorRecord(
        user_id=user_id,
        scopes=tuple(row.scopes or ()),
        endpoints=tuple(row.endpoints or ()),
        created_at=aware(row.since),
    )


def _app(row: Row[Any]) -> AppRecord:
    return AppRecord(
        user_id=row.user_id,
        id=row.id,
        name=row.name,
        description=row.description,
        default_language=row.default_language,
        default_workflow_id=row.default_workflow_id,
        visibility=row.visibility,
        notes=row.notes,
        metadata=row.metadata or {},
        created_at=aware(row.created_at),
        modified_at=aware(row.modified_at),
        pk=row.pk,
    )
