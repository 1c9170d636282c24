"""``UploadStore`` on SQLAlchemy Core: uploads and their parts' bytes, in the database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from clarion.storage.base import Page
from clarion.storage.schema import upload_parts, uploads
from clarion.storage.sql.base import SqlBase, aware, utcnow
from clarion.storage.uploads import PartDoesNotFit, UploadPart, UploadRecord


class SqlUploadStore(SqlBase):
    """An app's uploads, by the app's ``pk``."""

    def create_uploads(self, app_pk: int, records: Sequence[UploadRecord]) -> list[UploadRecord]:
        now = utcnow()
        created = []
        with self._write() as db:
            for record in records:
                record = replace(record, created_at=now, modified_at=now)
                result = db.execute(insert(uploads).values(**_values(app_pk, record)))
                assert result.inserted_primary_key is not None
                created.append(replace(record, pk=int(result.inserted_primary_key[0])))
        return created

    def get_upload(self, app_pk: int, upload_id: str) -> UploadRecord | None:
        with self._read() as db:
            return _get(db, app_pk, upload_id)

    def list_uploads(self, app_pk: int, page: Page) -> list[UploadRecord]:
        query = (
            select(uploads)
            .where(uploads.c.app_pk == app_pk)
            .order_by(uploads.c.pk.desc())
            .limit(page.per_page)
            .offset(page.offset)
        )
        with self._read() as db:
            return [_record(row) for row in db.execute(query).all()]

    def delete_uploads(self, app_pk: int, upload_ids: Sequence[str]) -> list[str]:
        wanted = set(upload_ids)
        with self._write() as db:
            found = dict(
                db.execute(
                    select(uploads.c.id, uploads.c.pk).where(
                        uploads.c.app_pk == app_pk, uploads.c.id.in_(wanted)
                    )
                ).all()
            )
            missing = sorted(wanted - set(found))
            if missing:
                return missing
            pks = list(found.values())
            db.execute(delete(upload_parts).where(upload_parts.c.upload_pk.in_(pks)))
            db.execute(delete(uploads).where(uploads.c.pk.in_(pks)))
        return []

    def put_parts(
        self, app_pk: int, upload_id: str, parts: Sequence[UploadPart]
    ) -> UploadRecord | None:
        with self._write() as db:
            record = _get(db, app_pk, upload_id)
            if record is None:
                return None
            assert record.pk is not None
            for part in parts:
                _put_part(db, record, part)
            received, complete = _coverage(db, record)
            db.execute(
                update(uploads)
                .where(uploads.c.pk == record.pk)
                .values(received=received, complete=complete, modified_at=utcnow())
            )
            return _get(db, app_pk, upload_id)

    def delete_expired(self, app_pk: int, now: datetime) -> int:
        expired = select(uploads.c.pk).where(
            uploads.c.app_pk == app_pk, uploads.c.expires_at <= now, uploads.c.complete.is_(False)
        )
        with self._write() as db:
            pks = list(db.execute(expired).scalars())
            if pks:
                db.execute(delete(upload_parts).where(upload_parts.c.upload_pk.in_(pks)))
                db.execute(delete(uploads).where(uploads.c.pk.in_(pks)))
        return len(pks)

    def content(self, app_pk: int, upload_id: str) -> bytes | None:
        with self._read() as db:
            record = _get(db, app_pk, upload_id)
            if record is None or not record.complete:
                return None
            rows = db.execute(
                select(upload_parts.c.data)
                .where(upload_parts.c.upload_pk == record.pk)
                .order_by(upload_parts.c.range_start)
            ).all()
        return b"".join(bytes(row.data) for row in rows)


def _put_part(db: Connection, record: UploadRecord, part: UploadPart) -> None:
    end = part.range_start + len(part.data)
    if end > record.content_length:
        raise PartDoesNotFit(
            f"part {part.part_number} ends at byte {end}, past the upload's content_length "
            f"{record.content_length}"
        )
    others = db.execute(
        select(upload_parts.c.part_number, upload_parts.c.range_start, upload_parts.c.size).where(
            upload_parts.c.upload_pk == record.pk,
            upload_parts.c.part_number != part.part_number,
            upload_parts.c.range_start < end,
            upload_parts.c.range_start + upload_parts.c.size > part.range_start,
        )
    ).first()
    if others is not None:
        raise PartDoesNotFit(
            f"part {part.part_number} (bytes {part.range_start}-{end - 1}) overlaps part "
            f"{others.part_number} (bytes {others.range_start}-"
            f"{others.range_start + others.size - 1})"
        )
    db.execute(
        delete(upload_parts).where(
            upload_parts.c.upload_pk == record.pk,
            upload_parts.c.part_number == part.part_number,
        )
    )
    db.execute(
        insert(upload_parts).values(
            upload_pk=record.pk,
            part_number=part.part_number,
            range_start=part.range_start,
            size=len(part.data),
            data=part.data,
        )
    )


def _coverage(db: Connection, record: UploadRecord) -> tuple[int, bool]:
    """Bytes received, and whether they cover the content: parts never overlap, so they
    cover it exactly when their sizes add up to its length."""
    received = db.execute(
        select(func.coalesce(func.sum(upload_parts.c.size), 0)).where(
            upload_parts.c.upload_pk == record.pk
        )
    ).scalar_one()
    return int(received), int(received) == record.content_length


def _get(db: Connection, app_pk: int, upload_id: str) -> UploadRecord | None:
    row = db.execute(
        select(uploads).where(uploads.c.app_pk == app_pk, uploads.c.id == upload_id)
    ).first()
    return _record(row) if row else None


def _values(app_pk: int, record: UploadRecord) -> dict[str, Any]:
    return {
        "app_pk": app_pk,
        "id": record.id,
        "content_name": record.content_name,
        "content_length": record.content_length,
        "received": 0,
        "complete": record.content_length == 0,
        "expires_at": record.expires_at,
        "created_at": record.created_at,
        "modified_at": record.modified_at,
    }


def _record(row: Row[Any]) -> UploadRecord:
    expires_at = aware(row.expires_at)
    assert expires_at is not None
    return UploadRecord(
        id=row.id,
        content_name=row.content_name,
        content_length=row.content_length,
        expires_at=expires_at,
        received=row.received,
        complete=bool(row.complete),
        created_at=aware(row.created_at),
        modified_at=aware(row.modified_at),
        pk=row.pk,
    )
