"""New ids for apps, custom models and workflows: the ``RenameStore`` protocol.

Everything inside an app references the app by its storage key, so an app's new id needs one
row changed. A model and a workflow are referenced by id: a workflow's nodes (and its
versions' nodes) name the app's models, and the app's base workflow (``default_workflow_id``)
names a workflow. Each rename changes those references in the same transaction, so no reader
sees a node naming a model that is gone by that name.
"""

from __future__ import annotations

from typing import Protocol


class RenameStore(Protocol):
    """Renames each return False when no row had the old id (the caller reports it absent);
    a new id already taken raises ``Conflict``."""

    def rename_app(self, user_id: str, app_id: str, new_id: str) -> bool: ...
    def rename_model(self, app_pk: int, model_id: str, new_id: str) -> bool:
        """The model's new id; the app's workflow nodes that ran it run it under the new id."""
        ...

    def rename_workflow(self, app_pk: int, workflow_id: str, new_id: str) -> bool:
        """The workflow's new id; the app keeps it as its base workflow if it was."""
        ...
