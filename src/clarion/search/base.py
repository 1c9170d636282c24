"""What the rest of Clarion sees of a vector index: plain values and the ``VectorIndex`` protocol.

An index holds one embedding space of one app. Keys are integers (an input's primary key) and
vectors are float32, L2-normalised by the caller, so cosine similarity is a dot product. Nothing
here knows about protobuf, SQL or the ANN library; the implementations sit beside this module:
``exact`` (numpy, the reference), ``ann`` (HNSW) and ``adaptive`` (exact while small, HNSW
once large).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

KeyArray = npt.NDArray[np.int64]
"""A one-dimensional array of keys."""

Keys = KeyArray | Iterable[int]
"""Keys as a caller may pass them: an int64 array, a list, a set, any iterable of ints."""

AllowedKeys = KeyArray | Set[int]
"""A search filter: the keys a hit may have (computed by SQL filters); ``None`` allows all."""

Generation = int | str
"""A caller's token for the state of the database a saved index matches (a log position)."""

FORMAT_VERSION = 1
"""The version of the on-disk layout that ``save`` writes; ``load`` refuses any other."""


class Hit(NamedTuple):
    """One search result: a key and its cosine similarity to the query, clipped to [0, 1].

    A named tuple, not a dataclass: a filtered search makes a few hundred of them per query,
    which cost a fifth less to make, and the layers above pass them on as ``(key, score)``
    pairs without copying them into tuples."""

    key: int
    score: float


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a saved index says about itself, read before loading it (``read_manifest``).

    The caller compares ``dim`` and ``generation`` with the database to decide whether to load
    the saved index or rebuild it from the vectors it holds.
    """

    kind: str  # "exact" or "hnsw": which class wrote it
    dim: int
    count: int  # live vectors
    generation: Generation
    format_version: int = FORMAT_VERSION
    params: Mapping[str, Any] = field(default_factory=dict)  # the index's settings
    data: str = ""  # the subdirectory holding this snapshot's files


@runtime_checkable
class VectorIndex(Protocol):
    """A set of ``key -> vector`` pairs of one dimension, searched by cosine similarity.

    Every implementation is safe for many threads searching while other threads write. A
    search sees each key as it was before a write or after it, never missing a vector it had
    throughout, and never twice; ``HnswIndex`` applies a large ``add`` in chunks, each visible
    as a whole.
    """

    @property
    def dim(self) -> int:
        """The dimension of every vector in the index."""
        ...

    def __len__(self) -> int:
        """The number of keys with a vector."""
        ...

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` has a vector."""
        ...

    def keys(self) -> KeyArray:
        """A copy of every key with a vector, in no particular order."""
        ...

    def add(self, keys: Keys, vectors: npt.ArrayLike) -> None:
        """Set the vectors of ``keys`` (row ``i`` of ``vectors`` is key ``i``'s).

        A key already present gets the new vector; a key repeated in one call keeps its last.
        Raises ``ValueError`` on a shape that is not ``(len(keys), dim)`` or a non-finite value.
        """
        ...

    def remove(self, keys: Keys) -> int:
        """Remove ``keys``; they are never returned again until re-added. Unknown keys are
        ignored. Returns how many were removed."""
        ...

    def search(
        self, query: npt.ArrayLike, k: int, *, allowed: AllowedKeys | None = None
    ) -> list[Hit]:
        """The ``k`` best hits for ``query``, best first, ties by smaller key first.

        With ``allowed``, only those keys are candidates, and the result still has
        ``min(k, |allowed ∩ index|)`` hits: a narrow filter never empties a page. Pages are
        slices of one search with ``k = page * per_page``.
        """
        ...

    def save(self, directory: str | Path, *, generation: Generation) -> Manifest:
        """Write the index to ``directory`` atomically and return its manifest.

        A reader of ``directory`` sees the previous snapshot or this one, never a mix, even if
        the process dies while writing. One process should own a directory.
        """
        ...
