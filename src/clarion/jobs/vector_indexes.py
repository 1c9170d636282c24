"""The in-memory vector indexes of apps, kept current with the database.

Each (app, embedding space) gets an ``AdaptiveIndex`` (exact while small, HNSW once large). It
is built from the stored vectors the first time it is searched (or loaded from its snapshot in
the data directory, then brought up to date), and before every search it replays the entries of
``index_log`` written since: by this process's workers, by ``clarion worker`` processes, or by
other API processes. A deleted input's vector is therefore gone from every process's index
before that process answers its next search.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from clarion.search.adaptive import AdaptiveIndex
from clarion.search.base import Hit
from clarion.search.errors import IndexFormatError
from clarion.search.persist import read_manifest
from clarion.storage.base import AppRecord
from clarion.storage.searchdata import SqlSearchStore

log = logging.getLogger("clarion.indexes")


@dataclass
class _Entry:
    index: AdaptiveIndex | None  # None until the space has a first vector
    seq: int  # the index_log position the index reflects
    lock: threading.Lock = field(default_factory=threading.Lock)


class IndexRegistry:
    def __init__(self, search: SqlSearchStore, directory: Path | None = None) -> None:
        self._search = search
        self._directory = directory
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def nearest(
        self,
        app: AppRecord,
        space: str,
        query: npt.NDArray[np.float32],
        k: int,
        allowed: set[int] | None,
    ) -> list[tuple[int, float]]:
        """The ``k`` inputs most similar to ``query`` among ``allowed`` (all when None)."""
        index = self._current(app, space)
        if index is None or k <= 0:
            return []
        return _pairs(index.search(query, k, allowed=allowed))

    def scores(
        self, app: AppRecord, space: str, query: npt.NDArray[np.float32], keys: Sequence[int]
    ) -> dict[int, float]:
        """Similarity of ``query`` to each of ``keys`` that has a vector."""
        index = self._current(app, space)
        if index is None or not keys:
            return {}
        return dict(_pairs(index.search(query, len(keys), allowed=set(keys))))

    def count(self, app: AppRecord, space: str, allowed: set[int] | None) -> int:
        """How many inputs have a vector in ``space`` (among ``allowed``)."""
        index = self._current(app, space)
        if index is None:
            return 0
        if allowed is None:
            return len(index)
        return sum(1 for key in allowed if key in index)

    def save_all(self) -> None:
        """Snapshot every index, so the next start loads instead of rebuilding."""
        if self._directory is None:
            return
        with self._lock:
            entries = list(self._entries.items())
        for name, entry in entries:
            with entry.lock:
                if entry.index is not None:
                    entry.index.save(self._directory / name, generation=entry.seq)

    def _current(self, app: AppRecord, space: str) -> AdaptiveIndex | None:
        name = _entry_name(app, space)
        with self._lock:
            entry = self._entries.get(name)
            if entry is None:
                entry = self._entries[name] = _Entry(index=None, seq=0)
                fresh = True
            else:
                fresh = False
        with entry.lock:
            if fresh:
                self._open(entry, app, space, name)
            self._catch_up(entry, app, space)
            return entry.index

    def _open(self, entry: _Entry, app: AppRecord, space: str, name: str) -> None:
        """Load the snapshot if there is a usable one, else build from the stored vectors."""
        assert app.pk is not None
        snapshot = self._directory / name if self._directory is not None else None
        if snapshot is not None and snapshot.exists():
            try:
                manifest = read_manifest(snapshot)
                if manifest is not None:
                    entry.index = AdaptiveIndex.load(snapshot)
                    entry.seq = int(manifest.generation)
                    return
            except (IndexFormatError, ValueError) as error:
                log.warning("rebuilding the index %s: its snapshot is unusable (%s)", name, error)
                shutil.rmtree(snapshot, ignore_errors=True)
        keys, vectors, seq = self._search.all_vectors(app.pk, space)
        entry.seq = seq
        if len(keys):
            entry.index = AdaptiveIndex(vectors.shape[1])
            entry.index.add(keys, vectors)

    def _catch_up(self, entry: _Entry, app: AppRecord, space: str) -> None:
        assert app.pk is not None
        removed, keys, vectors, seq = self._search.changes_since(app.pk, space, entry.seq)
        if entry.index is None and len(keys):
            entry.index = AdaptiveIndex(vectors.shape[1])
        if entry.index is not None:
            if removed:
                entry.index.remove(removed)
            if len(keys):
                entry.index.add(keys, vectors)
        entry.seq = seq


def _entry_name(app: AppRecord, space: str) -> str:
    # The creation time tells a new app apart from a deleted one whose key was reused.
    created = int(app.created_at.timestamp() * 1_000_000) if app.created_at else 0
    return f"app-{app.pk}-{created}-{space}"


def _pairs(hits: Sequence[Hit]) -> list[tuple[int, float]]:
    return [(hit.key, hit.score) for hit in hits]
