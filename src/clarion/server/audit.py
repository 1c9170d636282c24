"""Writing the audit log: after every call to a method that writes, one entry saying who
called, with which key, what, on which app, from where, and how it ended.

The dispatcher is the one place that knows all of these together (the method, the
authenticated caller, the peer address the transport saw, the status it answers), so it
records here rather than each handler.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from clarifai_grpc.grpc.api import resources_pb2

from clarion.codes import SUCCESS
from clarion.protocol.descriptor import MethodSpec
from clarion.services.context import CallContext
from clarion.storage.audit import AuditEntry, AuditLog

log = logging.getLogger("clarion.audit")

_EVENT = resources_pb2.EventType
# The methods Clarifai's EventType names; every other write is recorded with 0 (not set) and
# found by its method name in the entry's description.
OPERATIONS: dict[str, int] = {
    "PostApps": _EVENT.APPLICATION_CREATE,
    "PatchApps": _EVENT.APPLICATION_UPDATE,
    "PatchApp": _EVENT.APPLICATION_UPDATE,
    "DeleteApp": _EVENT.APPLICATION_DELETE,
    "DeleteApps": _EVENT.APPLICATION_DELETE,
    "PostModels": _EVENT.MODEL_CREATE,
    "PatchModels": _EVENT.MODEL_UPDATE,
    "DeleteModel": _EVENT.MODEL_DELETE,
    "DeleteModels": _EVENT.MODEL_DELETE,
    "PostModelVersions": _EVENT.MODEL_VERSION_CREATE,
    "PatchModelVersions": _EVENT.MODEL_VERSION_UPDATE,
    "DeleteModelVersion": _EVENT.MODEL_VERSION_DELETE,
    "PostWorkflows": _EVENT.WORKFLOW_CREATE,
    "PatchWorkflows": _EVENT.WORKFLOW_UPDATE,
    "DeleteWorkflow": _EVENT.WORKFLOW_DELETE,
    "DeleteWorkflows": _EVENT.WORKFLOW_DELETE,
    "PatchUsers": _EVENT.USER_UPDATE,
}


class AuditRecorder:
    """Appends an entry for each call that writes; reads are not recorded."""

    def __init__(self, log_store: AuditLog) -> None:
        self._store = log_store

    async def after_call(
        self,
        method: MethodSpec,
        ctx: CallContext | None,
        code: int,
        req_id: str,
        peer: str,
    ) -> None:
        """Record the call if ``method`` writes. A failure to record is logged, not answered:
        the call itself has already done (or refused) its work."""
        if method.read_only:
            return
        entry = _entry(method.name, ctx, code, req_id, peer)
        try:
            await asyncio.to_thread(self._store.record, entry)
        except Exception:
            log.exception("could not record %s req_id=%s in the audit log", method.name, req_id)


def _entry(method: str, ctx: CallContext | None, code: int, req_id: str, peer: str) -> AuditEntry:
    principal = ctx.principal if ctx is not None else None
    app = ctx.app if ctx is not None else None
    return AuditEntry(
        at=datetime.now(UTC),
        method=method,
        operation=OPERATIONS.get(method, 0),
        success=code == SUCCESS,
        status_code=code,
        req_id=req_id,
        source_ip=peer,
        user_id=principal.user_id if principal is not None else "",
        key_ref=principal.key.ref if principal is not None else "",
        app_user_id=app.user_id if app is not None else "",
        app_id=app.id if app is not None else "",
    )
