"""``SearchStore`` on SQLAlchemy Core: vectors, predictions, filter tables, saved searches.

Filters are answered in SQL and come back as sets of input primary keys; vector similarity
is left to the in-memory indexes (``clarion.search``), which replay ``index_log`` to stay
current with every process's writes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from clarion.storage.dialect import is_postgresql, keys_in
from clarion.storage.ingestion import IngestedFacts, IngestedInput, RejectedInput
from clarion.storage.inputs import INPUT_FAILED, INPUT_SUCCESS, InputRecord
from clarion.storage.jobs import JobRecord
from clarion.storage.schema import (
    annotation_concepts,
    dataset_inputs,
    datasets,
    index_log,
    input_metadata,
    input_predictions,
    input_vectors,
    inputs,
    saved_searches,
)
from clarion.storage.searches import (
    EARTH_RADIUS_KM,
    VECTOR_CHUNK_ROWS,
    ConceptMatch,
    GeoCircle,
    InputFilter,
    InputWithData,
    SavedSearch,
)
from clarion.storage.sql.base import (
    annotation_concepts_of,
    aware,
    driver_rows,
    input_from_row,
    utcnow,
    with_dataset_ids,
)
from clarion.storage.sql.ingestion import update_input_status
from clarion.storage.sql.jobs import finish_held
from clarion.storage.sql.metadata_sets import MetadataSets
from clarion.storage.sql.reindexing import SqlReindexing

ADD = "add"
REMOVE = "remove"

# A search's statements, written once. Plain SQL on the driver (``driver_rows``), ``?`` for
# parameters; both databases read them the same.
_CHANGES_SINCE = (
    "SELECT seq, input_pk, op FROM index_log WHERE app_pk = ? AND space = ? AND seq > ? "
    "ORDER BY seq"
)
_VECTOR_OF = (
    "SELECT v.vector FROM input_vectors v JOIN inputs i ON i.pk = v.input_pk "
    "WHERE i.app_pk = ? AND i.id = ? AND v.space = ?"
)
# The columns of an input record, in ``_input_of``'s order.
_INPUT_COLUMNS = (
    "i.pk, i.id, i.kind, i.url, i.text, i.blob, i.metadata, i.geo_longitude, i.geo_latitude, "
    "i.width, i.height, i.format, i.status_code, i.status_description, i.add_job_id, "
    "i.created_at, i.modified_at"
)


def _inputs_with_data_sql(postgresql: bool, count: int) -> str:
    """The hits of a search in one statement: the inputs, their datasets' ids (ids are
    letters, digits, '_' and '-', so a comma parts them), and the data of their input-level
    annotation (the oldest, should an input have two)."""
    joined = "string_agg(d.id, ',')" if postgresql else "group_concat(d.id, ',')"
    keys = "= ANY(?)" if postgresql else f"IN ({', '.join('?' * count)})"
    return (
        f"SELECT {_INPUT_COLUMNS}, (SELECT {joined} FROM dataset_inputs di "
        "JOIN datasets d ON d.pk = di.dataset_pk WHERE di.input_pk = i.pk), a.data "
        "FROM inputs i LEFT JOIN annotations a ON a.input_pk = i.pk AND a.input_level = ? "
        f"WHERE i.pk {keys} ORDER BY i.pk, a.created_at, a.pk"
    )


def metadata_leaves(metadata: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """(path, canonical JSON value) for every leaf; list items share the path ``key[]``."""
    leaves: list[tuple[str, str]] = []
    for key, value in metadata.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        leaves += _leaves_of(path, value)
    return leaves


def _leaves_of(path: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, Mapping):
        return metadata_leaves(value, path)
    if isinstance(value, list):
        found: list[tuple[str, str]] = []
        for item in value:
            found += _leaves_of(f"{path}[]", item)
        return found
    return [(path, _canonical(value))]


def _canonical(value: Any) -> str:
    # Struct numbers are doubles: 3 and 3.0 are the same metadata value.
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return json.dumps(float(value))
    return json.dumps(value, sort_keys=True)


def flat_metadata(metadata: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    """An input's metadata as the rows subset-match filters read, worked out before a write
    transaction: flattening is most of the work of storing metadata, and the write lock is
    everyone's."""
    return frozenset(metadata_leaves(metadata))


