"""Copies of apps (``PostAppDuplications``): the record and the ``AppCopyStore`` protocol.

The destination app, the duplication record and its job are written in one transaction; the
job then copies the chosen resources in one transaction, so a copy is whole or absent and a
retried job never copies twice.

What is copied: concepts; inputs whose ingestion has ended (with their metadata, datasets and
dataset memberships); annotations; custom models with their finished versions (weights
included; evaluations are not copied); workflows with their versions. Inputs still being
ingested are left out and counted. The copied inputs' embeddings are computed again by a
reindex of the destination app, which keeps the vector indexes' change log right.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol

from clarion.codes import APP_DUPLICATION_PENDING
from clarion.storage.accounts import AppRecord
from clarion.storage.base import Page

APP_DUPLICATION_JOB: Final = "app_duplication"
COPY_KINDS: Final = ("inputs", "concepts", "annotations", "models", "workflows")


@dataclass(frozen=True, slots=True)
class DuplicationRecord:
    """One copy of an app; ``copy`` names what to copy (``COPY_KINDS``), ``progress`` how many
    of each were copied (and ``inputs_left_out``: inputs still being ingested)."""

    id: str
    source_app_id: str
    destination_app_id: str
    copy: tuple[str, ...]
    status_code: int = APP_DUPLICATION_PENDING
    status_description: str = ""
    progress: Mapping[str, int] = field(default_factory=dict)
    created_at: datetime | None = None
    modified_at: datetime | None = None


class AppCopyStore(Protocol):
    """Duplications by their user's id; the job's side by the duplication's ``pk``."""

    def start(
        self, user_id: str, source_app_id: str, destination: AppRecord, copy: Sequence[str]
    ) -> DuplicationRecord:
        """Create the destination app and queue its copy; ``Conflict`` if the app id is taken."""
        ...

    def get(self, user_id: str, duplication_id: str) -> DuplicationRecord | None: ...
    def list(self, user_id: str, page: Page) -> list[DuplicationRecord]:
        """The user's duplications, newest first."""
        ...

    def run_copy(self, duplication_pk: int) -> int | None:
        """Copy, once: the destination app's pk when the copy was made now or before (to
        reindex), None when the duplication is gone or could not be made (and is marked so)."""
        ...

    def fail(self, duplication_pk: int, description: str) -> None: ...
