"""Vectors searched inside PostgreSQL with pgvector: no process keeps a copy of them (the
SQL behind ``clarion.storage.pgvector.VectorSearch``).

On a PostgreSQL with the ``vector`` extension, ``input_vectors`` gets an ``embedding`` column
beside the float32 bytes (which training and ``vector_of`` keep reading, exact), and each
(app, embedding space) gets its own partial HNSW index on it (cosine distance), created when
the space stores its first vector. The column is ``halfvec`` (float16) by default, as the
embedded index stores its graph: half the disk, memory and build time of ``vector`` (float32)
for the same recall (bench/scale.py); ``CLARION_PGVECTOR_TYPE=vector`` keeps float32, and a
start with the other type converts the column and rebuilds the indexes.

A search is one statement: the distance ranks, the query's filters narrow (as correlated EXISTS
probes, so each candidate of the index scan is checked by key), and LIMIT pages. pgvector 0.8's
iterative index scans keep reading the graph while candidates fail the filters, so a selective
filter still returns k hits; if the scan gives up (``hnsw.max_scan_tuples``) before k pass, the
same statement runs exactly, over the inputs the filters allow, which is then cheap because
they are few.

Why partial indexes rather than partitions: each app's graph holds only its own vectors (the
search never walks another tenant's), the table stays one table for the rest of the storage
code, and an index is created or dropped without touching the others. Why the column is added
at start rather than by a migration: its type exists only where the extension does, and a
PostgreSQL without pgvector keeps today's schema and in-memory indexes.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Float,
    Select,
    and_,
    any_,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import UserDefinedType

from clarion.storage.dialect import is_postgresql, lock_migrations
from clarion.storage.pgvector import Scored, VectorQuery
from clarion.storage.schema import input_vectors, inputs
from clarion.storage.searches import EARTH_RADIUS_KM, InputFilter
from clarion.storage.sql.base import SqlBase
from clarion.storage.sql.searches import SqlSearchStore, _restrict

log = logging.getLogger("clarion.pgvector")

EXTENSION = "vector"
# pgvector's types for the ``embedding`` column: float16 or float32 values.
ColumnType = Literal["halfvec", "vector"]
COLUMN_TYPES: tuple[ColumnType, ...] = get_args(ColumnType)
_COSINE_OPS: dict[ColumnType, str] = {
    "vector": "vector_cosine_ops",
    "halfvec": "halfvec_cosine_ops",
}
# HNSW build settings (bench/pgvector_sweep.py, 1,000,000 inputs of bench/scale.py's mixture
# data): pgvector's default m=16, ef_construction 64 stops at recall@10 0.79 (ef_search 100) to
# 0.92 (800); m=32 levels off at 0.96 from ef_search 400; m=32 with ef_construction 128 gives
# 0.99 at ef_search 400, for 1.3x the build time of ef_construction 64 and the same index size
# (halfvec: two elements a page either way). Indexes built before keep their own settings.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 128
# Candidates the graph search keeps: at least this, and at least twice the hits asked for
# (latency in SQL on that data at 1M: 9.8 to 12.9 ms at 400, 12.3 to 12.6 ms at 800).
MIN_EF_SEARCH = 400
# Rows an iterative scan may visit before it gives up (pgvector's default is 20,000); a filter
# allowing fewer than k of them is answered exactly instead.
MAX_SCAN_TUPLES = 20_000
# Vectors converted per statement when rows written without the column are filled in.
_BACKFILL_ROWS = 10_000
_INDEX_PREFIX = "ix_vec_"
_SLUG = re.compile(r"[^a-z0-9]+")


class Vector(UserDefinedType[Any]):
    """pgvector's ``vector(dim)`` or ``halfvec(dim)`` type, for casts."""

    cache_ok = True

    def __init__(self, dim: int, column_type: ColumnType = "vector") -> None:
        self.dim = int(dim)
        self.column_type = column_type

    def get_col_spec(self, **_: Any) -> str:
        return f"{self.column_type}({self.dim})"


def vector_literal(vector: npt.ArrayLike) -> str:
    """A vector in pgvector's text form, ``[0.1,0.2]``: float32 values printed exactly."""
    values = np.asarray(vector, dtype=np.float32).ravel().tolist()
    return "[" + ",".join(map(repr, values)) + "]"