def write_metadata_rows(db: Connection, input_pk: int, leaves: frozenset[tuple[str, str]]) -> None:
    """Replace an input's flattened metadata (``flat_metadata``'s rows)."""
    db.execute(delete(input_metadata).where(input_metadata.c.input_pk == input_pk))
    rows = [{"input_pk": input_pk, "path": path, "value": value} for path, value in leaves]
    if rows:
        db.execute(insert(input_metadata), rows)


def write_annotation_concepts(
    db: Connection, annotation_pk: int, input_pk: int, data: Mapping[str, Any]
) -> None:
    """Replace the concept rows of one annotation (input-level and region concepts)."""
    db.execute(
        delete(annotation_concepts).where(annotation_concepts.c.annotation_pk == annotation_pk)
    )
    concepts = annotation_concepts_of(data)
    rows = [
        {
            "annotation_pk": annotation_pk,
            "input_pk": input_pk,
            "concept_id": str(concept.get("id") or concept.get("name") or ""),
            "name": str(concept.get("name") or concept.get("id") or ""),
            "value": float(concept.get("value", 1.0)),
        }
        for concept in concepts
    ]
    if rows:
        db.execute(insert(annotation_concepts), rows)


def log_removals(db: Connection, input_pks: Sequence[int]) -> None:
    """Before inputs are deleted: tell the indexes their vectors are gone."""
    rows = db.execute(
        select(input_vectors.c.app_pk, input_vectors.c.space, input_vectors.c.input_pk).where(
            keys_in(db, input_vectors.c.input_pk, input_pks)
        )
    ).all()
    if rows:
        db.execute(
            insert(index_log),
            [
                {"app_pk": r.app_pk, "space": r.space, "input_pk": r.input_pk, "op": REMOVE}
                for r in rows
            ],
        )


# (app_pk, input_pk, space, vector)
_VectorRow = tuple[int, int, str, npt.NDArray[np.float32]]


class _Analysed(NamedTuple):
    """What ``_write_analyses`` stores of one input."""

    app_pk: int
    input_pk: int
    vectors: Mapping[str, npt.NDArray[np.float32]]
    predictions: Sequence[tuple[str, str, float]]


def _raw(vector: npt.NDArray[np.float32]) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


