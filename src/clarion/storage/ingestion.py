"""What an ingest job writes when an input is done, and the ``IngestionResults`` protocol.

Ingesting an image or a text ends with two writes that belong together: the input's search
data (vectors, predicted concepts, the index log) and its status. One transaction for both
halves the job's write transactions and means a reader never sees an input "done" without its
search data.

Workers ingest inputs in batches (``save_batch``): every input's outcome, and the finishing of
the batch's jobs, are one transaction, so a batch costs one write however many inputs it holds,
and no job is marked done without its input's results (nor the other way round).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from clarion.storage.jobs import JobRecord


@dataclass(frozen=True, slots=True)
class IngestedFacts:
    """What ingestion learnt of an input, stored with its success status."""

    description: str
    blob: str | None = None
    size: tuple[int, int] | None = None  # (width, height)
    image_format: str = ""


@dataclass(frozen=True, slots=True)
class IngestedInput:
    """An input ingested: what search keeps of it, and what its success status says."""

    app_pk: int
    input_pk: int
    vectors: Mapping[str, npt.NDArray[np.float32]]
    predictions: Sequence[tuple[str, str, float]]
    facts: IngestedFacts


@dataclass(frozen=True, slots=True)
class RejectedInput:
    """An input that cannot be ingested (undecodable, unreachable): its failure status."""

    input_pk: int
    description: str


class IngestionResults(Protocol):
    def save_batch(
        self,
        ingested: Sequence[IngestedInput],
        rejected: Sequence[RejectedInput],
        finished: Sequence[JobRecord],
    ) -> set[int]:
        """In one transaction: each ingested input's search data (what
        ``SearchStore.save_analysis`` stores) and success status with its facts, each
        rejected input's failure status, and the ``finished`` jobs marked done. A job is
        finished only while its lease token still holds it; the pks of those finished."""
        ...
