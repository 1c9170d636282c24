"""Visual search over videos' frames: one hit per input, scored by its best frame.

A video input has one vector in the app's index of a space, like an image (the normalised mean
of its frames'), and each sampled frame's vector besides (``clarion.storage.videos``). This
wraps the app indexes (``IndexRegistry``) for search: a query in a space with frames is scored
against every frame too, exactly, and an input's score is the best of its own vector and its
frames', so a search by one frame's picture ranks its video as if the video were that picture,
and a video is never two hits. The frames of an app are cached as one matrix and re-read when
their count or keys change (one small query per search).

The frame scan is exact: its cost grows with the app's sampled frames (a 2.5 GHz core scores
about a million 1024-d frames in 0.2 s), fine for apps of thousands of videos, not for
millions; such apps would need the frames in an ANN index of their own. On pgvector the app
indexes are PostgreSQL's and a vector rank under filters is one SQL statement
(``PgvectorNearest``); ``FrameAwareNearest`` adds the frames' scores to its hits the same way,
the frames still scanned exactly here (frames are not in pgvector's indexes).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from clarion.storage.accounts import AppRecord
from clarion.storage.searches import InputFilter
from clarion.storage.videos import FrameMatrix


class AppIndexes(Protocol):
    """The vector indexes of apps as search sees them: ``IndexRegistry`` (in memory, kept
    current from ``index_log``), ``PgvectorIndexes`` (in PostgreSQL), or ``FrameAwareIndexes``
    over either (the one declaration; ``services`` import it from here)."""

    def nearest(
        self,
        app: AppRecord,
        space: str,
        query: npt.NDArray[np.float32],
        k: int,
        allowed: set[int] | None,
    ) -> list[tuple[int, float]]: ...

    def nearest_counted(
        self,
        app: AppRecord,
        space: str,
        query: npt.NDArray[np.float32],
        k: int,
        allowed: set[int] | None,
    ) -> tuple[list[tuple[int, float]], int]: ...

    def scores(
        self, app: AppRecord, space: str, query: npt.NDArray[np.float32], keys: Sequence[int]
    ) -> dict[int, float]: ...

    def sample(self, app: AppRecord, space: str) -> tuple[npt.NDArray[np.int64], int]: ...


class FrameVectors(Protocol):
    """Stored frame vectors (``clarion.storage.videos.SqlVideoStore``)."""

    def frames_token(self, app_pk: int, space: str) -> tuple[int, int]: ...
    def frame_matrix(self, app_pk: int, space: str) -> FrameMatrix: ...


@dataclass(frozen=True, slots=True)
class BestFrame:
    """An input's best-matching frame: its time in the video, and its similarity."""

    time_ms: int
    score: float


