"""Checks and conversions shared by the indexes, and the one ranking rule they all apply."""

from __future__ import annotations

from collections.abc import Set, Sized

import numpy as np
import numpy.typing as npt

from clarion.search.base import AllowedKeys, Hit, KeyArray, Keys

FloatVector = npt.NDArray[np.float32]
FloatMatrix = npt.NDArray[np.float32]

# A filter of at most 1/LOOKUP_SHARE of the index looks its keys up one by one; a larger one
# is matched against every key at once (np.isin), which is cheaper per key.
LOOKUP_SHARE = 64

# Rows per slice when checking a large batch for NaN/inf, so the check needs no n x d temporary.
_CHECK_ROWS = 65_536


def as_keys(keys: Keys) -> KeyArray:
    """``keys`` as a one-dimensional int64 array (no copy when it already is one)."""
    if isinstance(keys, np.ndarray):
        if keys.dtype.kind not in "iu":
            raise ValueError(f"keys must be integers, got an array of {keys.dtype}")
        return keys.astype(np.int64, copy=False).reshape(-1)
    if isinstance(keys, Sized):
        return np.fromiter(keys, dtype=np.int64, count=len(keys))
    return np.fromiter(keys, dtype=np.int64)


def as_allowed(allowed: AllowedKeys) -> KeyArray:
    """A filter's keys without repeats, so each allowed key is a candidate at most once."""
    keys = as_keys(allowed)
    if isinstance(allowed, Set) or bool(np.all(keys[1:] > keys[:-1])):
        return keys  # a set, or a sorted array (SQL's ORDER BY pk), has none to drop: no sort
    return np.unique(keys)


def as_matrix(vectors: npt.ArrayLike, dim: int, count: int) -> FloatMatrix:
    """``vectors`` as a C-contiguous ``(count, dim)`` float32 matrix of finite values."""
    if count == 0:
        return np.empty((0, dim), dtype=np.float32)
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim == 1 and count == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.shape != (count, dim):
        raise ValueError(f"expected vectors of shape ({count}, {dim}), got {matrix.shape}")
    for start in range(0, count, _CHECK_ROWS):
        if not np.isfinite(matrix[start : start + _CHECK_ROWS]).all():
            raise ValueError("vectors must be finite (no NaN or infinity)")
    return matrix


def as_query(query: npt.ArrayLike, dim: int) -> FloatVector:
    """``query`` as a finite float32 vector of ``dim`` values (a ``(1, dim)`` row is accepted)."""
    vector = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
    if vector.shape != (dim,):
        raise ValueError(f"expected a query of {dim} values, got shape {np.shape(query)}")
    if not np.isfinite(vector).all():
        raise ValueError("the query must be finite (no NaN or infinity)")
    return vector


def last_wins(keys: KeyArray, vectors: FloatMatrix) -> tuple[KeyArray, FloatMatrix]:
    """Drop all but the last row of each repeated key, as applying the rows in turn would."""
    if len(keys) < 2:
        return keys, vectors
    first_from_end = np.unique(keys[::-1], return_index=True)[1]
    if len(first_from_end) == len(keys):
        return keys, vectors
    rows = np.sort(len(keys) - 1 - first_from_end)
    return keys[rows], vectors[rows]


def ranked(keys: KeyArray, scores: FloatVector, k: int) -> list[Hit]:
    """The ``k`` best candidates: higher score first, then smaller key; scores clipped to [0, 1].

    Clipping comes first so that every negative similarity ties at 0 and is ordered by key,
    whichever index computed it. Every candidate tied with the k-th score is kept through
    the partition, so ties at the page boundary resolve by key, not by memory order.
    """
    count = len(scores)
    if k <= 0 or count == 0:
        return []
    scores = np.clip(scores, 0.0, 1.0)
    if k < count:
        kth = np.partition(scores, count - k)[count - k]
        rows = np.flatnonzero(scores >= kth)
        keys, scores = keys[rows], scores[rows]
    order = np.lexsort((keys, -scores))[:k]
    return [
        Hit(key, score)
        for key, score in zip(keys[order].tolist(), scores[order].tolist(), strict=True)
    ]
