"""A generation number that every change to ``input_metadata`` changes, kept by triggers.

A search checks its candidates against a metadata filter in memory, on sets of the inputs
that have a (path, value) pair (``clarion.storage.sql.metadata_sets``). A set read while the
generation held one value is the table's answer for as long as it holds that value, because
no transaction can change the table without changing the number: the database does it, in the
same transaction, for every writer (cascaded deletes and copies made in SQL included).

- SQLite: a row trigger per operation adds one.
- PostgreSQL: statement triggers write the transaction's id, once per transaction (a second
  update finds the number already written and changes nothing). Adding one per row would
  update one row once per metadata row, and PostgreSQL keeps every version of a row a
  transaction updates until it ends. Transition tables skip a statement that changed no row.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

_SQLITE_EVENTS = ("INSERT", "UPDATE", "DELETE")
# PostgreSQL: (trigger, event, transition table), the three that may name their rows.
_PG_TRIGGERS = (
    ("tr_input_metadata_generation_insert", "INSERT", "NEW TABLE AS changed"),
    ("tr_input_metadata_generation_update", "UPDATE", "NEW TABLE AS changed"),
    ("tr_input_metadata_generation_delete", "DELETE", "OLD TABLE AS changed"),
)
_PG_FUNCTION = "clarion_metadata_generation"
_PG_TRUNCATE_FUNCTION = "clarion_metadata_generation_truncated"


def upgrade() -> None:
    table = op.create_table(
        "metadata_generation",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("generation", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "generation": 0}])
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def _sqlite_triggers() -> None:
    for event in _SQLITE_EVENTS:
        op.execute(
            f"CREATE TRIGGER tr_input_metadata_generation_{event.lower()} "
            f"AFTER {event} ON input_metadata BEGIN "
            "UPDATE metadata_generation SET generation = generation + 1 WHERE id = 1; END"
        )


def _postgresql_triggers() -> None:
    bump = (
        "UPDATE metadata_generation SET generation = txid_current() "
        "WHERE id = 1 AND generation <> txid_current();"
    )
    op.execute(
        f"CREATE FUNCTION {_PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF EXISTS (SELECT 1 FROM changed) THEN {bump} END IF; RETURN NULL; END $$"
    )
    op.execute(
        f"CREATE FUNCTION {_PG_TRUNCATE_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {bump} RETURN NULL; END $$"
    )
    for name, event, rows in _PG_TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON input_metadata REFERENCING {rows} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {_PG_FUNCTION}()"
        )
    op.execute(
        "CREATE TRIGGER tr_input_metadata_generation_truncate AFTER TRUNCATE ON input_metadata "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {_PG_TRUNCATE_FUNCTION}()"
    )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    events = [*_SQLITE_EVENTS, "TRUNCATE"] if postgresql else _SQLITE_EVENTS
    for event in events:
        on = " ON input_metadata" if postgresql else ""
        op.execute(f"DROP TRIGGER tr_input_metadata_generation_{event.lower()}{on}")
    if postgresql:
        op.execute(f"DROP FUNCTION {_PG_FUNCTION}()")
        op.execute(f"DROP FUNCTION {_PG_TRUNCATE_FUNCTION}()")
    op.drop_table("metadata_generation")
