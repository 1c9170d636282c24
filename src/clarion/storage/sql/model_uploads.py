"""``UploadedModelStore`` on SQLAlchemy Core."""

from __future__ import annotations

from sqlalchemy import select

from clarion.storage.model_uploads import ARCHIVE_KEY
from clarion.storage.schema import model_versions
from clarion.storage.sql.base import SqlBase


class SqlUploadedModelStore(SqlBase):
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
