"""The audit log: one entry for every call that writes (or tried to), and the ``AuditLog``
protocol.

The dispatcher writes an entry after each non-read method answers, success or failure: who
called (user and key), the method, the app it targeted, the status it got and the address it
came from. Entries are never changed; ``PostAuditLogSearches`` reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from clarion.storage.base import Page


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited call. ``user_id`` and ``key_ref`` are empty when the caller was not
    authenticated; ``app_user_id``/``app_id`` when the call targeted no app."""

    at: datetime
    method: str
    operation: int  # a Clarifai EventType number, 0 when none names the method
    success: bool
    status_code: int
    req_id: str
    source_ip: str = ""
    user_id: str = ""
    key_ref: str = ""
    app_user_id: str = ""
    app_id: str = ""
    pk: int | None = None


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which entries a search keeps (empty: any). ``visible_to`` is required: the user whose
    own calls, and calls on whose apps, the searcher may read."""

    visible_to: str
    since: datetime | None = None
    until: datetime | None = None
    user_ids: Sequence[str] = ()
    operations: Sequence[int] = ()
    app_ids: Sequence[str] = ()  # apps of ``visible_to``
    success: bool | None = None
    source_ips: Sequence[str] = ()


class AuditLog(Protocol):
    """The append-only record of writes."""

    def record(self, entry: AuditEntry) -> None:
        """Append one entry (its own transaction)."""
        ...

    def search(self, query: AuditQuery, page: Page, *, ascending: bool = False) -> list[AuditEntry]:
        """A page of the matching entries, newest first (oldest first if ``ascending``)."""
        ...
