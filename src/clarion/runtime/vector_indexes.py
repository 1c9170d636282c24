"""The in-memory vector indexes of apps, kept current with the database.

Each (app, embedding space) gets an ``AdaptiveIndex`` (exact while small, HNSW once large). It
is built from the stored vectors the first time it is searched (or loaded from its snapshot in
the data directory, then brought up to date), and before every search it replays the entries of
``index_log`` written since: by this process's workers, by ``clarion worker`` processes, or by
other API processes. A deleted input's vector is therefore gone from every process's index
before that process answers its next search. Each index also keeps an even sample of its keys,
from which search estimates how many inputs a filter allows.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt

from clarion.search.adaptive import AdaptiveIndex
from clarion.search.ann import HnswParams
from clarion.search.base import Hit
from clarion.search.errors import IndexFormatError
from clarion.search.persist import read_manifest
from clarion.storage.accounts import AppRecord
from clarion.storage.searches import SearchStore

log = logging.getLogger("clarion.indexes")


# An index smaller than this is sampled whole; a larger one evenly, this many keys.
SAMPLE_SIZE = 256
# A sample is drawn again once the index has grown or shrunk by this share since.
_RESAMPLE_SHARE = 0.05


@dataclass
class _Entry:
    index: AdaptiveIndex | None  # None until the space has a first vector
    seq: int  # the index_log position the index reflects
    lock: threading.Lock = field(default_factory=threading.Lock)
    sample: npt.NDArray[np.int64] | None = None  # sorted keys spread over the index
    sampled_size: int = 0  # the index's size when the sample was drawn


class IndexRegistry:
    def __init__(
        self,
        search: SearchStore,
        directory: Path | None = None,
        params: HnswParams | None = None,
        pruned_through: Callable[[], int] | None = None,
    ) -> None:
        self._search = search
        # The log position up to which index_log was pruned (``clarion.storage.sql.pruning``).
        self._pruned_through = pruned_through
        self._directory = directory
        # The settings of every HNSW index, snapshots loaded included: the search settings
        # are this version's, whatever the graph was built with (``m`` and storage are kept).
        self._params = params or HnswParams()
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
        return 0 if index is None else _count(index, allowed)

    def nearest_counted(
        self,
        app: AppRecord,
        space: str,
        query: npt.NDArray[np.float32],
        k: int,
        allowed: set[int] | None,
    ) -> tuple[list[tuple[int, float]], int]:
        """``nearest`` and ``count`` from one look at the index (one catch-up query)."""
        index = self._current(app, space)
        if index is None:
            return [], 0
        hits = _pairs(index.search(query, k, allowed=allowed)) if k > 0 else []
        return hits, _count(index, allowed)

    def sample(self, app: AppRecord, space: str) -> tuple[npt.NDArray[np.int64], int]:
        """Keys spread evenly over the index (sorted, at most ``SAMPLE_SIZE``), and its size.

        The share of the sample that a filter allows estimates the share of the index it
        allows. The sample is kept until the index's size moves by 5%: a few keys deleted
        since only make the estimate a little low.
        """
        entry, index = self._current_entry(app, space)
        if index is None:
            return np.empty(0, np.int64), 0
        size = len(index)
        sample = entry.sample
        if sample is None or abs(size - entry.sampled_size) > _RESAMPLE_SHARE * entry.sampled_size:
            # Threads may race to draw it; each draws a valid sample and the last one stays.
            keys = index.keys()
            picks = np.linspace(0, len(keys) - 1, min(SAMPLE_SIZE, len(keys))).astype(np.int64)
            sample = np.sort(keys[picks]) if len(keys) else np.empty(0, np.int64)
            entry.sample, entry.sampled_size = sample, size
        return sample, size

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
        return self._current_entry(app, space)[1]

    def _current_entry(self, app: AppRecord, space: str) -> tuple[_Entry, AdaptiveIndex | None]:
        name = entry_name(app, space)
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
            return entry, entry.index

    def _open(self, entry: _Entry, app: AppRecord, space: str, name: str) -> None:
        """Load the snapshot if there is a usable one, else build from the stored vectors."""
        assert app.pk is not None
        snapshot = self._directory / name if self._directory is not None else None
        if snapshot is not None and snapshot.exists():
            try:
                manifest = read_manifest(snapshot)
                if manifest is not None:
                    entry.index = AdaptiveIndex.load(snapshot, params=self._params)
                    entry.seq = int(manifest.generation)
                    return
            except (IndexFormatError, ValueError) as error:
                log.warning("rebuilding the index %s: its snapshot is unusable (%s)", name, error)
                shutil.rmtree(snapshot, ignore_errors=True)
        self._build(entry, app, space)

    def _build(self, entry: _Entry, app: AppRecord, space: str) -> None:
        assert app.pk is not None
        entry.index, entry.sample = None, None
        entry.seq, chunks = self._search.vector_chunks(app.pk, space)
        for keys, vectors in chunks:
            if entry.index is None:
                entry.index = AdaptiveIndex(vectors.shape[1], params=self._params)
            entry.index.add(keys, vectors)

    def _catch_up(self, entry: _Entry, app: AppRecord, space: str) -> None:
        assert app.pk is not None
        if self._pruned_through is not None and entry.seq < self._pruned_through():
            # Entries this index has not seen were pruned: only the stored vectors can say.
            log.info("rebuilding the index of app %d %s: the log was pruned past it", app.pk, space)
            self._build(entry, app, space)
        removed, keys, vectors, seq = self._search.changes_since(app.pk, space, entry.seq)
        if entry.index is None and len(keys):
            entry.index = AdaptiveIndex(vectors.shape[1], params=self._params)
        if entry.index is not None:
            if removed:
                entry.index.remove(removed)
            if len(keys):
                entry.index.add(keys, vectors)
        entry.seq = seq


def entry_name(app: AppRecord, space: str) -> str:
    """The name of the snapshot directory of an app's index of ``space``."""
    # The creation time tells a new app apart from a deleted one whose key was reused.
    created = int(app.created_at.timestamp() * 1_000_000) if app.created_at else 0
    return f"app-{app.pk}-{created}-{space}"


def _count(index: AdaptiveIndex, allowed: set[int] | None) -> int:
    return len(index) if allowed is None else sum(map(index.__contains__, allowed))


def _pairs(hits: list[Hit]) -> list[tuple[int, float]]:
    """The hits as they are: a ``Hit`` is a ``(key, score)`` tuple (the list is not copied)."""
    return cast(list[tuple[int, float]], hits)
