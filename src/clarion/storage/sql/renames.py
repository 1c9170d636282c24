"""``RenameStore`` on SQLAlchemy Core: each rename and the references that follow it, in one
transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select, update

from clarion.storage.schema import apps, custom_models, workflow_versions, workflows
from clarion.storage.sql.base import SqlBase, utcnow


class SqlRenames(SqlBase):
    """Renames each return False when no row had the old id (the caller reports it absent);
    a new id already taken raises ``Conflict``."""

    def rename_app(self, user_id: str, app_id: str, new_id: str) -> bool:
        with self._write() as db:
            result = db.execute(
                update(apps)
                .where(apps.c.user_id == user_id, apps.c.id == app_id)
                .values(id=new_id, modified_at=utcnow())
            )
        return result.rowcount > 0

    def rename_model(self, app_pk: int, model_id: str, new_id: str) -> bool:
        """The model's new id; the app's workflow nodes that ran it run it under the new id."""
        with self._write() as db:
            result = db.execute(
                update(custom_models)
                .where(custom_models.c.app_pk == app_pk, custom_models.c.id == model_id)
                .values(id=new_id, modified_at=utcnow())
            )
            if result.rowcount:
                _rename_node_models(db, app_pk, model_id, new_id)
        return result.rowcount > 0

    def rename_workflow(self, app_pk: int, workflow_id: str, new_id: str) -> bool:
        """The workflow's new id; the app keeps it as its base workflow if it was."""
        with self._write() as db:
            result = db.execute(
                update(workflows)
                .where(workflows.c.app_pk == app_pk, workflows.c.id == workflow_id)
                .values(id=new_id, modified_at=utcnow())
            )
            if result.rowcount:
                db.execute(
                    update(apps)
                    .where(apps.c.pk == app_pk, apps.c.default_workflow_id == workflow_id)
                    .values(default_workflow_id=new_id)
                )
        return result.rowcount > 0


def _rename_node_models(db: Connection, app_pk: int, model_id: str, new_id: str) -> None:
    """Nodes of the app's workflows, and of their versions, that name the app's own model
    ``model_id`` (stored with empty owner ids: a node naming a public model is not renamed)."""
    app_workflows = select(workflows.c.pk).where(workflows.c.app_pk == app_pk)
    for table, condition in (
        (workflows, workflows.c.app_pk == app_pk),
        (workflow_versions, workflow_versions.c.workflow_pk.in_(app_workflows)),
    ):
        for row in db.execute(select(table.c.pk, table.c.nodes).where(condition)).all():
            nodes = [_renamed_node(node, model_id, new_id) for node in row.nodes]
            if nodes != list(row.nodes):
                db.execute(update(table).where(table.c.pk == row.pk).values(nodes=nodes))


def _renamed_node(node: Mapping[str, Any], model_id: str, new_id: str) -> Mapping[str, Any]:
    own = not node.get("model_user_id") and not node.get("model_app_id")
    if own and node.get("model_id") == model_id:
        return {**node, "model_id": new_id}
    return node