class SqlSearchStore(SqlReindexing):
    """Search data of inputs, saved searches, and the reindex chains of apps."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._metadata_sets = MetadataSets()

    # written at ingestion

    def save_analysis(
        self,
        app_pk: int,
        input_pk: int,
        vectors: Mapping[str, npt.NDArray[np.float32]],
        predictions: Sequence[tuple[str, str, float]],
    ) -> None:
        """Store an input's embeddings (one per space) and predicted concepts, and log them."""
        with self._write() as db:
            self._write_analysis(db, app_pk, input_pk, vectors, predictions)

    def save_batch(
        self,
        ingested: Sequence[IngestedInput],
        rejected: Sequence[RejectedInput],
        finished: Sequence[JobRecord],
    ) -> set[int]:
        """Every input's outcome and the batch's jobs finished, in one transaction."""
        with self._write() as db:
            self._write_analyses(
                db, [_Analysed(i.app_pk, i.input_pk, i.vectors, i.predictions) for i in ingested]
            )
            for done in ingested:
                self._write_success(db, done.input_pk, done.facts)
            for failed in rejected:
                update_input_status(db, failed.input_pk, INPUT_FAILED, failed.description)
            return finish_held(db, finished)

    def _write_success(self, db: Connection, input_pk: int, facts: IngestedFacts) -> None:
        update_input_status(
            db,
            input_pk,
            INPUT_SUCCESS,
            facts.description,
            blob=facts.blob,
            size=facts.size,
            image_format=facts.image_format,
        )

    def _write_analysis(
        self,
        db: Connection,
        app_pk: int,
        input_pk: int,
        vectors: Mapping[str, npt.NDArray[np.float32]],
        predictions: Sequence[tuple[str, str, float]],
    ) -> None:
        self._write_analyses(db, [_Analysed(app_pk, input_pk, vectors, predictions)])

    def _write_analyses(self, db: Connection, analysed: Sequence[_Analysed]) -> None:
        """Inputs' vectors (each logged for the indexes) and predicted concepts, a few
        statements for them all: a batch's writes cost about what one input's did."""
        pks = [entry.input_pk for entry in analysed]
        stored = {
            (int(row.input_pk), str(row.space)): bytes(row.vector)
            for row in db.execute(
                select(
                    input_vectors.c.input_pk, input_vectors.c.space, input_vectors.c.vector
                ).where(keys_in(db, input_vectors.c.input_pk, pks))
            )
        }
        new = [
            (entry.app_pk, entry.input_pk, space, vector)
            for entry in analysed
            for space, vector in entry.vectors.items()
            # Reindexed to the same vector: the indexes have it already.
            if stored.get((entry.input_pk, space)) != _raw(vector)
        ]
        for _, input_pk, space, _ in new:
            if (input_pk, space) in stored:
                db.execute(
                    delete(input_vectors).where(
                        input_vectors.c.input_pk == input_pk, input_vectors.c.space == space
                    )
                )
        if new:
            self._insert_vectors(db, new)
            db.execute(
                insert(index_log),
                [{"app_pk": a, "space": s, "input_pk": i, "op": ADD} for a, i, s, _ in new],
            )
        db.execute(delete(input_predictions).where(keys_in(db, input_predictions.c.input_pk, pks)))
        rows = [
            {
                "input_pk": entry.input_pk,
                "concept_id": concept_id,
                "app_pk": entry.app_pk,
                "name": name,
                "value": value,
            }
            for entry in analysed
            for concept_id, name, value in entry.predictions
        ]
        if rows:
            db.execute(insert(input_predictions), rows)

    def _insert_vectors(self, db: Connection, rows: Sequence[_VectorRow]) -> None:
        """Write vector rows (``clarion.storage.sql.pgvector`` also fills its SQL column)."""
        db.execute(
            insert(input_vectors),
            [
                {"input_pk": input_pk, "space": space, "app_pk": app_pk, "vector": _raw(vector)}
                for app_pk, input_pk, space, vector in rows
            ],
        )

    # read by the indexes

    def all_vectors(
        self, app_pk: int, space: str
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], int]:
        """Every vector of an app's space, and the log position they are current as of."""
        with self._fresh_read() as db:
            seq = self._last_seq(db, app_pk, space)
            rows = db.execute(
                select(input_vectors.c.input_pk, input_vectors.c.vector).where(
                    input_vectors.c.app_pk == app_pk, input_vectors.c.space == space
                )
            ).all()
        keys, matrix = _matrix(rows)
        return keys, matrix, seq

    def vector_chunks(
        self, app_pk: int, space: str, rows: int = VECTOR_CHUNK_ROWS
    ) -> tuple[int, Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]]:
        """The log position, then every vector of an app's space in chunks of about ``rows``.

        Each chunk is read in a transaction of its own, after the position, so an index built
        from the chunks and then brought up to date from the log from that position is
        current (replaying an entry the chunks already reflect is harmless). A large app's
        index is thus built without its whole float32 matrix in memory, and without a read
        transaction held open for as long as the build takes.
        """
        with self._fresh_read() as db:
            seq = self._last_seq(db, app_pk, space)
            low, high = db.execute(
                select(
                    func.min(input_vectors.c.input_pk), func.max(input_vectors.c.input_pk)
                ).where(input_vectors.c.app_pk == app_pk, input_vectors.c.space == space)
            ).one()
        if low is None:
            return seq, iter(())
        return seq, self._chunks(app_pk, space, int(low), int(high), rows)

    def _chunks(
        self, app_pk: int, space: str, low: int, high: int, rows: int
    ) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        # Windows of keys on the primary key (input_pk, space): a range scan in key order, on
        # any database. Rows of other apps in a window are skipped here.
        for start in range(low, high + 1, rows):
            with self._fresh_read() as db:
                found = db.execute(
                    select(
                        input_vectors.c.input_pk, input_vectors.c.app_pk, input_vectors.c.vector
                    ).where(
                        input_vectors.c.input_pk >= start,
                        input_vectors.c.input_pk < start + rows,
                        input_vectors.c.space == space,
                    )
                ).all()
            mine = [row for row in found if row.app_pk == app_pk]
            if mine:
                yield _matrix(mine)

    def changes_since(
        self, app_pk: int, space: str, seq: int
    ) -> tuple[list[int], npt.NDArray[np.int64], npt.NDArray[np.float32], int]:
        """Keys removed, keys and vectors added, since log position ``seq``; the new position."""
        with self._read() as db:
            # Every search asks, and nearly always nothing changed: straight to the driver.
            rows = driver_rows(db, _CHANGES_SINCE, (app_pk, space, seq))
            if not rows:
                return [], np.empty(0, np.int64), np.empty((0, 0), np.float32), seq
            final = {input_pk: op for _, input_pk, op in rows}  # the last op per key wins
            added = [pk for pk, op in final.items() if op == ADD]
            vector_rows = db.execute(
                select(input_vectors.c.input_pk, input_vectors.c.vector).where(
                    keys_in(db, input_vectors.c.input_pk, added), input_vectors.c.space == space
                )
            ).all()
        present = {row.input_pk for row in vector_rows}
        removed = [pk for pk, op in final.items() if op == REMOVE or pk not in present]
        keys, matrix = _matrix(vector_rows)
        return removed, keys, matrix, int(rows[-1][0])

    def vector_of(self, app_pk: int, space: str, input_id: str) -> npt.NDArray[np.float32] | None:
        with self._read() as db:
            rows = driver_rows(db, _VECTOR_OF, (app_pk, input_id, space))
        return np.frombuffer(rows[0][0], dtype=np.float32) if rows else None

    @staticmethod
    def _last_seq(db: Connection, app_pk: int, space: str) -> int:
        value = db.execute(
            select(func.max(index_log.c.seq)).where(
                index_log.c.app_pk == app_pk, index_log.c.space == space
            )
        ).scalar_one()
        return int(value or 0)

    # filters and concept ranks

    def filtered_keys(
        self, app_pk: int, filters: Sequence[InputFilter], among: Iterable[int] | None = None
    ) -> set[int]:
        """The inputs of an app that pass every filter (all of its inputs when none).

        With ``among``, only those inputs are checked: the query starts from their keys and
        probes the filter tables per key, so checking a few hundred candidates costs the same
        in an app of a million inputs as in one of a thousand.
        """
        keys = None if among is None else list(among)
        if not filters:
            filters = [InputFilter()]  # every input of the app (among ``among``)
        allowed: set[int] | None = None
        with self._read() as db:
            for one in filters:
                found = self._keys_for(db, app_pk, one, keys)
                allowed = found if allowed is None else allowed & found
                if keys is not None:
                    keys = sorted(allowed)  # the next filter checks only the survivors
        return allowed or set()

    def _keys_for(
        self, db: Connection, app_pk: int, one: InputFilter, among: Sequence[int] | None
    ) -> set[int]:
        if among is not None and _metadata_only(one):
            pairs = sorted(set(metadata_leaves(one.metadata)))
            if pairs:  # else metadata with no leaf ({"a": {}}), which any input has: below
                known = self._metadata_sets.passing(db, app_pk, pairs, among)
                if known is not None:
                    return known
                return _candidates_with_metadata(db, app_pk, pairs, _distinct(among))
        among = None if among is None else _distinct(among)
        columns = (inputs.c.pk, inputs.c.app_pk, inputs.c.geo_longitude, inputs.c.geo_latitude)
        # Candidates are looked up by key; the app is then checked on each row, so that no
        # database is tempted to scan the app's inputs instead.
        scope = inputs.c.app_pk == app_pk if among is None else keys_in(db, inputs.c.pk, among)
        rows = db.execute(_restrict(select(*columns).where(scope), one, per_key=among is not None))
        matched = {row.pk for row in rows if row.app_pk == app_pk and _geo_ok(one.geo_circle, row)}
        if not one.negate:
            return matched
        everything = db.execute(select(inputs.c.pk, inputs.c.app_pk).where(scope))
        return {row.pk for row in everything if row.app_pk == app_pk} - matched

    def prediction_scores(
        self, app_pk: int, concept_ids: Iterable[str], words: Iterable[str]
    ) -> dict[int, float]:
        """Per input, how strongly its predicted concepts match the ids, or names containing one
        of ``words`` as a whole word. Several matching concepts add up (capped at 1)."""
        ids, wanted = set(concept_ids), {w.lower() for w in words if w}
        candidates = [input_predictions.c.concept_id.in_(ids)] + [
            func.lower(input_predictions.c.name).contains(word) for word in wanted
        ]
        query = select(
            input_predictions.c.input_pk,
            input_predictions.c.concept_id,
            input_predictions.c.name,
            input_predictions.c.value,
        ).where(input_predictions.c.app_pk == app_pk, or_(*candidates))
        scores: dict[int, float] = {}
        with self._read() as db:
            for row in db.execute(query):
                if row.concept_id in ids or wanted & set(
                    row.name.lower().replace(",", " ").split()
                ):
                    scores[row.input_pk] = min(
                        1.0, scores.get(row.input_pk, 0.0) + float(row.value)
                    )
        return scores

    def inputs_by_pk(self, pks: Sequence[int]) -> dict[int, InputRecord]:
        with self._read() as db:
            rows = db.execute(select(inputs).where(keys_in(db, inputs.c.pk, pks))).all()
            records = with_dataset_ids(db, [input_from_row(row) for row in rows])
        return {record.pk or 0: record for record in records}

    def inputs_with_data(self, pks: Sequence[int]) -> dict[int, InputWithData]:
        """The inputs with these keys, their datasets and input-level annotation data, from
        one statement on the driver (a search's hits)."""
        with self._read() as db:
            found = _inputs_with_data(db, pks)
        missing = [pk for pk in pks if pk not in found]
        if missing and self._pinned.connection is not None:
            # Read in a search's own transaction, the hits may be newer than its snapshot: the
            # in-memory index is shared, and another search may have brought it past this
            # one's snapshot. What a fresh read cannot find either was deleted.
            with self._fresh_read() as db:
                found.update(_inputs_with_data(db, missing))
        return found

    def newest_first(self, app_pk: int, keys: set[int], limit: int, offset: int) -> list[int]:
        """A page of ``keys`` by creation time, newest first (a query with filters only)."""
        with self._read() as db:
            query = (
                select(inputs.c.pk)
                .where(inputs.c.app_pk == app_pk, keys_in(db, inputs.c.pk, keys))
                .order_by(inputs.c.created_at.desc(), inputs.c.pk.desc())
                .limit(limit)
                .offset(offset)
            )
            return list(db.execute(query).scalars())

    # saved searches

    def save_search(self, app_pk: int, search: SavedSearch) -> SavedSearch:
        now = utcnow()
        with self._write() as db:
            found = db.execute(
                select(saved_searches.c.pk, saved_searches.c.created_at).where(
                    saved_searches.c.app_pk == app_pk, saved_searches.c.id == search.id
                )
            ).first()
            values = {"name": search.name, "query": dict(search.query), "modified_at": now}
            if found:
                db.execute(
                    update(saved_searches).where(saved_searches.c.pk == found.pk).values(**values)
                )
                created = aware(found.created_at)
            else:
                db.execute(
                    insert(saved_searches).values(
                        app_pk=app_pk, id=search.id, created_at=now, **values
                    )
                )
                created = now
        return SavedSearch(search.id, search.name, search.query, created, now)

    def get_search(self, app_pk: int, search_id: str) -> SavedSearch | None:
        with self._read() as db:
            row = db.execute(
                select(saved_searches).where(
                    saved_searches.c.app_pk == app_pk, saved_searches.c.id == search_id
                )
            ).first()
        return _saved(row) if row else None

    def list_searches(self, app_pk: int, limit: int, offset: int) -> list[SavedSearch]:
        query = (
            select(saved_searches)
            .where(saved_searches.c.app_pk == app_pk)
            .order_by(saved_searches.c.created_at.desc(), saved_searches.c.pk.desc())
            .limit(limit)
            .offset(offset)
        )
        with self._read() as db:
            return [_saved(row) for row in db.execute(query).all()]

    def delete_search(self, app_pk: int, search_id: str) -> bool:
        with self._write() as db:
            result = db.execute(
                delete(saved_searches).where(
                    saved_searches.c.app_pk == app_pk, saved_searches.c.id == search_id
                )
            )
        return bool(result.rowcount)