class PgVector:
    """A vector sent to PostgreSQL in pgvector's binary form (``CAST(:x AS vector)`` or
    ``halfvec``): a fifth of the bytes of the text form, and no printing of 1,280 floats per
    row."""

    __slots__ = ("column_type", "values")

    def __init__(self, vector: npt.ArrayLike, column_type: ColumnType = "vector") -> None:
        self.values = np.asarray(vector, dtype=np.float32).ravel()
        self.column_type = column_type


def _binary_vectors(db: Connection) -> None:
    """Let this connection send ``PgVector`` as pgvector's binary input (``vector_recv`` and
    ``halfvec_recv``: the dimension and a reserved word as 16-bit integers, then big-endian
    float32 or float16 values). The
    type's oid differs per database, so none is given: the statement's cast names it. Per
    connection, as SQLAlchemy gives its connections an adapters map of their own."""
    adapters = db.connection.driver_connection.adapters  # type: ignore[union-attr]
    adapters.register_dumper(PgVector, _vector_dumper())


@functools.cache
def _vector_dumper() -> type[Any]:
    from psycopg import pq
    from psycopg.adapt import Dumper

    class VectorDumper(Dumper):
        format = pq.Format.BINARY

        def dump(self, obj: Any) -> bytes:
            values: npt.NDArray[np.float32] = obj.values
            wire = ">f2" if obj.column_type == "halfvec" else ">f4"
            return struct.pack(">HH", len(values), 0) + values.astype(wire).tobytes()

    return VectorDumper


def index_name(app_pk: int, space: str) -> str:
    """The HNSW index of one app's space: readable, unique, within PostgreSQL's 63 bytes."""
    digest = hashlib.sha256(space.encode()).hexdigest()[:8]
    slug = _SLUG.sub("_", space.lower())[:24]
    return f"{_INDEX_PREFIX}{int(app_pk)}_{slug}_{digest}"


def available(engine: Engine) -> bool:
    """Whether ``engine``'s database can have the ``vector`` extension (installed or not)."""
    if not is_postgresql(engine):
        return False
    with engine.connect() as db:
        found = db.execute(
            text("SELECT 1 FROM pg_available_extensions WHERE name = :name"), {"name": EXTENSION}
        ).first()
    return found is not None


def prepare(engine: Engine, column_type: ColumnType = "halfvec") -> bool:
    """Make the database ready for vectors in SQL; False (and why, in the log) when it cannot.

    Creates the extension and the ``embedding`` column (of ``column_type``) where missing,
    converts a column of the other type (its indexes dropped and rebuilt), fills the column of
    rows written without it (by a Clarion that ran with the embedded index), creates the
    missing indexes and drops those of deleted apps. Under the migrations' lock: processes that
    start together do it once.
    """
    if not is_postgresql(engine):
        return False  # SQLite: the embedded index, as always
    if not available(engine):
        log.warning(
            "PostgreSQL without the pgvector extension: every API process keeps the vectors "
            "in memory (the embedded index). Install pgvector to search inside the database."
        )
        return False
    try:
        with engine.begin() as db:
            lock_migrations(db)
            db.execute(text(f"CREATE EXTENSION IF NOT EXISTS {EXTENSION}"))
            db.execute(
                text(
                    "ALTER TABLE input_vectors ADD COLUMN IF NOT EXISTS embedding "
                    f"{_checked(column_type)}"
                )
            )
            # Rows still to fill, found without reading the table (empty once all are filled):
            # every start looks for them.
            db.execute(
                text(
                    "CREATE INDEX IF NOT EXISTS ix_input_vectors_unfilled ON input_vectors "
                    "(input_pk) WHERE embedding IS NULL"
                )
            )
    except DBAPIError as error:
        log.warning(
            "pgvector is available but the extension cannot be created (%s): using the "
            "embedded index. Run CREATE EXTENSION vector as a privileged user.",
            error.orig,
        )
        return False
    with engine.begin() as db:
        lock_migrations(db)
        _convert_column(db, column_type)
        fill_embeddings(db)
        index_every_space(db)
        _drop_indexes_of_deleted_apps(db)
    log.info("vectors are searched in PostgreSQL (pgvector HNSW indexes, %s)", column_type)
    return True


def _checked(column_type: str) -> ColumnType:
    """``column_type`` if it is one of pgvector's types Clarion stores (it goes into DDL)."""
    if column_type not in COLUMN_TYPES:
        raise ValueError(f"the embedding column is halfvec or vector, not {column_type!r}")
    return column_type


