"""The index an app gets: exact while small, HNSW from a size threshold on."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy.typing as npt

from clarion.search import _faiss
from clarion.search._arrays import as_keys
from clarion.search.ann import HnswIndex, HnswParams
from clarion.search.base import AllowedKeys, Generation, Hit, KeyArray, Keys, Manifest
from clarion.search.exact import ExactIndex
from clarion.search.persist import load_index

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 20_000
"""Below this many vectors an exact search costs a few milliseconds, so no graph is kept."""


class AdaptiveIndex:
    """An ``ExactIndex`` until it holds ``threshold`` vectors, then an ``HnswIndex``.

    The switch happens inside the ``add`` that reaches the threshold (counting that batch):
    the graph is built from the exact index's vectors and the batch, then replaces it in one
    reference assignment. It does not switch back when removals shrink it. Without faiss it
    stays exact, with a warning.

    Thread safety: searches go to the current backend, which is itself safe for concurrent
    searches and one writer (see ``ExactIndex``, ``HnswIndex``). Writes and saves are
    serialised here; while a switch builds the graph, searches are answered by the exact
    index, complete and current, and writes wait for the switch to finish.
    """

    def __init__(
        self,
        dim: int,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        params: HnswParams | None = None,
    ) -> None:
        self._backend: ExactIndex | HnswIndex = ExactIndex(dim)
        self._threshold = threshold
        self._params = params or HnswParams()
        self._writer = threading.Lock()

    @property
    def dim(self) -> int:
        """The dimension of every vector in the index."""
        return self._backend.dim

    @property
    def backend(self) -> ExactIndex | HnswIndex:
        """The index answering now (``kind`` says which)."""
        return self._backend

    def __len__(self) -> int:
        return len(self._backend)

    def __contains__(self, key: object) -> bool:
        return key in self._backend

    def keys(self) -> KeyArray:
        """A copy of every key with a vector."""
        return self._backend.keys()

    def add(self, keys: Keys, vectors: npt.ArrayLike) -> None:
        """Set the vectors of ``keys``, switching to HNSW if this reaches the threshold."""
        key_array = as_keys(keys)
        with self._writer:
            backend = self._backend
            if isinstance(backend, ExactIndex) and self._should_switch(backend, len(key_array)):
                self._switch(backend, key_array, vectors)
            else:
                backend.add(key_array, vectors)

    def remove(self, keys: Keys) -> int:
        """Remove ``keys``; see ``VectorIndex.remove``."""
        with self._writer:
            return self._backend.remove(keys)

    def search(
        self, query: npt.ArrayLike, k: int, *, allowed: AllowedKeys | None = None
    ) -> list[Hit]:
        """The ``k`` best hits from the current backend; see ``VectorIndex.search``."""
        return self._backend.search(query, k, allowed=allowed)

    def save(self, directory: str | Path, *, generation: Generation) -> Manifest:
        """Save the current backend; its manifest's ``kind`` says which one it is."""
        with self._writer:
            return self._backend.save(directory, generation=generation)

    @classmethod
    def load(
        cls,
        directory: str | Path,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        params: HnswParams | None = None,
    ) -> AdaptiveIndex:
        """The index saved in ``directory`` by either backend; ``IndexFormatError`` if bad.

        A saved exact index at or above ``threshold`` is switched to HNSW here.
        """
        backend = load_index(directory, params=params)
        index = cls(backend.dim, threshold=threshold, params=params)
        if isinstance(backend, ExactIndex) and index._should_switch(backend, 0):
            index._switch(backend, as_keys([]), [])
        else:
            index._backend = backend
        return index

    def _should_switch(self, exact: ExactIndex, incoming: int) -> bool:
        if len(exact) + incoming < self._threshold:
            return False
        if not _faiss.available():
            log.warning(
                "vector index stays exact past %d vectors: %s", self._threshold, _faiss.INSTALL_HINT
            )
            return False
        return True

    def _switch(self, exact: ExactIndex, keys: KeyArray, vectors: npt.ArrayLike) -> None:
        graph = HnswIndex(exact.dim, self._params)
        graph.add(*exact.export())
        graph.add(keys, vectors)  # after the old vectors, so the batch's replace theirs
        self._backend = graph  # one assignment: a search uses the old index or the new one
