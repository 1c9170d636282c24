"""The ``run_evaluation`` job: computes one evaluation of the evaluation API.

Without a dataset it cross-validates the version's training recipe, as the version's own
metrics do. With a dataset it scores the dataset's inputs with the trained version itself and
compares those scores with the inputs' annotations: every input of the dataset that has an
image embedding counts, one annotated with none of the version's concepts being a negative
for all of them. A re-run after a crash computes the same metrics again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from clarion.codes import (
    MODEL_EVALUATED,
    MODEL_EVALUATING,
    MODEL_EVALUATION_FAILED,
    MODEL_EVALUATION_NEED_LABELS,
    MODEL_QUEUED_FOR_EVALUATION,
    MODEL_TRAINED,
)
from clarion.inference.trainer import LinearClassifier, TrainOptions
from clarion.jobs.training import (
    IMAGE_SPACE,
    TrainingRefused,
    cross_validated_metrics,
    is_exclusive,
    metrics_json,
)
from clarion.storage.evaluations import EvaluationRecord, EvaluationStore
from clarion.storage.models import ModelStore, VersionRef

log = logging.getLogger("clarion.evaluation")


class EvaluationJob:
    """The handler of ``run_evaluation`` jobs: ``{"evaluation_pk": N}``."""

    def __init__(
        self,
        evaluations: EvaluationStore,
        models: ModelStore,
        options: TrainOptions | None = None,
        space: str = IMAGE_SPACE,
    ) -> None:
        self._evaluations = evaluations
        self._models = models
        self._options = options or TrainOptions()
        self._space = space

    def __call__(self, payload: Mapping[str, Any]) -> None:
        pk = int(payload["evaluation_pk"])
        found = self._evaluations.evaluation_by_pk(pk)
        waiting = (MODEL_QUEUED_FOR_EVALUATION, MODEL_EVALUATING)
        if found is None or found[1].status_code not in waiting:
            return  # deleted with its version, or already done: a re-run after a crash
        record = found[1]
        self._evaluations.set_evaluation_status(pk, MODEL_EVALUATING, "Model is being evaluated")
        try:
            metrics = self._metrics(record)
        except TrainingRefused as refused:
            self._evaluations.set_evaluation_status(pk, refused.code, refused.description)
            return
        self._evaluations.set_evaluation_status(pk, MODEL_EVALUATED, "Model was evaluated", metrics)
        log.info("evaluation %s of model %s done", record.id, record.model_id)

    def give_up(self, payload: Mapping[str, Any], error: BaseException) -> None:
        description = f"Evaluation failed on an internal error ({type(error).__name__}: {error})"
        self._evaluations.set_evaluation_status(
            int(payload["evaluation_pk"]), MODEL_EVALUATION_FAILED, description
        )

    def _metrics(self, record: EvaluationRecord) -> dict[str, Any]:
        assert record.version_pk is not None
        ref = self._models.version_by_pk(record.version_pk)
        if ref is None:
            raise TrainingRefused(MODEL_EVALUATION_FAILED, "The version evaluated is gone")
        if not record.dataset_id:
            return cross_validated_metrics(self._models, ref, self._options, self._space)
        return self._against_dataset(ref, record.dataset_id)

    def _against_dataset(self, ref: VersionRef, dataset_id: str) -> dict[str, Any]:
        version = ref.version
        if version.status_code != MODEL_TRAINED or version.weights is None:
            raise TrainingRefused(MODEL_EVALUATION_FAILED, "Only a trained version is evaluated")
        ids = [c.id for c in version.concepts]
        data = self._models.training_set(
            ref.app_pk, ids, self._space, dataset_id=dataset_id, every_input=True
        )
        if len(data.input_ids) == 0:
            raise TrainingRefused(
                MODEL_EVALUATION_NEED_LABELS,
                f"Dataset '{dataset_id}' has no image input with an embedding to evaluate on",
            )
        classifier = LinearClassifier.from_bytes(version.weights)
        scores = classifier.scores(data.vectors, exclusive=is_exclusive(version))
        return metrics_json(data.input_ids, scores, data.labels > 0, ids, folds=0)
