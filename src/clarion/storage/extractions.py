"""Extraction jobs: inputs made of the files in an archive or a public S3 bucket
(``PostInputsDataSources``). The records and the ``ExtractionStore`` protocol.

An extraction and the durable job that runs it are written in one transaction. The job moves
it from queued to running to completed (or failed, or cancelled); the inputs it makes carry
the extraction's ``add_job_id``, so ``GetInputsAddJob`` follows their ingestion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from clarion.codes import JOB_QUEUED
from clarion.storage.base import Page

EXTRACT_INPUTS_JOB = "extract_inputs"


@dataclass(frozen=True, slots=True)
class ExtractionRecord:
    """One archive or bucket to make inputs of. ``template`` holds what every input gets
    (``metadata``, ``dataset_ids``), as plain JSON."""

    id: str
    url: str
    add_job_id: str
    template: Mapping[str, Any] = field(default_factory=dict)
    status_code: int = JOB_QUEUED
    status_description: str = "Queued"
    image_count: int = 0
    text_count: int = 0
    created_at: datetime | None = None
    modified_at: datetime | None = None
    pk: int | None = None


class ExtractionStore(Protocol):
    """An app's extraction jobs, by the app's ``pk``."""

    def create_extractions(
        self, app_pk: int, records: Sequence[ExtractionRecord]
    ) -> list[ExtractionRecord]:
        """Store queued extractions and queue their jobs, all or none (an id taken: none)."""
        ...

    def get_extraction(self, app_pk: int, extraction_id: str) -> ExtractionRecord | None: ...

    def list_extractions(self, app_pk: int, page: Page) -> list[ExtractionRecord]:
        """A page of the app's extractions, newest first."""
        ...

    def extraction_by_pk(self, pk: int) -> tuple[int, ExtractionRecord] | None:
        """An extraction with its app's pk (for the job, which knows only the row's pk)."""
        ...

    def move_extraction(
        self,
        pk: int,
        from_codes: Sequence[int],
        code: int,
        description: str,
        counts: tuple[int, int] = (0, 0),
    ) -> bool:
        """Set the status (and the image and text counts) if it is one of ``from_codes``;
        False when it was not (cancelled meanwhile, say)."""
        ...

    def cancel_extractions(self, app_pk: int, ids: Sequence[str]) -> list[str]:
        """Cancel those queued or running; returns the ids not found (then nothing changes)."""
        ...

    def cancel_add_job(self, app_pk: int, add_job_id: str) -> int:
        """Cancel the add job's extractions still queued or running; how many were."""
        ...
