from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from clarion.storage.engine import create_db_engine, head_revision, migrate, schema_revision
from clarion.storage.schema import metadata


def test_migrations_build_exactly_the_schema(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []
    assert schema_revision(engine) == head_revision(engine)


def test_migrate_twice_is_harmless(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    migrate(engine)
    assert schema_revision(engine) == head_revision(engine)
