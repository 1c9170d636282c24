"""``ExtractionStore`` on SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Row, insert, select, update

from clarion.codes import JOB_CANCELLED, JOB_QUEUED, JOB_RUNNING
from clarion.storage.base import Page
from clarion.storage.extractions import EXTRACT_INPUTS_JOB, ExtractionRecord
from clarion.storage.schema import inputs_extractions as table
from clarion.storage.sql.base import SqlBase, aware, utcnow
from clarion.storage.sql.jobs import enqueue

_UNFINISHED = (JOB_QUEUED, JOB_RUNNING)
_CANCELLED = "Cancelled"


class SqlExtractionStore(SqlBase):
    """An app's extraction jobs, by the app's ``pk``."""

    def create_extractions(
        self, app_pk: int, records: Sequence[ExtractionRecord]
    ) -> list[ExtractionRecord]:
        now = utcnow()
        created = []
        with self._write() as db:
            for record in records:
                record = replace(record, created_at=now, modified_at=now)
                result = db.execute(insert(table).values(**_values(app_pk, record)))
                assert result.inserted_primary_key is not None
                pk = int(result.inserted_primary_key[0])
                enqueue(db, EXTRACT_INPUTS_JOB, {"extraction_pk": pk}, app_pk)
                created.append(replace(record, pk=pk))
        return created

    def get_extraction(self, app_pk: int, extraction_id: str) -> ExtractionRecord | None:
        query = select(table).where(table.c.app_pk == app_pk, table.c.id == extraction_id)
        with self._read() as db:
            row = db.execute(query).first()
        return _record(row) if row else None

    def list_extractions(self, app_pk: int, page: Page) -> list[ExtractionRecord]:
        query = (
            select(table)
            .where(table.c.app_pk == app_pk)
            .order_by(table.c.pk.desc())
            .limit(page.per_page)
            .offset(page.offset)
        )
        with self._read() as db:
            return [_record(row) for row in db.execute(query).all()]

    def extraction_by_pk(self, pk: int) -> tuple[int, ExtractionRecord] | None:
        with self._read() as db:
            row = db.execute(select(table).where(table.c.pk == pk)).first()
        return (int(row.app_pk), _record(row)) if row else None

    def move_extraction(
        self,
        pk: int,
        from_codes: Sequence[int],
        code: int,
        description: str,
        counts: tuple[int, int] = (0, 0),
    ) -> bool:
        statement = (
            update(table)
            .where(table.c.pk == pk, table.c.status_code.in_(list(from_codes)))
            .values(
                status_code=code,
                status_description=description,
                image_count=counts[0],
                text_count=counts[1],
                modified_at=utcnow(),
            )
        )
        with self._write() as db:
            return db.execute(statement).rowcount > 0

    def cancel_extractions(self, app_pk: int, ids: Sequence[str]) -> list[str]:
        wanted = set(ids)
        with self._write() as db:
            found = set(
                db.execute(
                    select(table.c.id).where(table.c.app_pk == app_pk, table.c.id.in_(wanted))
                ).scalars()
            )
            if missing := sorted(wanted - found):
                return missing
            db.execute(
                _cancel().where(
                    table.c.app_pk == app_pk,
                    table.c.id.in_(wanted),
                    table.c.status_code.in_(_UNFINISHED),
                )
            )
        return []

    def cancel_add_job(self, app_pk: int, add_job_id: str) -> int:
        with self._write() as db:
            result = db.execute(
                _cancel().where(
                    table.c.app_pk == app_pk,
                    table.c.add_job_id == add_job_id,
                    table.c.status_code.in_(_UNFINISHED),
                )
            )
        return int(result.rowcount)


def _cancel() -> Any:
    return update(table).values(
        status_code=JOB_CANCELLED, status_description=_CANCELLED, modified_at=utcnow()
    )


def _values(app_pk: int, record: ExtractionRecord) -> dict[str, Any]:
    return {
        "app_pk": app_pk,
        "id": record.id,
        "url": record.url,
        "add_job_id": record.add_job_id,
        "template": dict(record.template),
        "status_code": record.status_code,
        "status_description": record.status_description,
        "image_count": record.image_count,
        "text_count": record.text_count,
        "created_at": record.created_at,
        "modified_at": record.modified_at,
    }


def _record(row: Row[Any]) -> ExtractionRecord:
    return ExtractionRecord(
        id=row.id,
        url=row.url,
        add_job_id=row.add_job_id,
        template=row.template,
        status_code=row.status_code,
        status_description=row.status_description,
        image_count=row.image_count,
        text_count=row.text_count,
        created_at=aware(row.created_at),
        modified_at=aware(row.modified_at),
        pk=row.pk,
    )