def column_type_of(db: Connection) -> ColumnType:
    """The type the ``embedding`` column has in this database."""
    found = db.execute(
        text(
            "SELECT t.typname FROM pg_attribute AS a JOIN pg_type AS t ON t.oid = a.atttypid "
            "WHERE a.attrelid = 'input_vectors'::regclass AND a.attname = 'embedding' "
            "AND NOT a.attisdropped"
        )
    ).scalar_one()
    return _checked(str(found))


def _convert_column(db: Connection, column_type: ColumnType) -> None:
    """Give the column ``column_type`` if it has the other one: the indexes cast the column to
    its type, so they are dropped first and rebuilt by ``index_every_space``. Rewrites the
    table once (pgvector converts between its types)."""
    current = column_type_of(db)
    if current == column_type:
        return
    log.warning(
        "converting the embedding column from %s to %s and rebuilding its HNSW indexes "
        "(CLARION_PGVECTOR_TYPE); this rewrites the vectors once",
        current,
        column_type,
    )
    for name in _index_names(db):
        db.execute(text(f'DROP INDEX IF EXISTS "{name}"'))
    db.execute(
        text(
            f"ALTER TABLE input_vectors ALTER COLUMN embedding TYPE {column_type} "
            f"USING embedding::{column_type}"
        )
    )


def fill_embeddings(db: Connection) -> None:
    """Fill the ``embedding`` column of rows written without it (in bulk, or before pgvector).

    A batch's vectors go into a scratch table in one pipelined statement, then one UPDATE:
    an UPDATE per row would cost several times the conversion.
    """
    column_type = column_type_of(db)
    _binary_vectors(db)
    db.execute(
        text(
            "CREATE TEMP TABLE clarion_fill (input_pk bigint, space text, "
            f"embedding {column_type}) ON COMMIT DROP"
        )
    )
    while True:
        rows = db.execute(
            text(
                "SELECT input_pk, space, vector FROM input_vectors WHERE embedding IS NULL "
                "LIMIT :rows"
            ),
            {"rows": _BACKFILL_ROWS},
        ).all()
        if not rows:
            return
        db.execute(
            text(
                "INSERT INTO clarion_fill (input_pk, space, embedding) "
                f"VALUES (:input_pk, :space, CAST(:embedding AS {column_type}))"
            ),
            [
                {
                    "input_pk": row.input_pk,
                    "space": row.space,
                    "embedding": PgVector(np.frombuffer(row.vector, dtype=np.float32), column_type),
                }
                for row in rows
            ],
        )
        db.execute(
            text(
                "UPDATE input_vectors AS target SET embedding = fill.embedding "
                "FROM clarion_fill AS fill "
                "WHERE target.input_pk = fill.input_pk AND target.space = fill.space"
            )
        )
        db.execute(text("TRUNCATE clarion_fill"))


def index_every_space(db: Connection) -> None:
    """Give every (app, space) with vectors its HNSW index, where it has none."""
    column_type = column_type_of(db)
    spaces = db.execute(text("SELECT DISTINCT app_pk, space FROM input_vectors")).all()
    for app_pk, space in spaces:
        if db.execute(
            text("SELECT to_regclass(:name)"), {"name": index_name(app_pk, space)}
        ).scalar():
            continue
        dim = db.execute(
            text(
                "SELECT vector_dims(embedding) FROM input_vectors "
                "WHERE app_pk = :app_pk AND space = :space AND embedding IS NOT NULL LIMIT 1"
            ),
            {"app_pk": app_pk, "space": space},
        ).scalar()
        if dim:
            ensure_index(db, app_pk, space, int(dim), column_type)


def _index_names(db: Connection) -> list[str]:
    return list(
        db.execute(
            text(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'input_vectors' "
                "AND indexname LIKE :prefix"
            ),
            {"prefix": _INDEX_PREFIX + "%"},
        ).scalars()
    )


def _drop_indexes_of_deleted_apps(db: Connection) -> None:
    live = {int(pk) for pk in db.execute(text("SELECT pk FROM apps")).scalars()}
    for name in _index_names(db):
        app_pk = int(name[len(_INDEX_PREFIX) :].split("_", 1)[0])
        if app_pk not in live:
            db.execute(text(f'DROP INDEX IF EXISTS "{name}"'))


