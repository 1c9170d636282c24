"""What differs between SQLite and PostgreSQL, in one place.

The storage code is written against SQLite's transaction model: reads see one snapshot, and
write transactions run one at a time (``BEGIN IMMEDIATE``), so a write may read, decide and
write without racing another writer. PostgreSQL keeps that model here:

- write transactions take one transaction-level advisory lock first, so they run one at a
  time too. Besides keeping every read-then-write correct across processes, this keeps
  ``index_log`` sequence numbers committed in the order they were drawn, which is what lets
  every process replay the log without missing an entry. The job queue's own transactions
  do not take it: they claim rows with ``FOR UPDATE SKIP LOCKED`` instead.
- reads run at REPEATABLE READ, so a read that takes several statements sees one snapshot.
- migrations run under a second advisory lock, so processes that start together migrate once.
- a set of keys goes to PostgreSQL as one array, not one parameter per key: a statement there
  carries at most 65,535 parameters, and an app may have more inputs than that.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ARRAY, BigInteger, ColumnElement, Connection, Engine, any_, literal, text
from sqlalchemy.engine import URL, make_url

from clarion.storage.errors import StorageError

SQLITE = "sqlite"
POSTGRESQL = "postgresql"

# Advisory lock keys (any 64-bit numbers that other applications on the database do not use).
WRITE_LOCK_KEY = 0x436C6172696F6E01  # "Clarion" + 1
MIGRATE_LOCK_KEY = 0x436C6172696F6E02

# The execution option carrying how long a PostgreSQL writer waits for the write lock.
LOCK_TIMEOUT_OPTION = "clarion_lock_timeout_seconds"
# PostgreSQL's code for a lock not granted within lock_timeout; SQLite's busy result code.
_PG_LOCK_NOT_AVAILABLE = "55P03"
_SQLITE_BUSY = 5

INSTALL_HINT = "PostgreSQL needs the psycopg driver: pip install 'psycopg[binary]>=3.2'"


class EncodedJson(str):
    """A JSON column's value encoded ahead of its write transaction (``encode_json``): the
    engines' serializer passes it through, so no encoding happens under the write lock."""


def encode_json(value: Any) -> EncodedJson:
    return EncodedJson(json.dumps(value))


def serialize_json(value: Any) -> str:
    """The engines' JSON serializer: ``json.dumps``, as SQLAlchemy's default, except for a
    value encoded already."""
    return value if isinstance(value, EncodedJson) else json.dumps(value)


def backend_of(url: str | URL) -> str:
    """``sqlite`` or ``postgresql`` (or another SQLAlchemy backend name) for a URL."""
    return make_url(url).get_backend_name()


def engine_url(url: str) -> URL:
    """The URL to connect with: ``postgresql://`` means psycopg 3 whatever SQLAlchemy's default.

    Raises ``StorageError`` with an install hint when psycopg is missing.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != POSTGRESQL:
        return parsed
    if parsed.drivername == POSTGRESQL:
        parsed = parsed.set(drivername=f"{POSTGRESQL}+psycopg")
    if parsed.drivername == f"{POSTGRESQL}+psycopg":
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise StorageError(INSTALL_HINT) from exc
    return parsed


def is_postgresql(bind: Connection | Engine) -> bool:
    return bind.dialect.name == POSTGRESQL


def read_options(engine: Engine) -> dict[str, Any]:
    """Execution options for a read transaction: one snapshot for all its statements."""
    if is_postgresql(engine):
        return {"isolation_level": "REPEATABLE READ"}
    return {}  # SQLite: a deferred transaction in WAL mode already reads one snapshot


def write_options(engine: Engine) -> dict[str, Any]:
    """Execution options for a write transaction (SQLite takes its write lock at BEGIN)."""
    if is_postgresql(engine):
        return {}
    return {"sqlite_begin": "IMMEDIATE"}


def serialize_writes(db: Connection) -> None:
    """Inside a write transaction: wait for the other writers (PostgreSQL; SQLite did at BEGIN),
    for at most the engine's lock timeout."""
    if is_postgresql(db):
        timeout = db.get_execution_options().get(LOCK_TIMEOUT_OPTION)
        if timeout:
            # SET LOCAL takes no bind parameters; the value is a number we formatted.
            db.execute(text(f"SET LOCAL lock_timeout = {max(1, round(float(timeout) * 1000))}"))
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK_KEY})


def is_lock_timeout(error: BaseException) -> bool:
    """Whether a driver error says a lock was not granted in time (SQLite "database is
    locked", PostgreSQL lock_timeout), as opposed to a fault."""
    if getattr(error, "sqlstate", None) == _PG_LOCK_NOT_AVAILABLE:
        return True
    if getattr(error, "sqlite_errorcode", None) == _SQLITE_BUSY:
        return True
    return type(error).__module__ == "sqlite3" and "database is locked" in str(error)


def lock_migrations(db: Connection) -> None:
    """Inside the migration transaction: one process migrates at a time (PostgreSQL)."""
    if is_postgresql(db):
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATE_LOCK_KEY})


def keys_in(
    bind: Connection | Engine, column: ColumnElement[int], keys: Iterable[int]
) -> ColumnElement[bool]:
    """``column IN keys`` for any number of integer keys."""
    values = [int(key) for key in keys]
    if is_postgresql(bind):
        return column == any_(literal(values, ARRAY(BigInteger)))
    return column.in_(values)
