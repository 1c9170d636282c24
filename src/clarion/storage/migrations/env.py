"""Alembic environment: runs against the engine Clarion hands over in ``config.attributes``."""

from __future__ import annotations

from alembic import context

from clarion.storage.dialect import lock_migrations
from clarion.storage.schema import metadata

engine = context.config.attributes["engine"]
applied: list[str] = context.config.attributes.setdefault("applied", [])
# SQLite: take the write lock at the first statement, so a second process that migrates at
# the same moment waits for this one (busy timeout) instead of failing on a lock upgrade.
with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        # Every migration in the one transaction, on SQLite too (Alembic would otherwise
        # commit SQLite's migrations one by one): a process that waited for the write lock
        # then finds the schema current, instead of reading it between two migrations of
        # another process and running the next one twice ("table ... already exists").
        transactional_ddl=True,
        on_version_apply=lambda step, **_: applied.append(step.up_revision_id),
    )
    with context.begin_transaction():
        # Processes started together (several API processes and workers on one PostgreSQL)
        # wait here; the next one then finds the schema current and has nothing to run.
        lock_migrations(connection)
        context.run_migrations()
    connection.commit()
