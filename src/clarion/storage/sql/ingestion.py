"""The status write of an ingested input, shared by ``SqlInputStore.set_input_status`` and
``SqlSearchStore.save_batch`` (which writes it in the search data's transaction)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, update

from clarion.storage.schema import inputs
from clarion.storage.sql.base import utcnow


def update_input_status(
    db: Connection,
    input_pk: int,
    code: int,
    description: str,
    *,
    blob: str | None = None,
    size: tuple[int, int] | None = None,
    image_format: str = "",
) -> None:
    values: dict[str, Any] = {
        "status_code": code,
        "status_description": description,
        "modified_at": utcnow(),
    }
    if blob is not None:
        values["blob"] = blob
    if size is not None:
        values["width"], values["height"] = size
    if image_format:
        values["format"] = image_format
    db.execute(update(inputs).where(inputs.c.pk == input_pk).values(**values))
