"""Custom models, their versions and workflows: the records and the ``ModelStore`` protocol.

A new model version and the job that trains it are written in one transaction, and so are an
evaluation request and its job: a version a client was told about always gets trained (or is
marked failed), even across a restart. Weights are opaque bytes here; ``clarion.inference``
knows their format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from clarion.codes import MODEL_NOT_EVALUATED, MODEL_QUEUED_FOR_TRAINING
from clarion.storage.base import Page

TRAIN_MODEL_JOB = "train_model"
EVALUATE_MODEL_JOB = "evaluate_model"


@dataclass(frozen=True, slots=True)
class ModelConcept:
    """A concept a model predicts: its id in the app and the name it is shown with."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """A custom model of an app; ``output_config`` is Clarifai's OutputConfig as JSON."""

    id: str
    model_type_id: str
    name: str = ""
    description: str = ""
    notes: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    concepts: tuple[ModelConcept, ...] = ()
    output_config: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    modified_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """One training of a model: what it was asked to learn, where it stands, what it learned.

    ``concepts`` are those asked for until training ends, then those actually trained.
    ``train_stats`` and ``metrics`` are plain JSON written by the training and evaluation jobs.
    ``train_params`` are the checked training parameters (``dataset_id``, ``enrich_dataset``).
    """

    id: str
    model_id: str
    status_code: int = MODEL_QUEUED_FOR_TRAINING
    status_description: str = ""
    description: str = ""
    concepts: tuple[ModelConcept, ...] = ()
    output_config: Mapping[str, Any] = field(default_factory=dict)
    weights: bytes | None = None
    train_stats: Mapping[str, Any] = field(default_factory=dict)
    metrics_status_code: int = MODEL_NOT_EVALUATED
    metrics_description: str = ""
    metrics: Mapping[str, Any] | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None
    completed_at: datetime | None = None
    pk: int | None = None
    train_params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WorkflowRecord:
    """A workflow of an app; ``nodes`` are the node specs as JSON, in the order given."""

    id: str
    nodes: tuple[Mapping[str, Any], ...] = ()
    description: str = ""
    notes: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    modified_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class VersionRef:
    """Where a version lives, for jobs that know only its storage key."""

    app_pk: int
    model_id: str
    version: VersionRecord


@dataclass(frozen=True, slots=True)
class TrainingSet:
    """The app's inputs labelled with some of the concepts, with their vectors.

    ``labels[i, j]`` is 1.0 when input ``i`` is annotated with concept ``j`` with a value
    above 0, -1.0 when only with a value of 0 or below (an explicit negative), 0.0 when it is
    not annotated with that concept. ``labelled_inputs`` counts the labelled inputs with or
    without a vector (text inputs and failed ingestions have none).
    """

    input_ids: tuple[str, ...]
    vectors: npt.NDArray[np.float32]
    labels: npt.NDArray[np.float32]
    labelled_inputs: int


class ModelStore(Protocol):
    """Custom models, versions and workflows of apps, by the app's ``pk``, and the labelled
    vectors training reads."""

    def create_model(self, app_pk: int, record: ModelRecord) -> ModelRecord: ...
    def lookup_model(self, app_pk: int, model_id: str) -> ModelRecord | None:
        """``get_model``, remembering for ``absent_seconds`` that the app has no such model.

        Every prediction asks whether its model id is one of the app's custom models, and
        nearly always it is a built-in one: the remembered answer saves a query a call. A
        model created through this store is found at once; one created through another
        process, within ``absent_seconds``.
        """
        ...

    def forget_absence(self, app_pk: int, model_id: str) -> None:
        """Find ``model_id`` at once from now: a model renamed to it exists."""
        ...

    def get_model(self, app_pk: int, model_id: str) -> ModelRecord | None: ...
    def list_models(self, app_pk: int) -> list[ModelRecord]:
        """Every custom model of the app, newest first (apps hold few models)."""
        ...

    def update_model(self, app_pk: int, record: ModelRecord) -> ModelRecord: ...
    def delete_models(self, app_pk: int, ids: Sequence[str] | None) -> list[str]:
        """Delete models (all of the app's when ``ids`` is None) and their versions."""
        ...

    def create_version(
        self, app_pk: int, model_id: str, version: VersionRecord, model_concepts: bool
    ) -> VersionRecord:
        """Store a version queued for training and its training job, in one transaction.

        With ``model_concepts`` the model's concept list becomes the version's.
        """
        ...

    def get_version(self, app_pk: int, model_id: str, version_id: str) -> VersionRecord | None: ...
    def list_versions(
        self, app_pk: int, model_id: str, page: Page, *, trained_only: bool = False
    ) -> list[VersionRecord]:
        """A page of the model's versions, newest first."""
        ...

    def latest_version(
        self, app_pk: int, model_id: str, *, trained_only: bool = False
    ) -> VersionRecord | None: ...
    def delete_version(self, app_pk: int, model_id: str, version_id: str) -> bool: ...
    def version_by_pk(self, version_pk: int) -> VersionRef | None:
        """A version with its app and model (for jobs, which know only its pk)."""
        ...

    def set_training_status(self, version_pk: int, code: int, description: str) -> None:
        """Record where training stands; a final status also sets ``completed_at``."""
        ...

    def save_trained(
        self,
        version_pk: int,
        weights: bytes,
        concepts: Sequence[ModelConcept],
        stats: Mapping[str, Any],
    ) -> None:
        """Store what training learned and mark the version trained, at once."""
        ...

    def request_evaluation(self, version_pk: int) -> bool:
        """Queue an evaluation, unless one is queued or running; True if one was queued."""
        ...

    def set_metrics(
        self,
        version_pk: int,
        code: int,
        description: str,
        metrics: Mapping[str, Any] | None = None,
    ) -> None: ...
    def training_set(
        self,
        app_pk: int,
        concept_ids: Sequence[str],
        space: str,
        *,
        dataset_id: str = "",
        every_input: bool = False,
    ) -> TrainingSet:
        """The app's inputs annotated with any of ``concept_ids``, with their ``space`` vectors.

        An input annotated with a concept several times counts as positive if any of those
        annotations is. Inputs come in storage order, so the set is the same on every read.
        ``dataset_id`` keeps only that dataset's inputs; ``every_input`` keeps its inputs
        annotated with none of the concepts too (negatives for all of them), as evaluating
        against a dataset does.
        """
        ...

    def create_workflows(
        self, app_pk: int, records: Sequence[WorkflowRecord]
    ) -> list[WorkflowRecord]:
        """Store workflows, each with its first version (``clarion.storage.workflow_versions``)
        in the same transaction."""
        ...

    def get_workflow(self, app_pk: int, workflow_id: str) -> WorkflowRecord | None: ...
    def list_workflows(self, app_pk: int, page: Page) -> list[WorkflowRecord]: ...
    def update_workflow(self, app_pk: int, record: WorkflowRecord) -> WorkflowRecord:
        """Store the workflow, and a new version of it in the same transaction when its nodes
        differ from its newest version's."""
        ...

    def delete_workflows(self, app_pk: int, ids: Sequence[str] | None) -> list[str]:
        """Delete workflows (all of the app's when ``ids`` is None); the ids deleted."""
        ...

    def default_workflow_id(self, app_pk: int) -> str:
        """The app's base workflow id ("" when it has none, or the app is gone)."""
        ...
