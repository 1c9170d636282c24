"""What a custom model and its versions carry beside what training needs: the model's labels
(toolkits, use cases, languages, consent checks) and each version's visibility, metadata and
license. The columns sit on ``custom_models`` and ``model_versions``; only this module reads
or writes them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import Connection, select, update

from clarion.storage.schema import custom_models, model_versions
from clarion.storage.sql import SqlBase, utcnow

LABEL_KINDS: Final = ("toolkits", "use_cases", "languages", "check_consents")
PRIVATE: Final = 10


@dataclass(frozen=True, slots=True)
class VersionExtras:
    """A model version's visibility (10 private, 50 public), metadata and license."""

    visibility: int = PRIVATE
    metadata: Mapping[str, Any] = field(default_factory=dict)
    license: str = ""


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
        """Replace one kind of label; all of the model's labels after, None if no model."""
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
        """Every version of the model, by version id."""
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
        """Store the version's extras (and description, unless None)."""
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
        """All of the versions at once (the caller has checked that each exists)."""
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
