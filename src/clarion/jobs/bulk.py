"""Bulk operations: a job applies one operation to its inputs a batch at a time, saving its
progress after each batch, so it resumes where it was and stops when it is cancelled."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from clarion.storage.bulk_operations import FAILED, FINISHED, SUCCEEDED, BulkOperationStore

log = logging.getLogger("clarion.bulk")

# Applies an operation (its JSON) to some inputs of an app, by pk: the rules of each operation
# are the services' (``clarion.services.bulk_operations``), which the composition root passes.
ApplyOperation = Callable[[int, Mapping[str, Any], Sequence[str]], None]

BATCH_SIZE = 100


class BulkOperationJob:
    """Handler of ``bulk_operation`` jobs, queued by PostBulkOperations."""

    def __init__(
        self, store: BulkOperationStore, apply: ApplyOperation, *, batch_size: int = BATCH_SIZE
    ) -> None:
        self._store = store
        self._apply = apply
        self._batch_size = batch_size

    def __call__(self, payload: Mapping[str, Any]) -> None:
        app_pk, operation_id = int(payload["app_pk"]), str(payload["id"])
        record = self._store.get_operation(app_pk, operation_id)
        if record is None or record.state in FINISHED:
            return  # deleted or cancelled before it started, or finished by a run before
        ids = list(record.input_ids)
        done = record.processed
        if not self._store.record_progress(app_pk, operation_id, done, record.last_processed_id):
            return
        while done < len(ids):
            batch = ids[done : done + self._batch_size]
            self._apply(app_pk, record.operation, batch)
            done += len(batch)
            if not self._store.record_progress(app_pk, operation_id, done, batch[-1]):
                log.info("bulk operation %s stopped after %d inputs: cancelled", operation_id, done)
                return
        self._store.finish_operation(app_pk, operation_id, SUCCEEDED)

    def give_up(self, payload: Mapping[str, Any], error: BaseException) -> None:
        self._store.finish_operation(
            int(payload["app_pk"]),
            str(payload["id"]),
            FAILED,
            f"The operation failed, and failed again when tried again: {error}",
        )
