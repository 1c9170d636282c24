"""Storage: plain records, the ``Store`` protocol, and its SQLAlchemy implementation on SQLite
or PostgreSQL (what differs between the two is in ``clarion.storage.dialect``)."""

from clarion.storage.base import (
    APP_SPECIFIC_KEY,
    PERSONAL_ACCESS_TOKEN,
    AppRecord,
    KeyRecord,
    Page,
    Store,
    UserRecord,
)
from clarion.storage.errors import Conflict, InvalidValue, SchemaTooNew, StorageError

__all__ = [
    "APP_SPECIFIC_KEY",
    "PERSONAL_ACCESS_TOKEN",
    "AppRecord",
    "Conflict",
    "InvalidValue",
    "KeyRecord",
    "Page",
    "SchemaTooNew",
    "StorageError",
    "Store",
    "UserRecord",
]