class FrameAwareIndexes:
    """The app indexes, with video frames scored too (module notes)."""

    def __init__(self, indexes: AppIndexes, frames: FrameVectors) -> None:
        self._indexes = indexes
        self._frames = frames
        self._cache: dict[tuple[int, str], tuple[tuple[int, int], FrameMatrix]] = {}
        self._lock = threading.Lock()

    def nearest(
        self,
        app: AppRecord,
        space: str,
        query: npt.NDArray[np.float32],
        k: int,
        allowed: set[int] | None,
    ) -> list[tuple[int, float]]:
        found = self._indexes.nearest(app, space, query, k, allowed)
        return _merged(found, self.best_frames(app, space, query, allowed), k)

    def nearest_counted(
        self,
        app: AppRecord,
        space: str,
        query: npt.NDArray[np.float32],
        k: int,
        allowed: set[int] | None,
    ) -> tuple[list[tuple[int, float]], int]:
        # A video has its own vector in the index, so the index's count counts it once.
        found, total = self._indexes.nearest_counted(app, space, query, k, allowed)
        return _merged(found, self.best_frames(app, space, query, allowed), k), total

    def scores(
        self, app: AppRecord, space: str, query: npt.NDArray[np.float32], keys: Sequence[int]
    ) -> dict[int, float]:
        scored = self._indexes.scores(app, space, query, keys)
        for key, best in self.best_frames(app, space, query, set(keys)).items():
            scored[key] = max(scored.get(key, 0.0), best.score)
        return scored

    def sample(self, app: AppRecord, space: str) -> tuple[npt.NDArray[np.int64], int]:
        return self._indexes.sample(app, space)

    def best_frames(
        self,
        app: AppRecord,
        space: str,
        query: npt.NDArray[np.float32],
        allowed: set[int] | None = None,
    ) -> dict[int, BestFrame]:
        """Each video input's best frame for ``query`` (among ``allowed`` inputs)."""
        matrix = self._matrix(app, space)
        if not len(matrix.input_pks):
            return {}
        similarities = np.clip(matrix.vectors @ np.asarray(query, np.float32), 0.0, 1.0)
        # Rows by input, best frame first within each; the first row of each input is kept.
        order = np.lexsort((-similarities, matrix.input_pks))
        keys = matrix.input_pks[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        return {
            int(matrix.input_pks[row]): BestFrame(
                int(matrix.times_ms[row]), float(similarities[row])
            )
            for row in order[first]
            if allowed is None or int(matrix.input_pks[row]) in allowed
        }

    def _matrix(self, app: AppRecord, space: str) -> FrameMatrix:
        assert app.pk is not None
        token = self._frames.frames_token(app.pk, space)
        with self._lock:
            cached = self._cache.get((app.pk, space))
        if cached is not None and cached[0] == token:
            return cached[1]
        matrix = _normalised(self._frames.frame_matrix(app.pk, space))
        with self._lock:
            self._cache[(app.pk, space)] = (token, matrix)
        return matrix


class RankUnderFilters(Protocol):
    """A vector rank under filters (``clarion.runtime.pgvector_indexes.PgvectorNearest``)."""

    def nearest(
        self,
        app: AppRecord,
        space: str,
        vector: npt.NDArray[np.float32],
        wanted: int,
        filters: Sequence[InputFilter],
    ) -> tuple[list[tuple[int, float]], int]: ...


class FilteredKeys(Protocol):
    """Which inputs pass filters (``clarion.storage.searches.SearchStore``)."""

    def filtered_keys(
        self, app_pk: int, filters: Sequence[InputFilter], among: Iterable[int] | None = None
    ) -> set[int]: ...


class FrameAwareNearest:
    """A vector rank under filters with video frames scored too: the inner rank's hits and
    the best frames of the videos that pass the filters, one hit per input."""

    def __init__(
        self, nearest: RankUnderFilters, frames: FrameAwareIndexes, search: FilteredKeys
    ) -> None:
        self._nearest = nearest
        self._frames = frames
        self._search = search

    def nearest(
        self,
        app: AppRecord,
        space: str,
        vector: npt.NDArray[np.float32],
        wanted: int,
        filters: Sequence[InputFilter],
    ) -> tuple[list[tuple[int, float]], int]:
        found, total = self._nearest.nearest(app, space, vector, wanted, filters)
        frames = self._frames.best_frames(app, space, vector)
        if frames and filters:
            assert app.pk is not None
            passing = self._search.filtered_keys(app.pk, filters, among=list(frames))
            frames = {key: best for key, best in frames.items() if key in passing}
        # A video has its own vector in the index, so the inner total counts it once.
        return _merged(found, frames, wanted), total


def _normalised(matrix: FrameMatrix) -> FrameMatrix:
    if not len(matrix.input_pks):
        return matrix
    norms = np.linalg.norm(matrix.vectors, axis=1, keepdims=True)
    vectors = (matrix.vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return FrameMatrix(matrix.input_pks, matrix.times_ms, vectors)


def _merged(
    found: list[tuple[int, float]], frames: dict[int, BestFrame], k: int
) -> list[tuple[int, float]]:
    """One score per input, the best of its own and its best frame's; best first, ``k``."""
    if not frames:
        return found
    scores = dict(found)
    for key, best in frames.items():
        scores[key] = max(scores.get(key, 0.0), best.score)
    ranked = sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))
    return ranked[:k]
