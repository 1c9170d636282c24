"""``AuditLog`` on SQLAlchemy Core."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, and_, insert, or_, select

from clarion.storage.audit import AuditEntry, AuditQuery
from clarion.storage.base import Page
from clarion.storage.schema import audit_log
from clarion.storage.sql.base import SqlBase, aware


class SqlAuditLog(SqlBase):
    """The append-only record of writes, one row a call."""

    def record(self, entry: AuditEntry) -> None:
        values = {
            "at": entry.at,
            "method": entry.method,
            "operation": entry.operation,
            "success": entry.success,
            "status_code": entry.status_code,
            "req_id": entry.req_id[:128],
            "source_ip": entry.source_ip[:64],
            "user_id": entry.user_id,
            "key_ref": entry.key_ref,
            "app_user_id": entry.app_user_id,
            "app_id": entry.app_id,
        }
        with self._write() as db:
            db.execute(insert(audit_log).values(values))

    def search(self, query: AuditQuery, page: Page, *, ascending: bool = False) -> list[AuditEntry]:
        """A page of the matching entries, newest first (oldest first if ``ascending``)."""
        order = audit_log.c.pk.asc() if ascending else audit_log.c.pk.desc()
        statement = (
            select(audit_log)
            .where(*_conditions(query))
            .order_by(order)
            .limit(page.per_page)
            .offset(page.offset)
        )
        with self._read() as db:
            return [_entry(row) for row in db.execute(statement).all()]


def _conditions(query: AuditQuery) -> list[Any]:
    column = audit_log.c
    # A user reads their own calls, and everyone's calls on their apps.
    conditions: list[Any] = [
        or_(column.user_id == query.visible_to, column.app_user_id == query.visible_to)
    ]
    if query.since is not None:
        conditions.append(column.at >= query.since)
    if query.until is not None:
        conditions.append(column.at <= query.until)
    if query.user_ids:
        conditions.append(column.user_id.in_(list(query.user_ids)))
    if query.operations:
        conditions.append(column.operation.in_(list(query.operations)))
    if query.app_ids:
        conditions.append(
            and_(column.app_user_id == query.visible_to, column.app_id.in_(list(query.app_ids)))
        )
    if query.success is not None:
        conditions.append(column.success == query.success)
    if query.source_ips:
        conditions.append(column.source_ip.in_(list(query.source_ips)))
    return conditions


def _entry(row: Row[Any]) -> AuditEntry:
    at = aware(row.at)
    assert at is not None
    return AuditEntry(
        at=at,
        method=row.method,
        operation=row.operation,
        success=bool(row.success),
        status_code=row.status_code,
        req_id=row.req_id,
        source_ip=row.source_ip,
        user_id=row.user_id,
        key_ref=row.key_ref,
        app_user_id=row.app_user_id,
        app_id=row.app_id,
        pk=row.pk,
    )
