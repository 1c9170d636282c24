"""``AppReadStore`` on SQLAlchemy Core."""

from __future__ import annotations

from sqlalchemy import func, or_, select

from clarion.storage.accounts import AppRecord
from clarion.storage.app_reads import ResourceCounts
from clarion.storage.base import Page
from clarion.storage.schema import apps, custom_models, datasets, inputs, workflows
from clarion.storage.sql.accounts import _app
from clarion.storage.sql.base import SqlBase

PUBLIC_VISIBILITY = 50


class SqlAppReads(SqlBase):
    def resource_counts(self, app_pk: int) -> ResourceCounts:
        """The counts on one snapshot, so they agree with each other."""
        counted = [
            select(func.count()).select_from(table).where(table.c.app_pk == app_pk)
            for table in (inputs, datasets, custom_models, workflows)
        ]
        with self._read() as db:
            values = [int(db.execute(query).scalar_one()) for query in counted]
        return ResourceCounts(*values)

    def search_apps(
        self, user_id: str, text: str, page: Page, *, public_only: bool = False
    ) -> list[AppRecord]:
        """The user's apps whose id or name contains ``text`` (any case), newest first."""
        pattern = f"%{_escaped(text.lower())}%"
        query = select(apps).where(
            apps.c.user_id == user_id,
            or_(
                func.lower(apps.c.id).like(pattern, escape="\\"),
                func.lower(apps.c.name).like(pattern, escape="\\"),
            ),
        )
        if public_only:
            query = query.where(apps.c.visibility == PUBLIC_VISIBILITY)
        query = query.order_by(apps.c.created_at.desc(), apps.c.id)
        with self._read() as db:
            rows = db.execute(query.limit(page.per_page).offset(page.offset)).all()
        return [_app(row) for row in rows]


def _escaped(text: str) -> str:
    """``text`` matched literally by LIKE: its wildcards escaped."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
