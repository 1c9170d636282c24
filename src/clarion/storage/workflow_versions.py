"""Workflow versions: the record and the ``WorkflowVersionStore`` protocol.

A workflow gets a new version each time its nodes change, written in the same transaction as
the change (by ``ModelStore.create_workflows`` and ``update_workflow``); the newest version is
the one the workflow runs, and an older one runs when a call names it. A version's nodes never
change; its description, metadata, license and visibility may.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

from clarion.storage.base import Page

PRIVATE: Final = 10


@dataclass(frozen=True, slots=True)
class WorkflowVersionRecord:
    """One version of a workflow; ``nodes`` are node specs as JSON, as on the workflow."""

    id: str
    workflow_id: str
    nodes: tuple[Mapping[str, Any], ...] = ()
    description: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    license: str = ""
    visibility: int = PRIVATE
    created_at: datetime | None = None
    modified_at: datetime | None = None


class WorkflowVersionStore(Protocol):
    """By the app's ``pk`` and the workflow's id; newest first."""

    def list_versions(
        self, app_pk: int, workflow_id: str, page: Page
    ) -> list[WorkflowVersionRecord]: ...
    def get_version(
        self, app_pk: int, workflow_id: str, version_id: str
    ) -> WorkflowVersionRecord | None: ...
    def newest_id(self, app_pk: int, workflow_id: str) -> str | None:
        """The id of the version the workflow runs (None: it has none)."""
        ...

    def update_version(self, app_pk: int, record: WorkflowVersionRecord) -> None:
        """Store the version's description, metadata, license and visibility."""
        ...

    def delete_versions(self, app_pk: int, workflow_id: str, ids: Sequence[str]) -> None: ...
