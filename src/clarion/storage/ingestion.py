"""What an ingest job writes when an input is done, and the ``IngestionResults`` protocol.

Ingesting an image or a text ends with two writes that belong together: the input's search
data (vectors, predicted concepts, the index log) and its status. One transaction for both
halves the job's write transactions and means a reader never sees an input "done" without its
search data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class IngestedFacts:
    """What ingestion learnt of an input, stored with its success status."""

    description: str
    blob: str | None = None
    size: tuple[int, int] | None = None  # (width, height)
    image_format: str = ""


class IngestionResults(Protocol):
    def save_ingested(
        self,
        app_pk: int,
        input_pk: int,
        vectors: Mapping[str, npt.NDArray[np.float32]],
        predictions: Sequence[tuple[str, str, float]],
        facts: IngestedFacts,
    ) -> None:
        """In one transaction: what ``SearchStore.save_analysis`` stores, and the input's
        success status with ``facts``."""
        ...
