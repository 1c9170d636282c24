"""Visual search over video frames: one score per input, the best of its vector and frames."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from clarion.runtime.frame_indexes import FrameAwareIndexes, FrameAwareNearest
from clarion.storage.accounts import AppRecord
from clarion.storage.videos import FrameMatrix

APP = AppRecord(id="a", user_id="u", pk=1)
SPACE = "general-image-embedding"
Vector = npt.NDArray[np.float32]


def unit(*values: float) -> npt.NDArray[np.float32]:
    vector = np.asarray(values, np.float32)
    return vector / np.linalg.norm(vector)


class Inputs:
    """The app's index: one vector per input (a video's is the mean of its frames')."""

    def __init__(self, vectors: dict[int, npt.NDArray[np.float32]]) -> None:
        self.vectors = vectors

    def _scored(self, query: Vector, allowed: set[int] | None) -> list[tuple[int, float]]:
        pairs = [
            (key, float(np.clip(vector @ query, 0, 1)))
            for key, vector in self.vectors.items()
            if allowed is None or key in allowed
        ]
        return sorted(pairs, key=lambda pair: (-pair[1], pair[0]))

    def nearest(
        self, app: AppRecord, space: str, query: Vector, k: int, allowed: set[int] | None
    ) -> list[tuple[int, float]]:
        return self._scored(query, allowed)[:k]

    def nearest_counted(
        self, app: AppRecord, space: str, query: Vector, k: int, allowed: set[int] | None
    ) -> tuple[list[tuple[int, float]], int]:
        found = self._scored(query, allowed)
        return found[:k], len(found)

    def scores(
        self, app: AppRecord, space: str, query: Vector, keys: Sequence[int]
    ) -> dict[int, float]:
        return dict(self._scored(query, set(keys)))

    def sample(self, app: AppRecord, space: str) -> tuple[npt.NDArray[np.int64], int]:
        return np.asarray(sorted(self.vectors), np.int64), len(self.vectors)


class Frames:
    def __init__(self, rows: list[tuple[int, int, npt.NDArray[np.float32]]]) -> None:
        self.rows = rows
        self.reads = 0

    def frames_token(self, app_pk: int, space: str) -> tuple[int, int]:
        return len(self.rows), sum(row[0] for row in self.rows)

    def frame_matrix(self, app_pk: int, space: str) -> FrameMatrix:
        self.reads += 1
        return FrameMatrix(
            np.asarray([row[0] for row in self.rows], np.int64),
            np.asarray([row[1] for row in self.rows], np.int64),
            np.stack([row[2] for row in self.rows]),
        )


X, Y, Z = unit(1, 0, 0), unit(0, 1, 0), unit(0, 0, 1)
# Input 7 is a video of X then Y; its own vector is their mean. Input 3 is an image near Y.
VIDEO = [(7, 0, X), (7, 1000, Y)]


def indexes() -> tuple[FrameAwareIndexes, Frames]:
    frames = Frames(list(VIDEO))
    inner = Inputs({7: unit(1, 1, 0), 3: unit(0.2, 1, 0.3), 5: Z})
    return FrameAwareIndexes(inner, frames), frames


def test_a_video_scores_as_its_best_frame_and_is_one_hit() -> None:
    wrapped, _ = indexes()

    found = wrapped.nearest(APP, SPACE, Y, 3, None)

    assert [key for key, _ in found] == [7, 3, 5]
    assert found[0][1] == 1.0  # the frame showing Y, not the mean's 0.71
    best = wrapped.best_frames(APP, SPACE, Y)
    assert (best[7].time_ms, best[7].score) == (1000, 1.0)


def test_filters_and_counts_stay_per_input() -> None:
    wrapped, _ = indexes()

    found, total = wrapped.nearest_counted(APP, SPACE, X, 5, {3, 5})

    assert [key for key, _ in found] == [3, 5]  # the video is filtered out, frames too
    assert total == 2
    assert wrapped.scores(APP, SPACE, X, [7, 5]) == {7: 1.0, 5: 0.0}


def test_the_frames_are_read_again_only_when_they_change() -> None:
    wrapped, frames = indexes()
    wrapped.nearest(APP, SPACE, X, 3, None)
    wrapped.nearest(APP, SPACE, Y, 3, None)
    assert frames.reads == 1

    frames.rows = frames.rows[:1]  # the video deleted and stored again with one frame
    frames.rows.append((9, 0, Z))
    best = wrapped.best_frames(APP, SPACE, Z)

    assert frames.reads == 2
    assert set(best) == {7, 9} and best[9].score == 1.0


class Ranked:
    """A vector rank under filters as pgvector answers it: filters are input keys here."""

    def __init__(self, inputs: Inputs) -> None:
        self.inputs = inputs

    def nearest(
        self, app: AppRecord, space: str, vector: Vector, wanted: int, filters: Sequence[Any]
    ) -> tuple[list[tuple[int, float]], int]:
        allowed = set(filters[0]) if filters else None
        return self.inputs.nearest_counted(app, space, vector, wanted, allowed)


class Filtered:
    def filtered_keys(
        self, app_pk: int, filters: Sequence[Any], among: Iterable[int] | None = None
    ) -> set[int]:
        passing = set(filters[0])
        return passing if among is None else passing & set(among)


def keys(*allowed: int) -> Any:
    """A filter, as these fakes read one: the keys that pass."""
    return [set(allowed)]


def test_a_rank_under_filters_in_sql_scores_frames_too() -> None:
    inputs = Inputs({7: unit(1, 1, 0), 3: unit(0.2, 1, 0), 4: Z})
    frames = FrameAwareIndexes(inputs, Frames(VIDEO))
    nearest = FrameAwareNearest(Ranked(inputs), frames, Filtered())
    # Unfiltered: the video by its X frame, first and once.
    found, total = nearest.nearest(APP, SPACE, X, 2, [])
    assert [key for key, _ in found] == [7, 3] and found[0][1] == pytest.approx(1.0)
    assert total == 3
    # A filter the video fails keeps it out, frames and all.
    found, _ = nearest.nearest(APP, SPACE, X, 2, keys(3, 4))
    assert [key for key, _ in found] == [3, 4]
    # One it passes scores it by its best frame.
    found, _ = nearest.nearest(APP, SPACE, Y, 1, keys(7, 4))
    assert [key for key, _ in found] == [7] and found[0][1] == pytest.approx(1.0)
