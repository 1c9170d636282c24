"""Videos: the facts probing gave of each video input, and the embedding of each sampled frame.

A video input is one row of ``inputs`` (kind ``video``) like any other, with one vector per
embedding space for what is whole-input (training, search by input id); its frames' vectors are
kept here besides, so that visual search can match a video by any one of its frames.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class VideoFacts:
    """What probing and sampling said of a stored video."""

    fps: float
    duration_ms: int
    frame_count: int


@dataclass(frozen=True, slots=True)
class FrameVector:
    """One sampled frame's embedding: its place in the video, and the vector (normalised)."""

    index: int
    time_ms: int
    vector: npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class FrameMatrix:
    """Every frame vector of an app's space: row ``i`` is a frame of input ``input_pks[i]``."""

    input_pks: npt.NDArray[np.int64]
    times_ms: npt.NDArray[np.int64]
    vectors: npt.NDArray[np.float32]


class VideoStore(Protocol):
    """The video tables (``clarion.storage.sql.videos.SqlVideoStore``)."""

    def save_video(
        self,
        app_pk: int,
        input_pk: int,
        facts: VideoFacts,
        frames: Mapping[str, Sequence[FrameVector]],
    ) -> None:
        """Replace the video's facts and its frames' vectors (per space) in one transaction."""
        ...

    def video_facts(self, input_pks: Sequence[int]) -> dict[int, VideoFacts]: ...

    def frames_token(self, app_pk: int, space: str) -> tuple[int, int]:
        """Changes when frames are added or removed (a cached matrix is then stale)."""
        ...

    def frame_matrix(self, app_pk: int, space: str) -> FrameMatrix: ...