def ensure_index(
    db: Connection, app_pk: int, space: str, dim: int, column_type: ColumnType
) -> None:
    """Create the HNSW index of an app's space if it has none (inside a write transaction)."""
    name = index_name(app_pk, space)
    if db.execute(text("SELECT to_regclass(:name)"), {"name": name}).scalar() is not None:
        return
    # The predicate and the cast are spelled as the searches spell them (``_space_rows``), so
    # the planner can match them; the app's key is a number and the space is quoted by the
    # driver's own literal rendering.
    predicate = _space_predicate(db, app_pk, space)
    db.execute(
        text(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON input_vectors USING hnsw '
            f"((CAST(embedding AS {_checked(column_type)}({int(dim)}))) "
            f"{_COSINE_OPS[column_type]}) "
            f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) WHERE {predicate}"
        )
    )


def _space_predicate(db: Connection, app_pk: int, space: str) -> str:
    condition = and_(input_vectors.c.app_pk == int(app_pk), input_vectors.c.space == space)
    compiled = condition.compile(dialect=db.dialect, compile_kwargs={"literal_binds": True})
    return str(compiled).replace("input_vectors.", "")


class SqlVectorSearchStore(SqlSearchStore):
    """``SqlSearchStore`` that also writes each vector to the ``embedding`` column, and gives
    a space its HNSW index with its first vector."""

    def __init__(self, engine: Engine, column_type: ColumnType = "halfvec") -> None:
        super().__init__(engine)
        self._column_type = _checked(column_type)
        self._indexed: set[tuple[int, str]] = set()

    def _insert_vectors(
        self, db: Connection, rows: Sequence[tuple[int, int, str, npt.NDArray[np.float32]]]
    ) -> None:
        for app_pk, _, space, vector in rows:
            if (app_pk, space) not in self._indexed:
                ensure_index(db, app_pk, space, len(vector), self._column_type)
                self._indexed.add((app_pk, space))
        _binary_vectors(db)
        db.execute(
            text(
                "INSERT INTO input_vectors (input_pk, space, app_pk, vector, embedding) "
                "VALUES (:input_pk, :space, :app_pk, :vector, "
                f"CAST(:embedding AS {self._column_type}))"
            ),
            [
                {
                    "input_pk": input_pk,
                    "space": space,
                    "app_pk": app_pk,
                    "vector": np.asarray(vector, dtype=np.float32).tobytes(),
                    "embedding": PgVector(vector, self._column_type),
                }
                for app_pk, input_pk, space, vector in rows
            ],
        )


class SqlVectorSearch(SqlBase):
    """``VectorSearch`` (``clarion.storage.pgvector``): nearest-neighbour searches and counts
    over ``input_vectors`` in SQL, on an ``embedding`` column of ``column_type``."""

    def __init__(self, engine: Engine, column_type: ColumnType = "halfvec") -> None:
        super().__init__(engine)
        self._column_type = _checked(column_type)

    def nearest(
        self,
        query: VectorQuery,
        filters: Sequence[InputFilter] = (),
        among: Iterable[int] | None = None,
    ) -> Scored:
        """The ``k`` inputs nearest ``query.vector`` that pass ``filters`` (and are ``among``
        the keys given), best first: the index first, exactly if the index found too few."""
        if query.k <= 0:
            return []
        keys = None if among is None else sorted({int(key) for key in among})
        statement = _space_rows(query, filters, keys)
        with self._read() as db:
            _tune_scan(db, query.k)
            rows = db.execute(self._ranked(statement, query, exact=False)).all()
            if len(rows) < query.k:
                # The scan stopped before k passed, or the app has fewer: exact settles it.
                rows = db.execute(self._ranked(statement, query, exact=True)).all()
        return _scored(rows)

    def _ranked(self, statement: Select[Any], query: VectorQuery, *, exact: bool) -> Select[Any]:
        return ranked(statement, query, self._column_type, exact=exact)

    def count(self, app_pk: int, space: str, filters: Sequence[InputFilter] = ()) -> int:
        """How many inputs of an app have a vector in ``space`` and pass ``filters``."""
        probe = VectorQuery(app_pk, space, np.zeros(1, np.float32), 0)
        statement = _space_rows(probe, filters, None).with_only_columns(func.count())
        with self._read() as db:
            return int(db.execute(statement).scalar_one())

    def scores(
        self, app_pk: int, space: str, vector: npt.NDArray[np.float32], keys: Sequence[int]
    ) -> dict[int, float]:
        """Similarity of ``vector`` to each of ``keys`` that has one in ``space`` (exact)."""
        if not keys:
            return {}
        query = VectorQuery(app_pk, space, vector, len(keys))
        with self._read() as db:
            rows = db.execute(self._ranked(_space_rows(query, (), keys), query, exact=True)).all()
        return dict(_scored(rows))

    def index_sizes(self) -> Mapping[str, int]:
        """Bytes on disk of each HNSW index (for sizing: bench/scale.py)."""
        with self._read() as db:
            rows = db.execute(
                text(
                    "SELECT indexname, pg_relation_size(quote_ident(indexname)::regclass) AS size "
                    "FROM pg_indexes WHERE tablename = 'input_vectors' AND indexname LIKE :prefix"
                ),
                {"prefix": _INDEX_PREFIX + "%"},
            ).all()
        return {row.indexname: int(row.size) for row in rows}


