"""The audit log: ``PostAuditLogSearches`` over the entries the dispatcher records for every
call that writes (``clarion.server.audit``).

A user reads their own calls and every call made on their apps (a collaborator's, or a call
with one of the apps' keys); nobody reads another user's log.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import UTC

from clarifai_grpc.grpc.api import resources_pb2, service_pb2

from clarion.errors import InvalidArgument
from clarion.services.base import HandlerTable, require_own_user
from clarion.services.context import CallContext
from clarion.services.messages.audit import audit_entry
from clarion.services.paging import page_of
from clarion.storage.audit import AuditLog, AuditQuery


class AuditService:
    """Searches over the audit log."""

    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit

    def handlers(self) -> HandlerTable:
        return {"PostAuditLogSearches": self.post_audit_log_searches}

    def post_audit_log_searches(
        self, request: service_pb2.PostAuditLogSearchesRequest, ctx: CallContext
    ) -> service_pb2.MultiAuditLogEntryResponse:
        user_id = require_own_user(ctx)
        query = _query(user_id, request.query)
        page = page_of(request.pagination.page, request.pagination.per_page)
        entries = self._audit.search(query, page, ascending=request.sort_ascending)
        return service_pb2.MultiAuditLogEntryResponse(
            entries=[audit_entry(entry) for entry in entries]
        )


def _query(user_id: str, query: resources_pb2.AuditLogQuery) -> AuditQuery:
    return AuditQuery(
        visible_to=user_id,
        since=query.timestamp_from.ToDatetime(tzinfo=UTC)
        if query.HasField("timestamp_from")
        else None,
        until=query.timestamp_to.ToDatetime(tzinfo=UTC) if query.HasField("timestamp_to") else None,
        user_ids=list(query.user_ids),
        operations=list(query.operations),
        app_ids=_target_apps(user_id, query.targets),
        success=query.success.value if query.HasField("success") else None,
        source_ips=[_check_ip(ip) for ip in query.source_ips],
    )


def _target_apps(user_id: str, targets: Iterable[resources_pb2.AuditLogTarget]) -> list[str]:
    """The app ids among ``targets``; Clarion's entries target apps alone, so any other kind
    of target is refused rather than silently matching everything."""
    app_ids = []
    for target in targets:
        if target.WhichOneof("target") != "app":
            raise InvalidArgument(
                "Clarion's audit log records the app each call targeted: query.targets may "
                "name apps only"
            )
        if target.app.user_id not in ("", user_id):
            raise InvalidArgument(
                f"query.targets names an app of user '{target.app.user_id}': search your own "
                "apps' entries"
            )
        app_ids.append(target.app.id)
    return app_ids


def _check_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError as exc:
        raise InvalidArgument(f"query.source_ips: '{value}' is not an IP address") from exc
