"""``ModelExtraStore`` on SQLAlchemy Core: the labels column of ``custom_models`` and the
visibility, metadata and license columns of ``model_versions``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, select, update

from clarion.storage.model_extras import LABEL_KINDS, VersionExtras
from clarion.storage.schema import custom_models, model_versions
from clarion.storage.sql.base import SqlBase, utcnow


class SqlModelExtras(SqlBase):
    """By the app's ``pk`` and the model's id; None or False where the model is absent."""

    def labels(self, app_pk: int, model_id: str) -> dict[str, list[str]] | None:
        with self._read() as db:
            found = db.execute(
                select(custom_models.c.labels).where(
                    custom_models.c.app_pk == app_pk, custom_models.c.id == model_id
                )
            ).first()
        return _labels(found.labels) if found is not None else None

    def set_labels(
        self, app_pk: int, model_id: str, kind: str, values: Sequence[str]
    ) -> dict[str, list[str]] | None:
        assert kind in LABEL_KINDS, kind
        where = (custom_models.c.app_pk == app_pk) & (custom_models.c.id == model_id)
        with self._write() as db:
            found = db.execute(select(custom_models.c.labels).where(where)).first()
            if found is None:
                return None
            labels = {**_labels(found.labels), kind: list(values)}
            db.execute(
                update(custom_models).where(where).values(labels=labels, modified_at=utcnow())
            )
        return labels

    def version_extras(self, app_pk: int, model_id: str) -> dict[str, VersionExtras]:
        query = select(
            model_versions.c.id,
            model_versions.c.visibility,
            model_versions.c.metadata,
            model_versions.c.license,
        ).where(model_versions.c.model_pk == _model_pk_query(app_pk, model_id))
        with self._read() as db:
            rows = db.execute(query).all()
        return {
            row.id: VersionExtras(row.visibility, row.metadata or {}, row.license) for row in rows
        }

    def patch_version(
        self,
        app_pk: int,
        model_id: str,
        version_id: str,
        extras: VersionExtras,
        description: str | None,
    ) -> bool:
        values: dict[str, Any] = {
            "visibility": extras.visibility,
            "metadata": dict(extras.metadata),
            "license": extras.license,
            "modified_at": utcnow(),
        }
        if description is not None:
            values["description"] = description
        with self._write() as db:
            return _update_version(db, app_pk, model_id, version_id, values)

    def set_visibility(
        self, app_pk: int, model_id: str, version_ids: Sequence[str], visibility: int
    ) -> None:
        values = {"visibility": visibility, "modified_at": utcnow()}
        with self._write() as db:
            for version_id in version_ids:
                _update_version(db, app_pk, model_id, version_id, values)


def _model_pk_query(app_pk: int, model_id: str) -> Any:
    return (
        select(custom_models.c.pk)
        .where(custom_models.c.app_pk == app_pk, custom_models.c.id == model_id)
        .scalar_subquery()
    )


def _update_version(
    db: Connection, app_pk: int, model_id: str, version_id: str, values: Mapping[str, Any]
) -> bool:
    result = db.execute(
        update(model_versions)
        .where(
            model_versions.c.model_pk == _model_pk_query(app_pk, model_id),
            model_versions.c.id == version_id,
        )
        .values(**values)
    )
    return result.rowcount > 0


def _labels(stored: Mapping[str, Any] | None) -> dict[str, list[str]]:
    stored = stored or {}
    return {kind: [str(value) for value in stored.get(kind, [])] for kind in LABEL_KINDS}
