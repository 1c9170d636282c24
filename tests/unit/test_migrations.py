from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, insert, select

from clarion.storage.engine import (
    alembic_config,
    create_db_engine,
    head_revision,
    migrate,
    schema_revision,
)
from clarion.storage.inputs import INPUT_SUCCESS
from clarion.storage.jobs import REINDEX_JOB
from clarion.storage.schema import apps, inputs, jobs, metadata, users
from clarion.storage.searches import ReindexStep
from clarion.testing import database_url_for


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


def test_the_general_vocabulary_change_queues_a_reindex_of_each_app(tmp_path: Path) -> None:
    """Inputs indexed with ImageNet's classes alone get the general concepts (issue 21)."""
    engine = create_db_engine(database_url_for(tmp_path))  # CLARION_TEST_DATABASE picks
    try:
        _queued_after_upgrade(engine)
    finally:
        engine.dispose()  # PostgreSQL connections closed now, not when collected


def _queued_after_upgrade(engine: Engine) -> None:
    command.upgrade(alembic_config(engine), "0007")
    now = datetime.now(UTC)
    with engine.begin() as db:
        db.execute(insert(users).values(id="u", created_at=now))
        for app_id in ("photos", "empty"):
            db.execute(insert(apps).values(user_id="u", id=app_id, created_at=now, modified_at=now))
        photos = db.execute(select(apps.c.pk).where(apps.c.id == "photos")).scalar_one()
        empty = db.execute(select(apps.c.pk).where(apps.c.id == "empty")).scalar_one()
        for input_id, app_pk, status in (
            ("a", photos, INPUT_SUCCESS),
            ("b", photos, INPUT_SUCCESS),
            ("c", photos, 30002),  # failed: nothing to reindex
            ("d", empty, 30002),
        ):
            db.execute(
                insert(inputs).values(
                    app_pk=app_pk,
                    id=input_id,
                    kind="image",
                    status_code=status,
                    created_at=now,
                    modified_at=now,
                )
            )
        last = db.execute(select(inputs.c.pk).where(inputs.c.id == "b")).scalar_one()

    assert migrate(engine)[0] == "0008"  # then any later ones

    with engine.connect() as db:
        queued = db.execute(select(jobs.c.kind, jobs.c.state, jobs.c.payload)).all()
    assert len(queued) == 1
    kind, state, payload = queued[0]
    assert (kind, state) == (REINDEX_JOB, "queued")
    step = ReindexStep.of(payload)
    assert (step.app_pk, step.after, step.last, step.total) == (photos, 0, last, 2)
    assert step.nonce
