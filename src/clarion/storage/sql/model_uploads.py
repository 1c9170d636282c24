"""``UploadedModelStore`` on SQLAlchemy Core."""

from __future__ import annotations

from sqlalchemy import select

from clarion.storage.model_uploads import ARCHIVE_KEY, UploadedVersion
from clarion.storage.schema import apps, custom_models, model_versions
from clarion.storage.sql.base import SqlBase


class SqlUploadedModelStore(SqlBase):
    def served_versions(self, status_code: int) -> list[UploadedVersion]:
        query = (
            select(
                apps.c.user_id,
                apps.c.id.label("app_id"),
                custom_models.c.id.label("model_id"),
                model_versions.c.id.label("version_id"),
                model_versions.c.train_params,
            )
            .join(custom_models, custom_models.c.pk == model_versions.c.model_pk)
            .join(apps, apps.c.pk == custom_models.c.app_pk)
            .where(model_versions.c.status_code == status_code)
            .where(model_versions.c.train_params.is_not(None))
            .order_by(model_versions.c.pk)
        )
        with self._read() as db:
            rows = db.execute(query).all()
        return [
            UploadedVersion(
                row.user_id, row.app_id, row.model_id, row.version_id, row.train_params[ARCHIVE_KEY]
            )
            for row in rows
            if isinstance(row.train_params, dict) and ARCHIVE_KEY in row.train_params
        ]

    def upload_blobs(self) -> set[str]:
        # JSON paths differ between SQLite and PostgreSQL: the (few) versions with training
        # parameters are read and their archive keys picked here.
        query = select(model_versions.c.train_params).where(
            model_versions.c.train_params.is_not(None)
        )
        with self._read() as db:
            params = db.execute(query).scalars().all()
        return {
            str(each[ARCHIVE_KEY])
            for each in params
            if isinstance(each, dict) and ARCHIVE_KEY in each
        }
