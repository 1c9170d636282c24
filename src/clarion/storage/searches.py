"""What search keeps: the filters a query is answered with, saved searches, the vectors and
predictions of inputs, and reindexing; the records and the ``SearchStore`` protocol.

Filters are answered in storage and come back as sets of input primary keys; vector
similarity is left to the in-memory indexes (``clarion.search``), which replay the store's
change log to stay current with every process's writes. A reindex is a chain of jobs (see
``clarion.storage.sql.reindexing``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from clarion.storage.inputs import InputRecord

EARTH_RADIUS_KM = 6371.0088
# Vectors read per query when an index is built from the stored ones (5 MB at 1280-d per 1,000).
VECTOR_CHUNK_ROWS = 20_000


@dataclass(frozen=True, slots=True)
class GeoCircle:
    longitude: float
    latitude: float
    radius_km: float


@dataclass(frozen=True, slots=True)
class GeoBox:
    min_longitude: float
    min_latitude: float
    max_longitude: float
    max_latitude: float


@dataclass(frozen=True, slots=True)
class ConceptMatch:
    """An annotated concept by id or name, present (value 1) or absent (value 0)."""

    id: str = ""
    name: str = ""
    value: float = 1.0


@dataclass(frozen=True, slots=True)
class InputFilter:
    """One filter of a query; its fields are AND-ed, and ``negate`` inverts the whole."""

    concepts: tuple[ConceptMatch, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    geo_circle: GeoCircle | None = None
    geo_box: GeoBox | None = None
    input_ids: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    status_codes: tuple[int, ...] = ()
    dataset_ids: tuple[str, ...] = ()
    modified_after: datetime | None = None
    modified_before: datetime | None = None
    negate: bool = False


@dataclass(frozen=True, slots=True)
class InputWithData:
    """A hit's input as a search shows it: the record, and its input-level annotation's data
    (None when it has none)."""

    record: InputRecord
    annotation_data: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class SavedSearch:
    id: str
    name: str
    query: Mapping[str, Any]
    created_at: datetime | None = None
    modified_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReindexItem:
    """An input to index again, with what indexing reads."""

    pk: int
    kind: str  # image, text
    blob: str | None
    text: str


@dataclass(frozen=True, slots=True)
class ReindexProgress:
    """Where an app's reindex stands: inputs reindexed, to go, and that failed."""

    done: int
    total: int
    errors: int

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.done)


@dataclass(frozen=True, slots=True)
class ReindexStep:
    """One job of a chain: reindex the app's inputs with keys in (``after``, ``last``]."""

    app_pk: int
    after: int
    last: int
    done: int = 0
    total: int = 0
    errors: int = 0
    nonce: str = ""  # tells this job's row apart in the queue

    @classmethod
    def of(cls, payload: Mapping[str, Any]) -> ReindexStep:
        return cls(
            app_pk=int(payload["app_pk"]),
            after=int(payload.get("after", 0)),
            last=int(payload.get("last", 0)),
            done=int(payload.get("done", 0)),
            total=int(payload.get("total", 0)),
            errors=int(payload.get("errors", 0)),
            nonce=str(payload.get("nonce", "")),
        )

    def payload(self) -> dict[str, Any]:
        return {
            "app_pk": self.app_pk,
            "after": self.after,
            "last": self.last,
            "done": self.done,
            "total": self.total,
            "errors": self.errors,
            "nonce": self.nonce,
        }


class SearchStore(Protocol):
    """Search data of inputs, saved searches, and the reindex chains of apps."""

    def reading(self) -> AbstractContextManager[None]:
        """Every read of the calling thread in the block, through any store on the same
        database, in one read transaction (one snapshot, one connection): what one search
        reads. Writes in the block are not seen by its reads."""
        ...

    def save_analysis(
        self,
        app_pk: int,
        input_pk: int,
        vectors: Mapping[str, npt.NDArray[np.float32]],
        predictions: Sequence[tuple[str, str, float]],
    ) -> None:
        """Store an input's embeddings (one per space) and predicted concepts, and log them."""
        ...

    def all_vectors(
        self, app_pk: int, space: str
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], int]:
        """Every vector of an app's space, and the log position they are current as of."""
        ...

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
        ...

    def changes_since(
        self, app_pk: int, space: str, seq: int
    ) -> tuple[list[int], npt.NDArray[np.int64], npt.NDArray[np.float32], int]:
        """Keys removed, keys and vectors added, since log position ``seq``; the new position."""
        ...

    def vector_of(
        self, app_pk: int, space: str, input_id: str
    ) -> npt.NDArray[np.float32] | None: ...
    def filtered_keys(
        self, app_pk: int, filters: Sequence[InputFilter], among: Iterable[int] | None = None
    ) -> set[int]:
        """The inputs of an app that pass every filter (all of its inputs when none).

        With ``among``, only those inputs are checked: the query starts from their keys and
        probes the filter tables per key, so checking a few hundred candidates costs the same
        in an app of a million inputs as in one of a thousand.
        """
        ...

    def prediction_scores(
        self, app_pk: int, concept_ids: Iterable[str], words: Iterable[str]
    ) -> dict[int, float]:
        """Per input, how strongly its predicted concepts match the ids, or names containing one
        of ``words`` as a whole word. Several matching concepts add up (capped at 1)."""
        ...

    def inputs_by_pk(self, pks: Sequence[int]) -> dict[int, InputRecord]: ...
    def inputs_with_data(self, pks: Sequence[int]) -> dict[int, InputWithData]:
        """The inputs with these keys, with their dataset ids and input-level annotation
        data, in one statement (a search's hits)."""
        ...

    def newest_first(self, app_pk: int, keys: set[int], limit: int, offset: int) -> list[int]:
        """A page of ``keys`` by creation time, newest first (a query with filters only)."""
        ...

    def save_search(self, app_pk: int, search: SavedSearch) -> SavedSearch: ...
    def get_search(self, app_pk: int, search_id: str) -> SavedSearch | None: ...
    def list_searches(self, app_pk: int, limit: int, offset: int) -> list[SavedSearch]: ...
    def delete_search(self, app_pk: int, search_id: str) -> bool: ...

    # reindexing

    def request_reindex(self, app_pk: int) -> int:
        """Queue a reindex of the app's processed inputs; returns how many it will reindex
        (none queued when there are none)."""
        ...

    def reindex_batch(self, step: ReindexStep, count: int) -> list[ReindexItem]:
        """The next ``count`` processed inputs of the step's app after its cursor."""
        ...

    def superseded(self, step: ReindexStep) -> bool:
        """Whether a newer job of the app will reindex every input this step would."""
        ...

    def continue_reindex(self, step: ReindexStep, following: ReindexStep) -> bool:
        """Queue ``following``, the next step of ``step``'s chain, unless a newer job will
        reindex its inputs; True if queued."""
        ...

    def reindex_progress(self, app_pk: int) -> ReindexProgress | None:
        """The app's reindex under way (its newest chain), or None."""
        ...
