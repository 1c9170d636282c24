"""``AccountStore`` on SQLAlchemy Core: users, apps and keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any

from sqlalchemy import Connection, Row, and_, func, select

from clarion.storage.accounts import AppRecord, KeyRecord, UserRecord
from clarion.storage.base import Page
from clarion.storage.errors import Conflict
from clarion.storage.jobs import COLLECT_BLOBS_JOB
from clarion.storage.schema import api_keys, apps, users
from clarion.storage.sql.base import SqlBase, aware, utcnow
from clarion.storage.sql.jobs import enqueue_once

PUBLIC_VISIBILITY = 50


class SqlAccountStore(SqlBase):
    """Users, apps and keys in a relational database."""

    # users

    def create_user(self, user: UserRecord) -> UserRecord:
        user = replace(user, created_at=user.created_at or utcnow())
        with self._write() as db:
            db.execute(users.insert().values(**asdict(user)))
        return user

    def get_user(self, user_id: str) -> UserRecord | None:
        with self._read() as db:
            row = db.execute(select(users).where(users.c.id == user_id)).first()
        return _user(row) if row else None

    def count_users(self) -> int:
        with self._read() as db:
            return int(db.execute(select(func.count()).select_from(users)).scalar_one())

    # apps

    def create_apps(self, new_apps: Sequence[AppRecord]) -> list[AppRecord]:
        now = utcnow()
        created = [
            replace(app, created_at=app.created_at or now, modified_at=now) for app in new_apps
        ]
        with self._write() as db:
            for app in created:
                db.execute(apps.insert().values(**_app_values(app)))
        return created

    def get_app(self, user_id: str, app_id: str) -> AppRecord | None:
        with self._read() as db:
            row = db.execute(
                select(apps).where(apps.c.user_id == user_id, apps.c.id == app_id)
            ).first()
        return _app(row) if row else None

    def list_apps(self, user_id: str, page: Page, *, public_only: bool = False) -> list[AppRecord]:
        query = select(apps).where(apps.c.user_id == user_id)
        if public_only:
            query = query.where(apps.c.visibility == PUBLIC_VISIBILITY)
        query = query.order_by(apps.c.created_at.desc(), apps.c.id)
        with self._read() as db:
            rows = db.execute(query.limit(page.per_page).offset(page.offset)).all()
        return [_app(row) for row in rows]

    def update_app(self, app: AppRecord) -> AppRecord:
        app = replace(app, modified_at=utcnow())
        values = _app_values(app)
        with self._write() as db:
            db.execute(
                apps.update()
                .where(apps.c.user_id == app.user_id, apps.c.id == app.id)
                .values(**{k: v for k, v in values.items() if k not in ("user_id", "id")})
            )
        return app

    def delete_app(self, user_id: str, app_id: str) -> bool:
        """Delete the app and, by cascade, everything in it; its blobs are collected later."""
        with self._write() as db:
            result = db.execute(apps.delete().where(apps.c.user_id == user_id, apps.c.id == app_id))
            if result.rowcount:
                enqueue_once(db, COLLECT_BLOBS_JOB)
        return result.rowcount > 0

    # keys

    def create_key(self, key: KeyRecord) -> KeyRecord:
        key = replace(key, created_at=key.created_at or utcnow())
        with self._write() as db:
            values = _key_values(key, self._app_pk(db, key.user_id, key.app_id))
            db.execute(api_keys.insert().values(**values))
        return key

    def find_key(self, token_hash: str) -> KeyRecord | None:
        with self._read() as db:
            row = db.execute(_keys_query().where(api_keys.c.token_hash == token_hash)).first()
        return _key(row) if row else None

    def get_key(self, user_id: str, ref: str) -> KeyRecord | None:
        query = _keys_query().where(api_keys.c.user_id == user_id, api_keys.c.ref == ref)
        with self._read() as db:
            row = db.execute(query).first()
        return _key(row) if row else None

    def list_keys(self, user_id: str, page: Page, *, app_id: str | None = None) -> list[KeyRecord]:
        query = _keys_query().where(api_keys.c.user_id == user_id)
        if app_id is not None:
            query = query.where(apps.c.id == app_id)
        query = query.order_by(api_keys.c.created_at.desc(), api_keys.c.ref)
        with self._read() as db:
            rows = db.execute(query.limit(page.per_page).offset(page.offset)).all()
        return [_key(row) for row in rows]

    def update_key(self, key: KeyRecord) -> KeyRecord:
        with self._write() as db:
            db.execute(
                api_keys.update()
                .where(api_keys.c.ref == key.ref)
                .values(
                    description=key.description,
                    scopes=list(key.scopes),
                    endpoints=list(key.endpoints),
                    expires_at=key.expires_at,
                    rate_limit=key.rate_limit,
                )
            )
        return key

    def delete_key(self, user_id: str, ref: str) -> bool:
        with self._write() as db:
            result = db.execute(
                api_keys.delete().where(api_keys.c.user_id == user_id, api_keys.c.ref == ref)
            )
        return result.rowcount > 0

    @staticmethod
    def _app_pk(db: Connection, user_id: str, app_id: str | None) -> int | None:
        if app_id is None:
            return None
        pk = db.execute(
            select(apps.c.pk).where(apps.c.user_id == user_id, apps.c.id == app_id)
        ).scalar_one_or_none()
        if pk is None:
            raise Conflict(f"app '{app_id}' of user '{user_id}' does not exist")
        return int(pk)


def _keys_query() -> Any:
    return select(api_keys, apps.c.id.label("app_id")).select_from(
        api_keys.outerjoin(apps, and_(api_keys.c.app_pk == apps.c.pk))
    )


def _user(row: Row[Any]) -> UserRecord:
    values = row._asdict()
    values["created_at"] = aware(values["created_at"])
    return UserRecord(**values)


def _app_values(app: AppRecord) -> dict[str, Any]:
    values = asdict(app)
    del values["pk"]
    values["metadata"] = dict(app.metadata)
    return values


def _app(row: Row[Any]) -> AppRecord:
    values: Mapping[str, Any] = row._asdict()
    return AppRecord(
        user_id=values["user_id"],
        id=values["id"],
        name=values["name"],
        description=values["description"],
        default_language=values["default_language"],
        default_workflow_id=values["default_workflow_id"],
        visibility=values["visibility"],
        notes=values["notes"],
        metadata=values["metadata"] or {},
        created_at=aware(values["created_at"]),
        modified_at=aware(values["modified_at"]),
        pk=values["pk"],
    )


def _key_values(key: KeyRecord, app_pk: int | None) -> dict[str, Any]:
    values = asdict(key)
    del values["app_id"]
    values.update(scopes=list(key.scopes), endpoints=list(key.endpoints), app_pk=app_pk)
    return values


def _key(row: Row[Any]) -> KeyRecord:
    values = row._asdict()
    return KeyRecord(
        ref=values["ref"],
        token_hash=values["token_hash"],
        user_id=values["user_id"],
        type=values["type"],
        description=values["description"],
        scopes=tuple(values["scopes"] or ()),
        endpoints=tuple(values["endpoints"] or ()),
        app_id=values["app_id"],
        created_at=aware(values["created_at"]),
        expires_at=aware(values["expires_at"]),
        rate_limit=values["rate_limit"],
    )