def _distinct(keys: Iterable[int]) -> list[int]:
    """Keys as SQL gets them: plain ints, each once, in order (a statement's parameters)."""
    return sorted({int(key) for key in keys})


def _metadata_only(one: InputFilter) -> bool:
    """Whether a filter asks for metadata values and nothing else (the common filter, which
    ``_candidates_with_metadata`` checks on the driver)."""
    return bool(one.metadata) and replace(one, metadata={}) == InputFilter()


def _candidates_with_metadata(
    db: Connection, app_pk: int, leaves: Sequence[tuple[str, str]], among: Sequence[int]
) -> set[int]:
    """The candidates whose metadata has every (path, value) pair of ``leaves`` (a filter's,
    at least one): what ``_restrict(..., per_key=True)`` asks, as plain SQL on the driver,
    where ``MetadataSets`` cannot answer. Through SQLAlchemy, building and running this
    statement for a few hundred keys cost ten times what SQLite took to answer it."""
    if not among:
        return set()
    postgresql = is_postgresql(db)
    keys = "= ANY(?)" if postgresql else f"IN ({', '.join('?' * len(among))})"
    # The first pair is looked up in the covering (input_pk, path, value) index, and only the
    # inputs that have it are read, to check their app (so no database is tempted to scan
    # the app's inputs) and the other pairs: reading every candidate's row from ``inputs``
    # cost four times the whole check.
    having = (
        f"SELECT m.input_pk FROM input_metadata m WHERE m.input_pk {keys} "
        "AND m.path = ? AND m.value = ?"
    )
    others = "".join(
        " AND EXISTS (SELECT 1 FROM input_metadata o WHERE o.input_pk = i.pk AND o.path = ? "
        "AND o.value = ?)"
        for _ in leaves[1:]
    )
    sql = f"SELECT i.pk, i.app_pk FROM inputs i WHERE i.pk IN ({having}){others}"
    values = [pair for leaf in leaves for pair in leaf]
    params = [list(among), *values] if postgresql else [*among, *values]
    return {pk for pk, owner in driver_rows(db, sql, params) if owner == app_pk}


