"""Keys that grow with the inputs are 64-bit on PostgreSQL (migration 0016), and so is every
column that refers to one: PostgreSQL accepts a foreign key from INTEGER to BIGINT, but such a
column could not hold the keys past 2**31 - 1, so the catalog is checked for any left behind."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select, text

from clarion.storage.engine import create_db_engine, migrate
from clarion.storage.schema import (
    apps,
    index_log,
    inputs,
    users,
    video_frame_vectors,
    video_info,
)
from clarion.testing import database_under_test, database_url_for

pytestmark = pytest.mark.skipif(
    database_under_test() != "postgresql", reason="set CLARION_TEST_DATABASE=postgresql"
)

WIDE = {("inputs", "pk"), ("annotations", "pk"), ("jobs", "pk"), ("index_log", "seq")}

# Each foreign key column, with the column it refers to and both types.
FOREIGN_KEYS = """
SELECT src.relname AS tab, a.attname AS col, format_type(a.atttypid, a.atttypmod) AS typ,
       dst.relname AS ref_tab, b.attname AS ref_col,
       format_type(b.atttypid, b.atttypmod) AS ref_typ
FROM pg_constraint c
JOIN pg_class src ON src.oid = c.conrelid
JOIN pg_class dst ON dst.oid = c.confrelid
JOIN LATERAL unnest(c.conkey, c.confkey) AS k(src_att, dst_att) ON true
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.src_att
JOIN pg_attribute b ON b.attrelid = c.confrelid AND b.attnum = k.dst_att
WHERE c.contype = 'f'
"""


def _migrated(tmp_path: Path) -> Engine:
    engine = create_db_engine(database_url_for(tmp_path))
    migrate(engine)
    return engine


def test_keys_that_grow_with_inputs_are_bigint(tmp_path: Path) -> None:
    engine = _migrated(tmp_path)
    try:
        with engine.connect() as db:
            types = {
                (row.table_name, row.column_name): row.data_type
                for row in db.execute(
                    text(
                        "SELECT table_name, column_name, data_type FROM information_schema.columns "
                        "WHERE table_schema = current_schema()"
                    )
                )
            }
        for key in WIDE:
            assert types[key] == "bigint", key
        narrow = [
            key
            for key, kind in types.items()
            if key[1] in {"input_pk", "annotation_pk"} and kind != "bigint"
        ]
        assert not narrow, narrow
        assert types[("bulk_operations", "processed")] == "bigint"
    finally:
        engine.dispose()


def test_every_foreign_key_has_its_keys_type(tmp_path: Path) -> None:
    engine = _migrated(tmp_path)
    try:
        with engine.connect() as db:
            rows = db.execute(text(FOREIGN_KEYS)).all()
        assert any((row.ref_tab, row.ref_col) == ("inputs", "pk") for row in rows)
        mismatched = [
            (row.tab, row.col, row.typ, row.ref_tab, row.ref_col, row.ref_typ)
            for row in rows
            if row.typ != row.ref_typ
        ]
        assert not mismatched, mismatched
    finally:
        engine.dispose()


def test_an_input_key_past_32_bits_is_stored_with_its_video_rows(tmp_path: Path) -> None:
    engine = _migrated(tmp_path)
    now = datetime.now(UTC)
    try:
        with engine.begin() as db:
            db.execute(insert(users).values(id="u", created_at=now))
            app_pk = db.execute(
                insert(apps)
                .values(user_id="u", id="a", created_at=now, modified_at=now)
                .returning(apps.c.pk)
            ).scalar_one()
            db.execute(text("SELECT setval(pg_get_serial_sequence('inputs', 'pk'), 2147483650)"))
            input_pk = db.execute(
                insert(inputs)
                .values(
                    app_pk=app_pk,
                    id="v",
                    kind="video",
                    status_code=30000,
                    created_at=now,
                    modified_at=now,
                )
                .returning(inputs.c.pk)
            ).scalar_one()
            assert input_pk > 2**31
            db.execute(
                insert(video_info).values(
                    input_pk=input_pk, fps=25.0, duration_ms=1000, frame_count=1
                )
            )
            db.execute(
                insert(video_frame_vectors).values(
                    input_pk=input_pk,
                    space="s",
                    frame_index=0,
                    app_pk=app_pk,
                    time_ms=0,
                    vector=b"\0" * 8,
                )
            )
            db.execute(
                insert(index_log).values(app_pk=app_pk, space="s", input_pk=input_pk, op="add")
            )
        with engine.connect() as db:
            assert db.execute(select(video_frame_vectors.c.input_pk)).scalar_one() == input_pk
    finally:
        engine.dispose()
