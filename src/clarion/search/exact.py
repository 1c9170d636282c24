"""The reference index: numpy, exact scores, one matrix-vector product per search."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from clarion.search._arrays import (
    LOOKUP_SHARE,
    FloatMatrix,
    FloatVector,
    as_allowed,
    as_keys,
    as_matrix,
    as_query,
    last_wins,
    ranked,
)
from clarion.search._rwlock import RWLock
from clarion.search._snapshot import open_snapshot, write_snapshot
from clarion.search.base import AllowedKeys, Generation, Hit, KeyArray, Keys, Manifest
from clarion.search.errors import IndexFormatError

_MIN_CAPACITY = 64


class ExactIndex:
    """Every search scores every candidate exactly: the reference the ANN index is tested against.

    Vectors sit in one contiguous float32 matrix whose first ``len(self)`` rows are live, with
    a parallel key array and a ``key -> row`` dict. A removal moves the last row into the hole,
    so the live rows stay contiguous and a search is one matrix-vector product.

    Thread safety: searches share a readers-writer lock and run together; ``add`` and
    ``remove`` take it alone, so a search sees a write whole or not at all. ``save`` copies
    the index under the shared lock and writes the copy with no lock held.
    """

    kind: ClassVar[str] = "exact"

    def __init__(self, dim: int) -> None:
        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        self._dim = dim
        self._vectors: FloatMatrix = np.empty((0, dim), dtype=np.float32)
        self._keys: KeyArray = np.empty(0, dtype=np.int64)
        self._row_of: dict[int, int] = {}
        self._lock = RWLock()
        self._save_lock = threading.Lock()

    @property
    def dim(self) -> int:
        """The dimension of every vector in the index."""
        return self._dim

    def __len__(self) -> int:
        return len(self._row_of)

    def __contains__(self, key: object) -> bool:
        return key in self._row_of

    def keys(self) -> KeyArray:
        """A copy of every key with a vector, in storage order."""
        with self._lock.read():
            return self._keys[: len(self._row_of)].copy()

    def export(self) -> tuple[KeyArray, FloatMatrix]:
        """Copies of every key and its vector (row ``i`` is key ``i``'s)."""
        with self._lock.read():
            count = len(self._row_of)
            return self._keys[:count].copy(), self._vectors[:count].copy()

    def add(self, keys: Keys, vectors: npt.ArrayLike) -> None:
        """Set the vectors of ``keys``; see ``VectorIndex.add``."""
        key_array = as_keys(keys)
        matrix = as_matrix(vectors, self._dim, len(key_array))
        key_array, matrix = last_wins(key_array, matrix)
        with self._lock.write():
            rows = self._lookup(key_array)
            present = rows >= 0
            if not present.any():  # the common case: no copy of a large batch
                self._append(key_array, matrix)
                return
            self._vectors[rows[present]] = matrix[present]
            self._append(key_array[~present], matrix[~present])

    def remove(self, keys: Keys) -> int:
        """Remove ``keys``; see ``VectorIndex.remove``."""
        key_array = as_keys(keys)
        with self._lock.write():
            removed = sum(self._remove_one(key) for key in key_array.tolist())
            self._shrink()
        return removed

    def search(
        self, query: npt.ArrayLike, k: int, *, allowed: AllowedKeys | None = None
    ) -> list[Hit]:
        """The ``k`` best hits, exactly; see ``VectorIndex.search``."""
        vector = as_query(query, self._dim)
        wanted = None if allowed is None else as_allowed(allowed)
        if k <= 0 or (wanted is not None and not len(wanted)):
            return []
        with self._lock.read():
            rows = None if wanted is None else self._rows_of(wanted)
            return self._best(vector, rows, k)

    def save(self, directory: str | Path, *, generation: Generation) -> Manifest:
        """Write the index to ``directory`` atomically; see ``VectorIndex.save``."""
        with self._save_lock:
            # A copy, taken in one short read, so neither searches nor writes wait for the disk.
            keys, vectors = self.export()
            manifest = Manifest(
                kind=self.kind, dim=self._dim, count=len(keys), generation=generation
            )

            def write(data: Path) -> None:
                np.save(data / "keys.npy", keys)
                np.save(data / "vectors.npy", vectors)

            return write_snapshot(directory, manifest, write)

    @classmethod
    def load(cls, directory: str | Path) -> ExactIndex:
        """The index saved in ``directory``; ``IndexFormatError`` if there is none or it is bad."""
        manifest, data = open_snapshot(directory, cls.kind)
        try:
            keys = np.load(data / "keys.npy")
            vectors = np.load(data / "vectors.npy")
        except (OSError, ValueError) as exc:
            raise IndexFormatError(f"cannot read the index in {directory}: {exc}") from exc
        expected = (manifest.count, manifest.dim)
        if keys.shape != expected[:1] or vectors.shape != expected or keys.dtype != np.int64:
            raise IndexFormatError(f"the index in {directory} does not match its manifest")
        index = cls(manifest.dim)
        index.add(keys, vectors)
        return index

    # searching

    def _rows_of(self, wanted: KeyArray) -> npt.NDArray[np.intp]:
        count = len(self._row_of)
        if len(wanted) * LOOKUP_SHARE <= count:  # a few keys: look each one up
            rows = self._lookup(wanted)
            return rows[rows >= 0]
        return np.flatnonzero(np.isin(self._keys[:count], wanted))

    def _best(self, vector: FloatVector, rows: npt.NDArray[np.intp] | None, k: int) -> list[Hit]:
        count = len(self._row_of)
        if rows is None:
            return ranked(self._keys[:count], self._vectors[:count] @ vector, k)
        if len(rows) * 2 > count:  # most rows: one product beats gathering a copy
            return ranked(self._keys[rows], (self._vectors[:count] @ vector)[rows], k)
        return ranked(self._keys[rows], self._vectors[rows] @ vector, k)

    # writing (under the write lock)

    def _lookup(self, keys: KeyArray) -> npt.NDArray[np.intp]:
        get = self._row_of.get
        return np.fromiter((get(key, -1) for key in keys.tolist()), dtype=np.intp, count=len(keys))

    def _append(self, keys: KeyArray, matrix: FloatMatrix) -> None:
        start, extra = len(self._row_of), len(keys)
        if not extra:
            return
        self._reserve(start + extra)
        self._vectors[start : start + extra] = matrix
        self._keys[start : start + extra] = keys
        self._row_of.update(zip(keys.tolist(), range(start, start + extra), strict=True))

    def _remove_one(self, key: int) -> bool:
        row = self._row_of.pop(key, None)
        if row is None:
            return False
        last = len(self._row_of)  # the index of the last live row, now that one is gone
        if row != last:
            moved = int(self._keys[last])
            self._vectors[row] = self._vectors[last]
            self._keys[row] = moved
            self._row_of[moved] = row
        return True

    def _reserve(self, needed: int) -> None:
        if needed > len(self._keys):
            # Doubling keeps appends amortised O(1) per row.
            self._resize(max(needed, 2 * len(self._keys), _MIN_CAPACITY))

    def _shrink(self) -> None:
        count, capacity = len(self._row_of), len(self._keys)
        if capacity > _MIN_CAPACITY and count < capacity // 4:  # give memory back after purges
            self._resize(max(2 * count, _MIN_CAPACITY))

    def _resize(self, capacity: int) -> None:
        count = len(self._row_of)
        vectors = np.empty((capacity, self._dim), dtype=np.float32)
        keys = np.empty(capacity, dtype=np.int64)
        vectors[:count] = self._vectors[:count]
        keys[:count] = self._keys[:count]
        self._vectors, self._keys = vectors, keys
