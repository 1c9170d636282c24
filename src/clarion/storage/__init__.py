"""Storage: plain records, the ``Store`` protocol, and its SQLAlchemy implementation."""

from clarion.storage.base import (
    APP_SPECIFIC_KEY,
    PERSONAL_ACCESS_TOKEN,
    AppRecord,
    KeyRecord,
    Page,
    Store,
    UserRecord,
)
from clarion.storage.errors import Conflict, SchemaTooNew, StorageError

__all__ = [
    "APP_SPECIFIC_KEY",
    "PERSONAL_ACCESS_TOKEN",
    "AppRecord",
    "Conflict",
    "KeyRecord",
    "Page",
    "SchemaTooNew",
    "StorageError",
    "Store",
    "UserRecord",
]