def _distance(query: VectorQuery, column_type: ColumnType) -> ColumnElement[float]:
    """Cosine distance from the query, the column cast as the app's index casts it."""
    kind = Vector(len(query.vector), column_type)
    embedding = cast(literal_column("input_vectors.embedding"), kind)
    target = cast(bindparam("target", vector_literal(query.vector)), kind)
    return embedding.op("<=>", return_type=Float)(target)


def _space_rows(
    query: VectorQuery, filters: Sequence[InputFilter], keys: Sequence[int] | None
) -> Select[Any]:
    """The rows of an app's space that pass ``filters``: the app and space as literals, so the
    planner can prove the space's partial index applies (a bound parameter would not)."""
    statement = (
        select(input_vectors.c.input_pk)
        .join(inputs, inputs.c.pk == input_vectors.c.input_pk)
        .where(
            input_vectors.c.app_pk == literal(int(query.app_pk), literal_execute=True),
            input_vectors.c.space == literal(query.space, literal_execute=True),
        )
    )
    if keys is not None:
        statement = statement.where(
            input_vectors.c.input_pk == any_(literal(list(keys), ARRAY(BigInteger)))
        )
    for one in filters:
        statement = _with_filter(statement, one, query.app_pk)
    return statement


def _with_filter(statement: Select[Any], one: InputFilter, app_pk: int) -> Select[Any]:
    if not one.negate:
        # Correlated probes per candidate key: an iterative index scan checks each row.
        return _with_circle(_restrict(statement, one, per_key=True), one)
    passing = _with_circle(
        _restrict(select(inputs.c.pk).where(inputs.c.app_pk == app_pk), one), one
    )
    return statement.where(inputs.c.pk.not_in(passing.scalar_subquery()))


def _with_circle(statement: Select[Any], one: InputFilter) -> Select[Any]:
    """The exact great-circle test (``_restrict`` narrows to a latitude band only)."""
    circle = one.geo_circle
    if circle is None:
        return statement
    lat1, lon1 = math.radians(circle.latitude), math.radians(circle.longitude)
    lat2, lon2 = func.radians(inputs.c.geo_latitude), func.radians(inputs.c.geo_longitude)
    a = func.power(func.sin((lat2 - lat1) / 2), 2) + math.cos(lat1) * func.cos(lat2) * func.power(
        func.sin((lon2 - lon1) / 2), 2
    )
    distance = 2 * EARTH_RADIUS_KM * func.asin(func.least(1.0, func.sqrt(a)))
    return statement.where(distance <= circle.radius_km)


def ranked(
    statement: Select[Any], query: VectorQuery, column_type: ColumnType, *, exact: bool
) -> Select[Any]:
    """``statement``'s rows nearest the query first (by the index unless ``exact``), k of them."""
    distance = _distance(query, column_type)
    # ``+ 0`` is no longer the indexed expression: the planner computes every distance.
    order = (distance + 0) if exact else distance
    return statement.add_columns(distance.label("distance")).order_by(order).limit(query.k)


def _tune_scan(db: Connection, k: int) -> None:
    """This transaction's graph search: wide enough for ``k``, iterative under filters."""
    ef_search = max(MIN_EF_SEARCH, 2 * k)
    # SET LOCAL takes no bind parameters; the values are numbers formatted here.
    db.execute(text(f"SET LOCAL hnsw.ef_search = {min(ef_search, 1000)}"))
    db.execute(text("SET LOCAL hnsw.iterative_scan = strict_order"))
    db.execute(text(f"SET LOCAL hnsw.max_scan_tuples = {MAX_SCAN_TUPLES}"))


def _scored(rows: Sequence[Any]) -> Scored:
    """(key, cosine similarity clipped to [0, 1]) best first, ties by smaller key."""
    pairs = [(int(row.input_pk), min(1.0, max(0.0, 1.0 - float(row.distance)))) for row in rows]
    pairs.sort(key=lambda pair: (-pair[1], pair[0]))
    return pairs