def _inputs_with_data(db: Connection, pks: Sequence[int]) -> dict[int, InputWithData]:
    if not pks:
        return {}
    keys = [int(pk) for pk in pks]
    postgresql = is_postgresql(db)
    sql = _inputs_with_data_sql(postgresql, len(keys))
    found: dict[int, InputWithData] = {}
    for row in driver_rows(db, sql, (True, keys) if postgresql else (True, *keys)):
        if row[0] not in found:  # else a second input-level annotation: the oldest counts
            found[row[0]] = InputWithData(_input_of(row), _json_value(row[-1]))
    return found


def _input_of(row: Sequence[Any]) -> InputRecord:
    """An input record from a row of ``_INPUT_COLUMNS`` and the dataset ids, as the driver
    decodes them: SQLite gives JSON and times as text, PostgreSQL as values."""
    (pk, input_id, kind, url, text, blob, metadata, longitude, latitude) = row[:9]
    (width, height, image_format, code, description, job_id, created, modified) = row[9:17]
    created_at = _time_value(created)
    return InputRecord(
        id=input_id,
        kind=kind,
        url=url,
        text=text,
        blob=blob,
        metadata=_json_value(metadata) or {},
        geo=None if longitude is None or latitude is None else (float(longitude), float(latitude)),
        width=width,
        height=height,
        format=image_format,
        status_code=code,
        status_description=description,
        add_job_id=job_id,
        dataset_ids=tuple(sorted(row[17].split(","))) if row[17] else (),
        created_at=created_at,
        # Most inputs were never modified: the same text, parsed once.
        modified_at=created_at if modified == created else _time_value(modified),
        pk=pk,
    )


