"""Evaluations of trained model versions: the records and the ``EvaluationStore`` protocol.

An evaluation and the job that computes it are written in one transaction, as a version and
its training are: one a client was told about always ends evaluated or failed. Its metrics
are plain JSON, in the shape ``clarion.jobs.training`` writes for a version's own metrics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from clarion.codes import MODEL_QUEUED_FOR_EVALUATION
from clarion.storage.base import Page

RUN_EVALUATION_JOB = "run_evaluation"


@dataclass(frozen=True, slots=True)
class EvaluationRecord:
    """One evaluation of one version; ``dataset_id`` "" means cross-validated on the app's
    labelled inputs. ``model_id`` and ``version_id`` name the version evaluated."""

    id: str
    model_id: str
    version_id: str
    dataset_id: str = ""
    status_code: int = MODEL_QUEUED_FOR_EVALUATION
    status_description: str = "Queued for evaluation"
    metrics: Mapping[str, Any] | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None
    version_pk: int | None = None
    pk: int | None = None


@dataclass(frozen=True, slots=True)
class EvaluationFilter:
    """Which of an app's evaluations a listing keeps (empty: any)."""

    model_id: str = ""
    version_id: str = ""
    model_type_id: str = ""
    dataset_ids: Sequence[str] = ()
    with_failed: bool = True  # False: only those evaluated or on their way


class EvaluationStore(Protocol):
    """Evaluations of an app's model versions, by the app's ``pk``."""

    def create_evaluations(
        self, app_pk: int, records: Sequence[EvaluationRecord]
    ) -> list[EvaluationRecord]:
        """Store queued evaluations and queue their jobs, all or none (an id taken: none)."""
        ...

    def get_evaluation(self, app_pk: int, evaluation_id: str) -> EvaluationRecord | None: ...
    def list_evaluations(
        self,
        app_pk: int,
        page: Page,
        chosen: EvaluationFilter | None = None,
        *,
        ascending: bool = False,
    ) -> list[EvaluationRecord]:
        """A page of the app's evaluations, newest first (oldest first if ``ascending``)."""
        ...

    def evaluation_by_pk(self, pk: int) -> tuple[int, EvaluationRecord] | None:
        """An evaluation with its app's pk (for the job, which knows only the row's pk)."""
        ...

    def set_evaluation_status(
        self, pk: int, code: int, description: str, metrics: Mapping[str, Any] | None = None
    ) -> None: ...
