"""Storage errors: driver errors never cross the storage boundary raw."""

from __future__ import annotations


class StorageError(Exception):
    """A storage operation failed."""


class Conflict(StorageError):
    """A write broke a uniqueness or reference rule (an id taken, a parent gone)."""


class ConceptsExist(Conflict):
    """Concepts to create whose ids the app already has."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        super().__init__(f"Concepts already exist: {', '.join(ids)}")


class InvalidValue(StorageError):
    """A value the database cannot store as given (too long for its column, a NUL character)."""


class DatabaseBusy(StorageError):
    """A write waited its lock timeout for another write to finish; nothing was written, and
    trying again later may succeed."""


class SchemaTooNew(StorageError):
    """The database was migrated by a newer Clarion than this one."""
