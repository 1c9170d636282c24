"""What the SQL stores share: transactions on one engine, storage errors translated at the
boundary, and reading input rows."""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, Row, select
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from clarion.storage.dialect import (
    is_lock_timeout,
    is_postgresql,
    read_options,
    serialize_writes,
    write_options,
)
from clarion.storage.errors import Conflict, DatabaseBusy, InvalidValue
from clarion.storage.inputs import InputRecord
from clarion.storage.schema import dataset_inputs, datasets, inputs

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything Clarion stores is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class _PinnedRead(threading.local):
    """The read transaction a thread has pinned on an engine (``SqlBase.reading``), if any,
    and what was read in it that cannot change before it ends (``SqlBase._once_per_read``)."""

    connection: Connection | None = None
    remembered: dict[Hashable, Any] | None = None


# One per engine, shared by every store built on it: the stores of one query are several
# objects (searches, the indexes' own, videos), and the read they share is the engine's.
_PINS: weakref.WeakKeyDictionary[Engine, _PinnedRead] = weakref.WeakKeyDictionary()
_PINS_LOCK = threading.Lock()


def _pins_of(engine: Engine) -> _PinnedRead:
    with _PINS_LOCK:
        return _PINS.setdefault(engine, _PinnedRead())


class SqlBase:
    """Transactions on one engine: reads on one snapshot, and writes that run one at a time
    (``clarion.storage.dialect`` says how on each database)."""

    # The job queue claims rows with FOR UPDATE SKIP LOCKED instead of waiting for the writers.
    _serialized_writes = True

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._read_options = read_options(engine)
        self._write_options = write_options(engine)
        self._pinned = _pins_of(engine)

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Run every read this thread makes in the block, through any store on this engine,
        in one read transaction on one connection.

        A search reads five or six times (its query's vector, the index's catch-up, the
        hits); a connection checked out, begun and rolled back for each cost more than the
        statements. Writes in the block use connections of their own, so a read after a
        write in the block does not see it. Nested blocks share the outer one.
        """
        if self._pinned.connection is not None:
            yield
            return
        with self._fresh_read() as connection:
            connection.begin()
            self._pinned.connection = connection
            self._pinned.remembered = {}
            try:
                yield
            finally:
                self._pinned.connection = None
                self._pinned.remembered = None

    def _once_per_read(self, key: Hashable, read: Callable[[], T]) -> T:
        """``read()``, asked once per ``reading`` block: its transaction reads one snapshot,
        so a second answer would be the first's (a search asked the frames' token twice).
        Outside a block, every call reads."""
        remembered = self._pinned.remembered
        if remembered is None:
            return read()
        if key not in remembered:
            remembered[key] = read()
        return cast(T, remembered[key])

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        pinned = self._pinned.connection
        if pinned is not None:
            with storage_errors():
                yield pinned
            return
        with self._fresh_read() as connection:
            yield connection

    @contextmanager
    def _fresh_read(self) -> Iterator[Connection]:
        """A read transaction of its own, even inside ``reading`` (a long read, such as an
        index build, must not hold the query's transaction open)."""
        with (
            storage_errors(),
            self._engine.connect().execution_options(**self._read_options) as connection,
        ):
            yield connection

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with (
            storage_errors(),
            self._engine.connect().execution_options(**self._write_options) as connection,
            connection.begin(),
        ):
            if self._serialized_writes:
                serialize_writes(connection)
            yield connection


def driver_rows(db: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (``?`` placeholders), run on the driver's own cursor.

    For the few small statements every search makes: through SQLAlchemy each cost 0.1 to
    0.3 ms of Python, on the driver about 10 us. Only for plain columns (integers, text,
    bytes): the values come back as the driver decodes them, with no SQLAlchemy types.
    """
    if not db.in_transaction():
        db.begin()  # SQLite's BEGIN comes from SQLAlchemy's begin event (``engine.py``)
    if is_postgresql(db):
        sql = sql.replace("?", "%s")
    cursor = db.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, tuple(params))
        return list(cursor.fetchall())
    finally:
        cursor.close()


@contextmanager
def storage_errors() -> Iterator[None]:
    """Translate the driver's errors into ``clarion.storage.errors`` at the storage boundary,
    so that no caller sees SQLAlchemy's (``raise X from exc``, as httpx maps httpcore's)."""
    try:
        yield
    except IntegrityError as exc:
        raise Conflict(str(exc.orig)) from exc
    except DataError as exc:
        # PostgreSQL checks what SQLite lets through: a string longer than its column, a NUL
        # character in text (in a write, or in a read's parameters).
        raise InvalidValue(str(exc.orig)) from exc
    except (OperationalError, sqlite3.OperationalError) as exc:
        # SQLite's BEGIN IMMEDIATE runs on the driver's connection, so its error arrives
        # unwrapped.
        driver_error = exc.orig if isinstance(exc, OperationalError) else exc
        if driver_error is not None and is_lock_timeout(driver_error):
            raise DatabaseBusy(str(exc)) from exc
        raise


def input_from_row(row: Row[Any]) -> InputRecord:
    geo = None
    if row.geo_longitude is not None and row.geo_latitude is not None:
        geo = (float(row.geo_longitude), float(row.geo_latitude))
    return InputRecord(
        id=row.id,
        kind=row.kind,
        url=row.url,
        text=row.text,
        blob=row.blob,
        metadata=row.metadata or {},
        geo=geo,
        width=row.width,
        height=row.height,
        format=row.format,
        status_code=row.status_code,
        status_description=row.status_description,
        add_job_id=row.add_job_id,
        created_at=aware(row.created_at),
        modified_at=aware(row.modified_at),
        pk=row.pk,
    )


def with_dataset_ids(db: Connection, records: list[InputRecord]) -> list[InputRecord]:
    """Fill ``dataset_ids`` for a page of inputs with one query."""
    pks = [record.pk for record in records]
    rows = db.execute(
        select(dataset_inputs.c.input_pk, datasets.c.id)
        .join(datasets, datasets.c.pk == dataset_inputs.c.dataset_pk)
        .where(dataset_inputs.c.input_pk.in_(pks))
        .order_by(datasets.c.id)
    ).all()
    by_input: dict[int, list[str]] = {}
    for input_pk, dataset_id in rows:
        by_input.setdefault(input_pk, []).append(dataset_id)
    # Most inputs are in no dataset: only those that are get a new record.
    return [
        replace(r, dataset_ids=tuple(by_input[r.pk])) if r.pk in by_input else r for r in records
    ]


def annotation_concepts_of(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The concepts an annotation's data names (its JSON form), its regions' included."""
    found = list(data.get("concepts", []))
    for region in data.get("regions", []):
        found += region.get("data", {}).get("concepts", [])
    return found


def input_pks_of(db: Connection, app_pk: int, ids: set[str]) -> dict[str, int]:
    rows = db.execute(
        select(inputs.c.id, inputs.c.pk).where(inputs.c.app_pk == app_pk, inputs.c.id.in_(ids))
    ).all()
    found = {row.id: int(row.pk) for row in rows}
    missing = ids - set(found)
    if missing:
        raise Conflict(f"input '{sorted(missing)[0]}' does not exist")
    return found