def _json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _time_value(value: Any) -> datetime | None:
    """A stored time, aware. SQLite's is text with no offset, which is UTC: parsed with the
    offset appended, a fifth of the cost of parsing it naive and replacing its zone. Text that
    has an offset of its own refuses a second one, and is parsed as it is."""
    if isinstance(value, str):
        try:
            # aware() still: Python 3.11 reads "2026-12-07+00:00" as a naive midnight.
            return aware(datetime.fromisoformat(value + "+00:00"))
        except ValueError:
            value = datetime.fromisoformat(value)
    return aware(value)


def _saved(row: Any) -> SavedSearch:
    return SavedSearch(row.id, row.name, row.query, aware(row.created_at), aware(row.modified_at))


def _matrix(rows: Sequence[Any]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    if not rows:
        return np.empty(0, np.int64), np.empty((0, 0), np.float32)
    keys = np.fromiter((row.input_pk for row in rows), dtype=np.int64, count=len(rows))
    matrix = np.stack([np.frombuffer(row.vector, dtype=np.float32) for row in rows])
    return keys, matrix


def _restrict(query: Select[Any], one: InputFilter, *, per_key: bool = False) -> Select[Any]:
    """``query`` (over ``inputs``) narrowed to the inputs that pass ``one``, negation aside.

    ``per_key``: the query already names a few candidate keys, so concepts and metadata are
    checked per candidate (correlated EXISTS on the tables' input indexes) rather than by
    collecting every input that has them.
    """
    if one.input_ids:
        query = query.where(inputs.c.id.in_(one.input_ids))
    if one.kinds:
        query = query.where(inputs.c.kind.in_(one.kinds))
    if one.status_codes:
        query = query.where(inputs.c.status_code.in_(one.status_codes))
    if one.modified_after is not None:
        query = query.where(inputs.c.modified_at >= one.modified_after)
    if one.modified_before is not None:
        query = query.where(inputs.c.modified_at <= one.modified_before)
    if one.dataset_ids:
        named = select(datasets.c.pk).where(datasets.c.id.in_(one.dataset_ids))
        in_datasets = select(dataset_inputs.c.input_pk).where(
            dataset_inputs.c.dataset_pk.in_(named)
        )
        if per_key:  # probes (dataset, input) on the primary key
            in_datasets = in_datasets.where(_of_the_input(dataset_inputs.c.input_pk))
            query = query.where(in_datasets.exists())
        else:
            query = query.where(inputs.c.pk.in_(in_datasets))
    for concept in one.concepts:
        if per_key:
            query = query.where(
                _annotated(concept).where(_of_the_input(annotation_concepts.c.input_pk)).exists()
            )
        else:
            query = query.where(inputs.c.pk.in_(_annotated(concept)))
    leaves = sorted(set(metadata_leaves(one.metadata)))
    query = _with_leaves(query, leaves, per_key)
    return _restrict_geo(query, one)


def _of_the_input(input_pk: ColumnElement[int]) -> ColumnElement[bool]:
    """Correlates a subquery's ``input_pk`` with the outer query's input."""
    return input_pk == inputs.c.pk


def _annotated(concept: ConceptMatch) -> Select[Any]:
    by = (
        annotation_concepts.c.concept_id == concept.id
        if concept.id
        else func.lower(annotation_concepts.c.name) == concept.name.lower()
    )
    present = (
        annotation_concepts.c.value > 0 if concept.value > 0 else annotation_concepts.c.value <= 0
    )
    return select(annotation_concepts.c.input_pk).where(by, present)


def _with_leaves(
    query: Select[Any], leaves: Sequence[tuple[str, str]], per_key: bool
) -> Select[Any]:
    """Inputs whose metadata has every (path, value) pair: a subset match.

    Each input's flattened rows are distinct pairs, so one match per pair is a join (or, per
    candidate key, an EXISTS) on that pair; the database drives the join from the
    ``(path, value)`` index instead of grouping every row of the pairs.
    """
    for path, value in leaves:
        row = input_metadata.alias()
        pair = and_(row.c.path == path, row.c.value == value)
        if per_key:
            query = query.where(
                select(row.c.input_pk).where(_of_the_input(row.c.input_pk), pair).exists()
            )
        else:
            query = query.join(row, and_(row.c.input_pk == inputs.c.pk, pair))
    return query


def _restrict_geo(query: Select[Any], one: InputFilter) -> Select[Any]:
    box = one.geo_box
    if box is not None:
        query = query.where(
            inputs.c.geo_longitude.between(box.min_longitude, box.max_longitude),
            inputs.c.geo_latitude.between(box.min_latitude, box.max_latitude),
        )
    circle = one.geo_circle
    if circle is not None:
        # A latitude band in SQL; the exact great-circle distance is checked in Python.
        degrees = math.degrees(circle.radius_km / EARTH_RADIUS_KM)
        query = query.where(
            inputs.c.geo_latitude.between(circle.latitude - degrees, circle.latitude + degrees)
        )
    return query


def _geo_ok(circle: GeoCircle | None, row: Any) -> bool:
    if circle is None:
        return True
    if row.geo_longitude is None or row.geo_latitude is None:
        return False
    return (
        haversine_km(circle.longitude, circle.latitude, row.geo_longitude, row.geo_latitude)
        <= circle.radius_km
    )


def haversine_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
