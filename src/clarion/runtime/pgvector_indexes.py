"""The vector indexes of apps as PostgreSQL holds them (pgvector): this process keeps none.

The same questions as ``IndexRegistry`` (nearest inputs, scores of given inputs, counts)
answered by SQL on every call, so whatever any process wrote is seen at once, with nothing to
replay. ``PgvectorNearest`` answers a vector rank under filters in one statement.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from clarion.storage.accounts import AppRecord
from clarion.storage.pgvector import VectorQuery, VectorSearch
from clarion.storage.searches import InputFilter

# In a space of this many inputs or more, totals (under filters too) are reused for
# COUNT_SECONDS (hit counts are estimates in Clarifai's API too): counting the tens of
# thousands of inputs a filter allows would cost more than the search. Below it, totals are
# exact on every search, as the embedded index's are.
COUNT_CACHED_FROM = 20_000
COUNT_SECONDS = 30.0
_COUNTS_KEPT = 256

Scored = list[tuple[int, float]]


class PgvectorIndexes:
    """``IndexRegistry``'s questions, answered by PostgreSQL."""

    def __init__(self, store: VectorSearch, counts: _Counts | None = None) -> None:
        self._store = store
        self._counts = counts or _Counts(store)

    def nearest(
        self,
        app: AppRecord,
        space: str,
        query: npt.NDArray[np.float32],
        k: int,
        allowed: set[int] | None,
    ) -> Scored:
        if allowed is not None and not allowed:
            return []
        return self._store.nearest(VectorQuery(_pk(app), space, query, k), among=allowed)

    def nearest_counted(
        self,
        app: AppRecord,
        space: str,
        query: npt.NDArray[np.float32],
        k: int,
        allowed: set[int] | None,
    ) -> tuple[Scored, int]:
        hits = self.nearest(app, space, query, k, allowed)
        if allowed is not None:
            return hits, len(self._store.scores(_pk(app), space, query, sorted(allowed)))
        return hits, self._counts.total(app, space, ())

    def scores(
        self, app: AppRecord, space: str, query: npt.NDArray[np.float32], keys: Sequence[int]
    ) -> dict[int, float]:
        return self._store.scores(_pk(app), space, query, keys)

    def sample(self, app: AppRecord, space: str) -> tuple[npt.NDArray[np.int64], int]:
        """No sample: filters run inside the search statement (``PgvectorNearest``)."""
        return np.empty(0, np.int64), 0

    def save_all(self) -> None:
        """Nothing to save: PostgreSQL holds the indexes."""


class PgvectorNearest:
    """A vector rank under filters: ranks, filters and the limit in one SQL statement."""

    def __init__(self, store: VectorSearch, counts: _Counts | None = None) -> None:
        self._store = store
        self._counts = counts or _Counts(store)

    def nearest(
        self,
        app: AppRecord,
        space: str,
        vector: npt.NDArray[np.float32],
        wanted: int,
        filters: Sequence[InputFilter],
    ) -> tuple[Scored, int]:
        """The ``wanted`` nearest inputs that pass ``filters``, best first, and the total."""
        hits = self._store.nearest(VectorQuery(_pk(app), space, vector, wanted), filters)
        return hits, max(len(hits), self._counts.total(app, space, filters))


class _Counts:
    """Totals of an app's space under filters; large ones kept a while (module notes)."""

    def __init__(self, store: VectorSearch, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._kept: OrderedDict[tuple[object, ...], tuple[int, float]] = OrderedDict()
        self._lock = threading.Lock()

    def total(self, app: AppRecord, space: str, filters: Sequence[InputFilter]) -> int:
        key = (app.pk, app.created_at, space, repr(filters))
        now = self._clock()
        with self._lock:
            known = self._kept.get(key)
        if known is not None and known[1] > now:
            return known[0]
        total = self._store.count(_pk(app), space, filters)
        if total >= COUNT_CACHED_FROM or (filters and self._large(app, space)):
            with self._lock:
                self._kept[key] = (total, now + COUNT_SECONDS)
                self._kept.move_to_end(key)
                while len(self._kept) > _COUNTS_KEPT:
                    self._kept.popitem(last=False)
        return total

    def _large(self, app: AppRecord, space: str) -> bool:
        """Whether the space is large enough that counts are estimates (its whole count is
        then kept, so this costs a query once per ``COUNT_SECONDS``)."""
        return self.total(app, space, ()) >= COUNT_CACHED_FROM


def shared_counts(store: VectorSearch) -> _Counts:
    """One cache of totals for ``PgvectorIndexes`` and ``PgvectorNearest`` together."""
    return _Counts(store)


def _pk(app: AppRecord) -> int:
    assert app.pk is not None
    return app.pk
