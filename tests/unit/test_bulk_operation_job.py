"""The bulk-operation job on a small in-memory store: batches, progress, resuming after a
crash, stopping when cancelled, and failing for good."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from clarion.jobs.bulk import BulkOperationJob
from clarion.storage.base import Page
from clarion.storage.bulk_operations import (
    CANCELLED,
    FAILED,
    FINISHED,
    IN_PROGRESS,
    SUCCEEDED,
    BulkOperationRecord,
    BulkOperationStore,
)


class FakeStore:
    def __init__(self, record: BulkOperationRecord) -> None:
        self.record = record

    def create_operations(
        self, app_pk: int, records: Sequence[BulkOperationRecord]
    ) -> list[BulkOperationRecord]:
        raise NotImplementedError

    def get_operation(self, app_pk: int, operation_id: str) -> BulkOperationRecord | None:
        return self.record if operation_id == self.record.id else None

    def list_operations(self, app_pk: int, page: Page) -> list[BulkOperationRecord]:
        return [self.record]

    def cancel_operations(self, app_pk: int, ids: Sequence[str]) -> None:
        if self.record.state not in FINISHED:
            self.record = replace(self.record, state=CANCELLED)

    def delete_operations(self, app_pk: int, ids: Sequence[str]) -> None:
        raise NotImplementedError

    def record_progress(
        self, app_pk: int, operation_id: str, processed: int, last_processed_id: str
    ) -> bool:
        if self.record.state in FINISHED:
            return False
        self.record = replace(
            self.record, state=IN_PROGRESS, processed=processed, last_processed_id=last_processed_id
        )
        return True

    def finish_operation(
        self, app_pk: int, operation_id: str, state: str, description: str = ""
    ) -> None:
        if self.record.state not in FINISHED:
            self.record = replace(self.record, state=state, description=description)


def _typed(store: FakeStore) -> BulkOperationStore:
    return store  # mypy checks the fake against the Protocol


IDS = tuple(f"in-{n}" for n in range(7))
PAYLOAD = {"app_pk": 1, "id": "op"}


def test_the_job_applies_the_operation_in_batches_and_reports_progress() -> None:
    store = FakeStore(BulkOperationRecord("op", {"add_metadata": {}}, IDS))
    batches: list[list[str]] = []

    def apply(app: int, operation: Mapping[str, Any], ids: Sequence[str]) -> None:
        batches.append(list(ids))

    BulkOperationJob(_typed(store), apply, batch_size=3)(PAYLOAD)

    assert batches == [list(IDS[:3]), list(IDS[3:6]), list(IDS[6:])]
    assert (store.record.state, store.record.processed) == (SUCCEEDED, 7)
    assert store.record.last_processed_id == "in-6"


def test_a_job_run_again_resumes_after_the_inputs_it_had_processed() -> None:
    store = FakeStore(
        BulkOperationRecord("op", {}, IDS, state=IN_PROGRESS, processed=6, last_processed_id="in-5")
    )
    batches: list[list[str]] = []
    BulkOperationJob(_typed(store), lambda app, op, ids: batches.append(list(ids)), batch_size=3)(
        PAYLOAD
    )
    assert batches == [["in-6"]]
    assert store.record.state == SUCCEEDED


def test_a_cancelled_operation_stops_after_its_current_batch() -> None:
    store = FakeStore(BulkOperationRecord("op", {}, IDS))
    batches: list[list[str]] = []

    def apply_then_cancel(app: int, operation: Mapping[str, Any], ids: Sequence[str]) -> None:
        batches.append(list(ids))
        store.cancel_operations(1, ["op"])

    BulkOperationJob(_typed(store), apply_then_cancel, batch_size=3)(PAYLOAD)

    assert batches == [list(IDS[:3])]
    assert store.record.state == CANCELLED


def test_a_job_that_fails_for_good_marks_its_operation_failed() -> None:
    store = FakeStore(BulkOperationRecord("op", {}, IDS))
    job = BulkOperationJob(_typed(store), lambda app, op, ids: None)
    job.give_up(PAYLOAD, RuntimeError("dataset gone"))
    assert store.record.state == FAILED
    assert "dataset gone" in store.record.description
    job(PAYLOAD)  # a finished operation is not run again
    assert store.record.processed == 0
