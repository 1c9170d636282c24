"""Inputs of an app: the record, where ingestion stands, and the ``InputStore`` protocol."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

from clarion.codes import (
    INPUT_DOWNLOAD_FAILED,
    INPUT_DOWNLOAD_IN_PROGRESS,
    INPUT_DOWNLOAD_PENDING,
    INPUT_DOWNLOAD_SUCCESS,
)
from clarion.storage.annotations import AnnotationRecord
from clarion.storage.base import Page

INPUT_SUCCESS: Final = INPUT_DOWNLOAD_SUCCESS
INPUT_PENDING: Final = INPUT_DOWNLOAD_PENDING
INPUT_FAILED: Final = INPUT_DOWNLOAD_FAILED
INPUT_IN_PROGRESS: Final = INPUT_DOWNLOAD_IN_PROGRESS


@dataclass(frozen=True, slots=True)
class InputRecord:
    """An input of an app: what was sent, and where ingestion stands."""

    id: str
    kind: str  # "image" or "text"
    url: str = ""
    text: str = ""
    blob: str | None = None  # sha256 of the original bytes in the blob store
    metadata: Mapping[str, Any] = field(default_factory=dict)
    geo: tuple[float, float] | None = None  # (longitude, latitude)
    width: int | None = None
    height: int | None = None
    format: str = ""
    status_code: int = INPUT_PENDING
    status_description: str = ""
    add_job_id: str = ""
    dataset_ids: tuple[str, ...] = ()
    created_at: datetime | None = None
    modified_at: datetime | None = None
    pk: int | None = None


class InputStore(Protocol):
    """Inputs of apps, by the app's ``pk``. Adding inputs also writes their input-level
    annotations, the concepts they name, their dataset links and their ingestion jobs, in
    one transaction."""

    def add_inputs(
        self,
        app_pk: int,
        new_inputs: Sequence[InputRecord],
        new_annotations: Sequence[AnnotationRecord],
    ) -> list[InputRecord]:
        """Store inputs with their annotations, concepts and datasets, and queue their ingestion."""
        ...

    def existing_input_ids(self, app_pk: int, ids: Iterable[str]) -> set[str]: ...
    def existing_urls(self, app_pk: int, urls: Iterable[str]) -> set[str]: ...
    def get_input(self, app_pk: int, input_id: str) -> InputRecord | None: ...
    def get_input_by_pk(self, input_pk: int) -> tuple[int, InputRecord] | None:
        """The input and its app's pk (for workers, which know only the pk)."""
        ...

    def get_inputs_by_pks(self, input_pks: Sequence[int]) -> dict[int, tuple[int, InputRecord]]:
        """``get_input_by_pk`` for a batch, in one read: by pk, those that exist."""
        ...

    def list_inputs(
        self, app_pk: int, page: Page, *, ids: Sequence[str] = (), status_code: int = 0
    ) -> list[InputRecord]: ...
    def stream_inputs(
        self, app_pk: int, per_page: int, last_id: str, *, descending: bool
    ) -> list[InputRecord]:
        """Inputs ordered by id, after the ``last_id`` cursor."""
        ...

    def update_input(self, app_pk: int, record: InputRecord) -> InputRecord:
        """Save metadata and geo (what PatchInputs changes)."""
        ...

    def set_input_status(
        self,
        input_pk: int,
        code: int,
        description: str,
        *,
        blob: str | None = None,
        size: tuple[int, int] | None = None,
        image_format: str = "",
    ) -> None:
        """Record where ingestion of one input stands (workers call this)."""
        ...

    def delete_inputs(self, app_pk: int, ids: Sequence[str]) -> list[str]:
        """Delete inputs (their annotations and dataset links go with them); the ids deleted."""
        ...

    def count_inputs_by_status(self, app_pk: int) -> dict[int, int]: ...
    def count_add_job(self, app_pk: int, job_id: str) -> dict[int, int]:
        """Inputs of one ``inputs_add_job_id``, counted by status."""
        ...

    def list_add_jobs(self, app_pk: int, page: Page) -> list[str]: ...
    def referenced_blobs(self) -> set[str]:
        """Every blob some input still refers to (the rest can be collected)."""
        ...
