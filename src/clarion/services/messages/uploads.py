"""Uploads in parts."""

from __future__ import annotations

from datetime import UTC, datetime

from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_pb2

from clarion.codes import UPLOAD_DONE, UPLOAD_EXPIRED, UPLOAD_IN_PROGRESS
from clarion.services.messages.values import status
from clarion.storage.uploads import UploadRecord


def upload(record: UploadRecord, now: datetime | None = None) -> resources_pb2.Upload:
    """An upload with its state: done, in progress (how many bytes so far), or expired."""
    message = resources_pb2.Upload(
        id=record.id, content_name=record.content_name, content_length=record.content_length
    )
    for field, value in (
        ("created_at", record.created_at),
        ("modified_at", record.modified_at),
        ("expires_at", record.expires_at),
    ):
        if value is not None:
            getattr(message, field).FromDatetime(value)
    message.status.CopyFrom(_status(record, now or datetime.now(UTC)))
    return message


def _status(record: UploadRecord, now: datetime) -> status_pb2.Status:
    if record.complete:
        return status(UPLOAD_DONE, "Upload done")
    if record.expires_at <= now:
        return status(UPLOAD_EXPIRED, "Upload expired before all its parts came")
    return status(
        UPLOAD_IN_PROGRESS,
        f"Upload in progress: {record.received} of {record.content_length} bytes received",
    )
