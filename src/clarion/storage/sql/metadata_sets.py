"""A search's candidates checked against a metadata filter in memory, on sets proven fresh.

A filtered search over a large index checks the index's nearest few hundred candidates
against the filter (``services._nearest``). In SQL that check costs about half a millisecond
at a million inputs, however the statement is written: a b-tree descent per candidate. Here,
each (path, value) pair an app is filtered by is read once into the set of the app's inputs
that have it, and candidates are looked up in it.

Fresh by proof, not by time: the sets are tagged with ``metadata_generation``, a number
that the database changes in every transaction that changes ``input_metadata`` (the table's
triggers, migration 0025). The number and the set are read in one snapshot, and a set is
used only in a read that sees the same number, so it is exactly what that read would find
in the table. Any other read answers in SQL (``passing`` returns None).

Reading a set costs about 0.1 s for a pair that 100,000 inputs have, against half a
millisecond for a query's check in SQL, so sets are read sparingly, at most one per
``SETTLE_SECONDS`` and only once the number has held still that long. While inputs are being
written each write would otherwise make the next search read its sets again; and filters
over more pairs than the memory cap (``MAX_BYTES``) would read them in turn, each query one.
Meanwhile SQL answers.

A pair that many of an app's inputs have is kept as a mask, a byte per key up to the largest:
one lookup a candidate, which after a graph walk (every cache cold) cost half what a binary
search in the sorted keys did. A rarer pair stays sorted keys, where the mask would be more
than ``MASK_SPREAD`` times their size.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection

from clarion.storage.sql.base import driver_rows

# How long the generation must hold still before sets are read for it, and the least time
# between two reads of a set.
SETTLE_SECONDS = 2.0
# At most this many bytes in all the sets kept; a pair whose set is larger is answered in SQL.
MAX_BYTES = 128 * 1024 * 1024
# A pair's set is a mask when that is at most this many times the size of its sorted keys.
MASK_SPREAD = 16

_GENERATION = "SELECT generation FROM metadata_generation WHERE id = 1"
# The app is checked on ``inputs``: input_metadata has no app column.
_HAVING_PAIR = (
    "SELECT m.input_pk FROM input_metadata m JOIN inputs i ON i.pk = m.input_pk "
    "WHERE m.path = ? AND m.value = ? AND i.app_pk = ?"
)

Pair = tuple[str, str]
Keys = npt.NDArray[np.int64]
Found = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class _Mask:
    """The keys as a mask: ``mask[key]`` is whether the key is one, False past the largest."""

    mask: Found  # one longer than the largest key, so that its last entry is False

    def contains(self, candidates: Keys) -> Found:
        # "clip" reads a key past the end as the last entry, which is False: one operation.
        return np.take(self.mask, candidates, mode="clip")

    @property
    def nbytes(self) -> int:
        return int(self.mask.nbytes)


@dataclass(frozen=True, slots=True)
class _Sorted:
    """The keys, sorted: a binary search a candidate."""

    keys: Keys

    def contains(self, candidates: Keys) -> Found:
        if not len(self.keys):
            return np.zeros(len(candidates), dtype=np.bool_)
        at = np.searchsorted(self.keys, candidates)
        return np.asarray(np.take(self.keys, at, mode="clip") == candidates)

    @property
    def nbytes(self) -> int:
        return int(self.keys.nbytes)


def key_set(keys: Keys, max_bytes: int = MAX_BYTES) -> _Mask | _Sorted:
    """The set of ``keys`` (sorted, positive) in the form that answers fastest for its size;
    never a mask larger than ``max_bytes``, which would be made only to be let go."""
    if len(keys) and (int(keys[-1]) + 2) <= min(MASK_SPREAD * keys.nbytes, max_bytes):
        mask = np.zeros(int(keys[-1]) + 2, dtype=np.bool_)
        mask[keys] = True
        return _Mask(mask)
    return _Sorted(keys)


@dataclass(frozen=True, slots=True)
class _Read:
    generation: int
    keys: _Mask | _Sorted | None  # None for a pair too large to keep (SQL answers for it)


class MetadataSets:
    """Per (app, path, value), the inputs that have the pair, for the generation read with it."""

    def __init__(
        self,
        *,
        settle_seconds: float | None = None,
        max_bytes: int = MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settle = settle_seconds
        self._max_bytes = max_bytes
        self._clock = clock
        self._sets: OrderedDict[tuple[int, str, str], _Read] = OrderedDict()
        self._kept = 0  # bytes in ``_sets``
        self._seen: tuple[int, float] | None = None  # a generation, and when first seen
        self._last_read = -math.inf  # when a set was last read
        self._lock = threading.Lock()

    def passing(
        self, db: Connection, app_pk: int, pairs: Sequence[Pair], among: Sequence[int]
    ) -> set[int] | None:
        """The keys of ``among`` whose input has every pair, as ``db``'s snapshot has them;
        None where no set can answer for that snapshot (the caller asks SQL)."""
        generation = int(driver_rows(db, _GENERATION, ())[0][0])
        candidates = np.fromiter(among, dtype=np.int64, count=len(among))
        kept: Found | None = None
        for pair in pairs:
            keys = self._set_of(db, generation, app_pk, pair)
            if keys is None:
                return None
            found = keys.contains(candidates)
            kept = found if kept is None else kept & found
        return set((candidates if kept is None else candidates[kept]).tolist())

    def _set_of(
        self, db: Connection, generation: int, app_pk: int, pair: Pair
    ) -> _Mask | _Sorted | None:
        """The app's inputs with ``pair`` in ``db``'s snapshot (which has ``generation``);
        None where they are not kept and may not be read now."""
        name = (app_pk, *pair)
        with self._lock:
            known = self._sets.get(name)
            if known is not None and known.generation == generation:
                self._sets.move_to_end(name)
                return known.keys
            if not self._may_read(generation):
                return None
        rows = driver_rows(db, _HAVING_PAIR, (*pair, app_pk))
        keys = key_set(
            np.sort(np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))),
            self._max_bytes,
        )
        read = _Read(generation, keys if keys.nbytes <= self._max_bytes else None)
        with self._lock:
            self._keep(name, read)
        return keys

    def _may_read(self, generation: int) -> bool:
        """Whether a set may be read now, for ``generation`` (under the lock): the number
        first seen, and the last set read, at least the settle time ago."""
        now = self._clock()
        if self._seen is None or self._seen[0] != generation:
            self._seen = (generation, now)
        settle = SETTLE_SECONDS if self._settle is None else self._settle
        if now - self._seen[1] < settle or now - self._last_read < settle:
            return False
        self._last_read = now
        return True

    def _keep(self, name: tuple[int, str, str], read: _Read) -> None:
        """Keep ``read`` (under the lock), forgetting the least recently used beyond the cap."""
        replaced = self._sets.pop(name, None)
        if replaced is not None:
            self._kept -= _size(replaced)
        self._sets[name] = read
        self._kept += _size(read)
        while self._kept > self._max_bytes:
            _, dropped = self._sets.popitem(last=False)
            self._kept -= _size(dropped)


def _size(read: _Read) -> int:
    return 0 if read.keys is None else read.keys.nbytes
