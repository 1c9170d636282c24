"""Bulk operations (PostBulkOperations): one change applied to many inputs by a durable job.
The record, its states and the ``BulkOperationStore`` protocol.

The inputs an operation covers are fixed when it is created (the ids given, a dataset's
inputs, or a search's results then), so a job that resumes after a crash, or after its lease
ran out, carries on from the inputs it had processed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from clarion.storage.base import Page

BULK_OPERATION_JOB = "bulk_operation"

PENDING = "pending"
IN_PROGRESS = "in_progress"
SUCCEEDED = "success"
FAILED = "failed"
CANCELLED = "cancelled"
FINISHED = (SUCCEEDED, FAILED, CANCELLED)


@dataclass(frozen=True, slots=True)
class BulkOperationRecord:
    """``operation`` is the request's ``Operation`` as plain JSON; ``input_ids`` the inputs it
    covers, in the order they are processed."""

    id: str
    operation: Mapping[str, Any]
    input_ids: Sequence[str] = ()
    source: str = "input_ids"  # what the inputs were given as: input_ids, dataset or search
    state: str = PENDING
    processed: int = 0
    last_processed_id: str = ""
    description: str = ""
    created_by: str = ""
    created_at: datetime | None = None
    modified_at: datetime | None = field(default=None, compare=False)


class BulkOperationStore(Protocol):
    """Bulk operations of apps, by the app's ``pk``."""

    def create_operations(
        self, app_pk: int, records: Sequence[BulkOperationRecord]
    ) -> list[BulkOperationRecord]:
        """Store the operations and queue a ``BULK_OPERATION_JOB`` for each, in one transaction
        (``Conflict`` when an id is taken)."""
        ...

    def get_operation(self, app_pk: int, operation_id: str) -> BulkOperationRecord | None: ...
    def list_operations(self, app_pk: int, page: Page) -> list[BulkOperationRecord]:
        """Newest first."""
        ...

    def cancel_operations(self, app_pk: int, ids: Sequence[str]) -> None:
        """Mark the unfinished ones of ``ids`` cancelled; their jobs stop at their next step."""
        ...

    def delete_operations(self, app_pk: int, ids: Sequence[str]) -> None: ...
    def record_progress(
        self, app_pk: int, operation_id: str, processed: int, last_processed_id: str
    ) -> bool:
        """Save how far the job got (the operation is then in progress); False when the
        operation was cancelled or deleted meanwhile, and the job should stop."""
        ...

    def finish_operation(
        self, app_pk: int, operation_id: str, state: str, description: str = ""
    ) -> None:
        """Mark an unfinished operation ``state`` (one of ``FINISHED``)."""
        ...
