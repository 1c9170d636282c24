"""Audit log entries."""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2

from clarion.storage.audit import AuditEntry


def audit_entry(entry: AuditEntry) -> resources_pb2.AuditLogEntry:
    """An entry as Clarifai shows it; the method, key and status code are in ``details``
    (Clarifai's entry has no field of its own for them)."""
    outcome = "succeeded" if entry.success else f"failed with status {entry.status_code}"
    message = resources_pb2.AuditLogEntry(
        operation=entry.operation,  # type: ignore[arg-type]
        description=f"{entry.method} {outcome}",
        details=[
            f"method: {entry.method}",
            f"key: {entry.key_ref}",
            f"status_code: {entry.status_code}",
        ],
        success=entry.success,
        req_id=entry.req_id,
        source_ip=entry.source_ip,
    )
    message.timestamp.FromDatetime(entry.at)
    if entry.user_id:
        message.user.id = entry.user_id
    if entry.app_id:
        message.targets.add().app.CopyFrom(
            resources_pb2.App(id=entry.app_id, user_id=entry.app_user_id)
        )
    return message
