"""Uploads in parts: the records and the ``UploadStore`` protocol.

A client declares an upload (its name and length), sends its content in numbered parts, each
saying where in the content it starts, and then makes inputs from it. The parts are kept in
the database, beside the upload, so an upload is durable the moment a part is acknowledged
and deleting the upload (or its app) deletes its parts in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from clarion.storage.base import Page


@dataclass(frozen=True, slots=True)
class UploadRecord:
    """An upload; ``received`` counts the bytes of the parts stored so far, and
    ``complete`` says whether they cover the whole content, end to end."""

    id: str
    content_name: str
    content_length: int
    expires_at: datetime
    received: int = 0
    complete: bool = False
    created_at: datetime | None = None
    modified_at: datetime | None = None
    pk: int | None = None


@dataclass(frozen=True, slots=True)
class UploadPart:
    """One part of an upload's content: ``data`` belongs at ``range_start``."""

    part_number: int
    range_start: int
    data: bytes


class PartDoesNotFit(ValueError):
    """A part runs past the declared length, or overlaps another part."""


class UploadStore(Protocol):
    """An app's uploads, by the app's ``pk``."""

    def create_uploads(self, app_pk: int, records: Sequence[UploadRecord]) -> list[UploadRecord]:
        """Store new uploads, all or none (an id taken: ``Conflict``)."""
        ...

    def get_upload(self, app_pk: int, upload_id: str) -> UploadRecord | None: ...

    def list_uploads(self, app_pk: int, page: Page) -> list[UploadRecord]:
        """A page of the app's uploads, newest first."""
        ...

    def delete_uploads(self, app_pk: int, upload_ids: Sequence[str]) -> list[str]:
        """Delete the uploads and their parts; returns the ids that were not there (then
        nothing is deleted)."""
        ...

    def put_parts(
        self, app_pk: int, upload_id: str, parts: Sequence[UploadPart]
    ) -> UploadRecord | None:
        """Store parts (a part number sent again replaces its part), all or none; ``None``
        when there is no such upload. Raises ``PartDoesNotFit``."""
        ...

    def delete_expired(self, app_pk: int, now: datetime) -> int:
        """Delete the app's uploads that expired before they were complete, parts and all;
        how many there were."""
        ...

    def content(self, app_pk: int, upload_id: str) -> bytes | None:
        """The whole content of a complete upload; ``None`` if absent or incomplete."""
        ...
