"""Nearest-neighbour search inside the database (pgvector): the query and the Protocol.

The SQL is ``clarion.storage.sql.pgvector``; ``clarion.runtime.pgvector_indexes`` is typed on
``VectorSearch`` and so never sees it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from clarion.storage.searches import InputFilter

Scored = list[tuple[int, float]]


@dataclass(frozen=True, slots=True)
class VectorQuery:
    """One nearest-neighbour search: an app's space, the query vector and how many hits."""

    app_pk: int
    space: str
    vector: npt.NDArray[np.float32]
    k: int


class VectorSearch(Protocol):
    """Searches and counts over an app's stored vectors (``SqlVectorSearch``)."""

    def nearest(
        self,
        query: VectorQuery,
        filters: Sequence[InputFilter] = (),
        among: Iterable[int] | None = None,
    ) -> Scored:
        """The ``k`` inputs nearest ``query.vector`` that pass ``filters`` (and are ``among``
        the keys given), best first."""
        ...

    def count(self, app_pk: int, space: str, filters: Sequence[InputFilter] = ()) -> int:
        """How many inputs of an app have a vector in ``space`` and pass ``filters``."""
        ...

    def scores(
        self, app_pk: int, space: str, vector: npt.NDArray[np.float32], keys: Sequence[int]
    ) -> dict[int, float]:
        """Similarity of ``vector`` to each of ``keys`` that has one in ``space`` (exact)."""
        ...

    def index_sizes(self) -> Mapping[str, int]:
        """Bytes on disk of each vector index (for sizing)."""
        ...
