"""Engines and migrations: SQLite in WAL mode by default, PostgreSQL (psycopg 3) for scale."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event

from clarion.storage.dialect import LOCK_TIMEOUT_OPTION, SQLITE, engine_url, serialize_json
from clarion.storage.errors import SchemaTooNew

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# How long a writer waits for the write lock (another write, the CLI beside the server, another
# server process) before giving up with ``DatabaseBusy``; the server's setting overrides it.
LOCK_TIMEOUT_S = 30.0
# The files SQLite keeps beside a database in WAL mode (and a rollback journal, if any).
_SIDE_FILES = ("-wal", "-shm", "-journal")


def create_db_engine(url: str, lock_timeout_seconds: float = LOCK_TIMEOUT_S) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and immediate write transactions.

    A write transaction waits at most ``lock_timeout_seconds`` for the write lock, then fails
    with ``DatabaseBusy``. ``postgresql://`` URLs connect with psycopg 3; ``StorageError``
    says how to install it.
    """
    parsed = engine_url(url)
    if parsed.get_backend_name() != SQLITE:
        # pre_ping: a pooled connection that the server or a proxy closed is replaced, not used.
        engine = create_engine(parsed, pool_pre_ping=True, json_serializer=serialize_json)
        return engine.execution_options(**{LOCK_TIMEOUT_OPTION: lock_timeout_seconds})
    if (path := _database_file(parsed.database)) is not None:
        _make_private_database(path)
    engine = create_engine(
        url,
        connect_args={"timeout": lock_timeout_seconds},
        json_serializer=serialize_json,
        # The connection returned last is checked out next: each SQLite connection has a page
        # cache of its own, and taking them in turn (first in, first out) left every one of
        # them cold, a search's index probes reading their pages again from the OS.
        pool_use_lifo=True,
    )
    _configure_sqlite(engine, lock_timeout_seconds)
    return engine


def _database_file(database: str | None) -> Path | None:
    """The SQLite database's file; None for an in-memory one or a ``file:`` URI (SQLite's)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _make_private_database(path: Path) -> None:
    """Create the SQLite file for its owner alone, and narrow its files if they are ours.

    SQLite creates a new database with the process's umask (0644 as a rule) and gives its
    -wal and -shm files the database's mode, so creating the file 0600 first covers them.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # an empty file is a new database to SQLite
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for file in (path, *(path.with_name(path.name + suffix) for suffix in _SIDE_FILES)):
        try:
            status = file.stat()
        except FileNotFoundError:
            continue
        if status.st_uid == os.getuid() and stat.S_IMODE(status.st_mode) & 0o077:
            file.chmod(0o600)


def _configure_sqlite(engine: Engine, lock_timeout_seconds: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from pysqlite so BEGIN can be IMMEDIATE for writers.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL is durable against a killed process (only power loss can cost
        # the last commits), and much faster than FULL.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={round(lock_timeout_seconds * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A writer takes the write lock up front: upgrading a read transaction to a write one
        # fails at once with "database is locked" instead of waiting for the busy timeout.
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        # Straight to the driver: through SQLAlchemy's execution path this BEGIN cost a
        # fifth of a one-row read.
        connection.connection.driver_connection.execute(f"BEGIN {mode}")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> list[str]:
    """Bring the schema to the newest migration; refuse a schema this Clarion does not know.

    Returns the revisions this call applied (none when another process got there first).
    """
    config = alembic_config(engine)
    current = schema_revision(engine)
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    if current is not None and current not in known:
        raise SchemaTooNew(
            f"The database is at schema revision {current!r}, which this version of Clarion "
            "does not know: it was migrated by a newer Clarion. Upgrade Clarion."
        )
    command.upgrade(config, "head")
    return list(config.attributes.get("applied", []))


def schema_revision(engine: Engine) -> str | None:
    """The migration the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def database_label(engine: Engine) -> str:
    """The engine's URL for messages and logs, its password hidden."""
    return engine.url.render_as_string(hide_password=True)
