"""``VideoStore`` on SQLAlchemy Core: a video's probed facts and its frames' vectors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sqlalchemy import delete, insert, select

from clarion.storage.dialect import keys_in
from clarion.storage.schema import video_frame_vectors, video_info
from clarion.storage.sql.base import SqlBase, driver_rows
from clarion.storage.videos import FrameMatrix, FrameVector, VideoFacts

_FRAMES_TOKEN = (
    "SELECT count(*), coalesce(sum(input_pk), 0) FROM video_frame_vectors "
    "WHERE app_pk = ? AND space = ?"
)


class SqlVideoStore(SqlBase):
    """The video tables, on the engine the other stores share."""

    def save_video(
        self,
        app_pk: int,
        input_pk: int,
        facts: VideoFacts,
        frames: Mapping[str, Sequence[FrameVector]],
    ) -> None:
        """Replace the video's facts and its frames' vectors (per space) in one transaction."""
        with self._write() as db:
            db.execute(delete(video_info).where(video_info.c.input_pk == input_pk))
            db.execute(
                insert(video_info).values(
                    input_pk=input_pk,
                    fps=facts.fps,
                    duration_ms=facts.duration_ms,
                    frame_count=facts.frame_count,
                )
            )
            db.execute(
                delete(video_frame_vectors).where(video_frame_vectors.c.input_pk == input_pk)
            )
            rows = [
                {
                    "input_pk": input_pk,
                    "space": space,
                    "frame_index": frame.index,
                    "app_pk": app_pk,
                    "time_ms": frame.time_ms,
                    "vector": np.asarray(frame.vector, dtype=np.float32).tobytes(),
                }
                for space, vectors in frames.items()
                for frame in vectors
            ]
            if rows:
                db.execute(insert(video_frame_vectors), rows)

    def video_facts(self, input_pks: Sequence[int]) -> dict[int, VideoFacts]:
        if not input_pks:
            return {}
        with self._read() as db:
            rows = db.execute(
                select(video_info).where(keys_in(db, video_info.c.input_pk, list(input_pks)))
            ).all()
        return {row.input_pk: VideoFacts(row.fps, row.duration_ms, row.frame_count) for row in rows}

    def frames_token(self, app_pk: int, space: str) -> tuple[int, int]:
        """Changes when frames are added or removed (a cached matrix is then stale).

        Count and key sum: a re-ingested video writes the same vectors again (the embedding
        of the same bytes), so replacing a video's frames in place needs no new token.
        """
        return self._once_per_read(
            ("frames_token", app_pk, space), lambda: self._token(app_pk, space)
        )

    def _token(self, app_pk: int, space: str) -> tuple[int, int]:
        with self._read() as db:
            # Every visual search asks: straight to the driver.
            ((count, total),) = driver_rows(db, _FRAMES_TOKEN, (app_pk, space))
        return int(count), int(total)

    def frame_matrix(self, app_pk: int, space: str) -> FrameMatrix:
        with self._read() as db:
            rows = db.execute(
                select(
                    video_frame_vectors.c.input_pk,
                    video_frame_vectors.c.time_ms,
                    video_frame_vectors.c.vector,
                ).where(
                    video_frame_vectors.c.app_pk == app_pk, video_frame_vectors.c.space == space
                )
            ).all()
        if not rows:
            return FrameMatrix(
                np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, 0), np.float32)
            )
        return FrameMatrix(
            np.fromiter((row.input_pk for row in rows), np.int64, len(rows)),
            np.fromiter((row.time_ms for row in rows), np.int64, len(rows)),
            np.stack([np.frombuffer(row.vector, dtype=np.float32) for row in rows]),
        )
