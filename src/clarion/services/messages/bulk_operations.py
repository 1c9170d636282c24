"""Bulk operations and where they stand."""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2
from google.protobuf import json_format

from clarion import codes
from clarion.services.messages.values import status, timestamp
from clarion.storage.accounts import AppRecord
from clarion.storage.bulk_operations import (
    CANCELLED,
    FAILED,
    IN_PROGRESS,
    PENDING,
    SUCCEEDED,
    BulkOperationRecord,
)

_STATES = {
    PENDING: (codes.BULK_OPERATION_PENDING, "Queued"),
    IN_PROGRESS: (codes.BULK_OPERATION_IN_PROGRESS, "In progress"),
    SUCCEEDED: (codes.BULK_OPERATION_SUCCESS, "Done"),
    FAILED: (codes.BULK_OPERATION_FAILED, "Failed"),
    CANCELLED: (codes.BULK_OPERATION_CANCELLED, "Cancelled"),
}
DATASET_SOURCE = "dataset:"  # a record's source: "input_ids", "search" or "dataset:<id>"


def bulk_operation_to_proto(
    record: BulkOperationRecord, app: AppRecord
) -> resources_pb2.BulkOperation:
    code, said = _STATES[record.state]
    message = resources_pb2.BulkOperation(
        id=record.id,
        app_id=app.id,
        status=status(code, record.description or said),
        progress=resources_pb2.Progress(
            processed=record.processed, last_processed_id=record.last_processed_id
        ),
        created_by=record.created_by,
        created_at=timestamp(record.created_at),
        last_modified_at=timestamp(record.modified_at),
    )
    json_format.ParseDict(dict(record.operation), message.operation)
    if record.source.startswith(DATASET_SOURCE):
        message.dataset.id = record.source.removeprefix(DATASET_SOURCE)
    elif record.source == "search":
        message.search.SetInParent()
    else:
        message.input_ids.input_ids.extend(record.input_ids)
    return message
