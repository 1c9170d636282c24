"""Training and evaluating custom models: the ``train_model`` and ``evaluate_model`` jobs.

Both read the app's labelled inputs as they are when the job runs: the vectors ingestion
stored (the base embedder's) and the annotated concepts, a value above 0 marking a positive
and 0 or below a negative; an input labelled with one of the model's concepts is a negative
for the others it is not labelled with.

A re-run is harmless: a version already trained (or failed) is left alone, and one found in
``MODEL_TRAINING`` (its worker died) is trained again from the start, which gives the same
weights. A job that fails for good marks its version failed, so none stays in training.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import numpy.typing as npt

from clarion.codes import (
    MODEL_EVALUATED,
    MODEL_EVALUATING,
    MODEL_EVALUATION_FAILED,
    MODEL_EVALUATION_NEED_LABELS,
    MODEL_QUEUED_FOR_EVALUATION,
    MODEL_QUEUED_FOR_TRAINING,
    MODEL_TRAINED,
    MODEL_TRAINING,
    MODEL_TRAINING_FAILED,
    MODEL_TRAINING_NO_DATA,
    MODEL_TRAINING_NO_POSITIVES,
)
from clarion.inference.evaluation import CURVE_THRESHOLDS, THRESHOLD, evaluate
from clarion.inference.trainer import TrainOptions, cross_validated_scores, train_classifier
from clarion.storage.models import ModelConcept, ModelStore, TrainingSet, VersionRecord, VersionRef

log = logging.getLogger("clarion.training")

IMAGE_SPACE = "general-image-embedding"
MAX_FOLDS = 5
# Per input, the test set keeps this many of its best-scored concepts.
TEST_SET_CONCEPTS = 10


class TrainingRefused(Exception):
    """The data cannot train this version; ``code`` is the version's final status."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


class TrainJob:
    """The handler of ``train_model`` jobs: ``{"version_pk": N}``."""

    def __init__(
        self, store: ModelStore, options: TrainOptions | None = None, space: str = IMAGE_SPACE
    ) -> None:
        self._store = store
        self._options = options or TrainOptions()
        self._space = space

    def __call__(self, payload: Mapping[str, Any]) -> None:
        version_pk = int(payload["version_pk"])
        ref = self._store.version_by_pk(version_pk)
        if ref is None or ref.version.status_code not in (
            MODEL_QUEUED_FOR_TRAINING,
            MODEL_TRAINING,
        ):
            return  # deleted, or already trained or failed: a re-run after a crash
        self._store.set_training_status(version_pk, MODEL_TRAINING, "Model is training")
        try:
            self._train(version_pk, ref)
        except TrainingRefused as refused:
            self._store.set_training_status(version_pk, refused.code, refused.description)

    def give_up(self, payload: Mapping[str, Any], error: BaseException) -> None:
        """The job failed for good on an unexpected error: say so on the version."""
        description = f"Training failed on an internal error ({type(error).__name__}: {error})"
        self._store.set_training_status(
            int(payload["version_pk"]), MODEL_TRAINING_FAILED, description
        )

    def _train(self, version_pk: int, ref: VersionRef) -> None:
        concepts = ref.version.concepts
        data = self._store.training_set(
            ref.app_pk, [c.id for c in concepts], self._space, dataset_id=_dataset_of(ref.version)
        )
        _check_data(data, concepts, _dataset_of(ref.version))
        kept = _concepts_to_train(data, concepts, ref.version.output_config)
        columns = [concepts.index(concept) for concept in kept]
        targets = data.labels[:, columns] > 0
        started = time.perf_counter()
        classifier = train_classifier(data.vectors, targets, self._options)
        fit_seconds = time.perf_counter() - started
        if not (np.isfinite(classifier.weights).all() and np.isfinite(classifier.bias).all()):
            raise TrainingRefused(MODEL_TRAINING_FAILED, "Training diverged: try fewer concepts")
        # Timed, so PostModelVersionsTrainingTimeEstimate estimates from this server's trainings.
        stats = {**_train_stats(data, concepts, kept), "fit_seconds": round(fit_seconds, 4)}
        self._store.save_trained(version_pk, classifier.to_bytes(), kept, stats)
        log.info(
            "trained version %s of model %s on %d inputs",
            ref.version.id,
            ref.model_id,
            len(targets),
        )


def _dataset_of(version: VersionRecord) -> str:
    """The dataset a version trains on ("" for all the app's inputs)."""
    return str(version.train_params.get("dataset_id") or "")


def _check_data(data: TrainingSet, concepts: Sequence[ModelConcept], dataset_id: str) -> None:
    names = ", ".join(f"'{c.id}'" for c in concepts)
    where = f"dataset '{dataset_id}'" if dataset_id else "the app"
    if data.labelled_inputs == 0:
        raise TrainingRefused(
            MODEL_TRAINING_NO_DATA,
            f"No input of {where} is annotated with the model's concepts ({names}): "
            "annotate inputs with them, then train a new version",
        )
    if len(data.input_ids) == 0:
        raise TrainingRefused(
            MODEL_TRAINING_FAILED,
            f"None of the {data.labelled_inputs} inputs annotated with the model's concepts "
            "has an image embedding (they are texts, or images not ingested yet or that "
            "failed to ingest): an embedding-classifier trains on images",
        )


def _concepts_to_train(
    data: TrainingSet, concepts: Sequence[ModelConcept], config: Mapping[str, Any]
) -> list[ModelConcept]:
    """The concepts with positives; all of them when ``fail_on_missing_positive_examples``.

    Concepts without a positive example are left out of the version (like Clarifai's default),
    unless none has one or the config asks to fail instead.
    """
    positives = (data.labels > 0).sum(axis=0)
    missing = [c for c, count in zip(concepts, positives, strict=True) if count == 0]
    if missing and (
        len(missing) == len(concepts) or config.get("fail_on_missing_positive_examples")
    ):
        raise TrainingRefused(MODEL_TRAINING_NO_POSITIVES, _no_positives(data, concepts, missing))
    return [c for c in concepts if c not in missing]


def _no_positives(
    data: TrainingSet, concepts: Sequence[ModelConcept], missing: Sequence[ModelConcept]
) -> str:
    negatives = (data.labels < 0).sum(axis=0)
    parts = [
        f"'{concept.id}' ({int(negatives[concepts.index(concept)])} inputs carry it with value 0)"
        for concept in missing
    ]
    return (
        f"No positive examples for concept {', '.join(parts)}: a concept with value 0 marks "
        "a negative. Over gRPC an unset Concept.value reads as 0, so send value 1 for the "
        "inputs that show the concept"
    )


def _train_stats(
    data: TrainingSet, concepts: Sequence[ModelConcept], kept: Sequence[ModelConcept]
) -> dict[str, Any]:
    positives = (data.labels > 0).sum(axis=0)
    explicit = (data.labels < 0).sum(axis=0)
    return {
        "total_input_count": len(data.input_ids),
        "labelled_input_count": data.labelled_inputs,
        "positives": {c.id: int(positives[i]) for i, c in enumerate(concepts)},
        "explicit_negatives": {c.id: int(explicit[i]) for i, c in enumerate(concepts)},
        "skipped_concepts": [c.id for c in concepts if c not in kept],
    }


class EvaluateJob:
    """The handler of ``evaluate_model`` jobs: cross-validates a version's training recipe.

    Each of up to five folds of the app's labelled inputs is scored by a model trained the
    same way on the others; metrics compare those out-of-fold scores with the labels.
    """

    def __init__(
        self, store: ModelStore, options: TrainOptions | None = None, space: str = IMAGE_SPACE
    ) -> None:
        self._store = store
        self._options = options or TrainOptions()
        self._space = space

    def __call__(self, payload: Mapping[str, Any]) -> None:
        version_pk = int(payload["version_pk"])
        ref = self._store.version_by_pk(version_pk)
        waiting = (MODEL_QUEUED_FOR_EVALUATION, MODEL_EVALUATING)
        if ref is None or ref.version.metrics_status_code not in waiting:
            return
        self._store.set_metrics(version_pk, MODEL_EVALUATING, "Model is being evaluated")
        try:
            metrics = self._evaluate(ref)
        except TrainingRefused as refused:
            self._store.set_metrics(version_pk, refused.code, refused.description)
            return
        self._store.set_metrics(version_pk, MODEL_EVALUATED, "Model was evaluated", metrics)

    def give_up(self, payload: Mapping[str, Any], error: BaseException) -> None:
        description = f"Evaluation failed on an internal error ({type(error).__name__}: {error})"
        self._store.set_metrics(int(payload["version_pk"]), MODEL_EVALUATION_FAILED, description)

    def _evaluate(self, ref: VersionRef) -> dict[str, Any]:
        return cross_validated_metrics(self._store, ref, self._options, self._space)


def cross_validated_metrics(
    store: ModelStore, ref: VersionRef, options: TrainOptions, space: str
) -> dict[str, Any]:
    """Metrics of the version's training recipe, cross-validated on the inputs it trains on.

    Raises ``TrainingRefused`` when the version is not trained or the labels cannot tell."""
    _check_trained(ref)
    concepts = ref.version.concepts
    ids = [c.id for c in concepts]
    data = store.training_set(ref.app_pk, ids, space, dataset_id=_dataset_of(ref.version))
    targets = data.labels > 0
    _check_labels(data, targets, concepts)
    folds = min(MAX_FOLDS, len(data.input_ids))
    scores = cross_validated_scores(
        data.vectors, targets, folds, options, exclusive=is_exclusive(ref.version)
    )
    return metrics_json(data.input_ids, scores, targets, ids, folds=folds)


def is_exclusive(version: VersionRecord) -> bool:
    """Whether the version's concepts are mutually exclusive (softmax scores)."""
    return bool(version.output_config.get("concepts_mutually_exclusive"))


def _check_trained(ref: VersionRef) -> None:
    if ref.version.status_code != MODEL_TRAINED:
        raise TrainingRefused(MODEL_EVALUATION_FAILED, "Only a trained version is evaluated")


def metrics_json(
    input_ids: Sequence[str],
    scores: npt.NDArray[np.float32],
    targets: npt.NDArray[np.bool_],
    concept_ids: list[str],
    *,
    folds: int,
) -> dict[str, Any]:
    """The stored form of an evaluation (``folds`` 0: scores of the trained version itself)."""
    evaluation = evaluate(scores, targets, concept_ids)
    return {
        "folds": folds,
        "input_count": len(input_ids),
        "threshold": THRESHOLD,
        "curve_thresholds": list(CURVE_THRESHOLDS),
        "summary": asdict(evaluation.summary),
        "concepts": [asdict(metrics) for metrics in evaluation.concepts],
        "confusion": [asdict(cell) for cell in evaluation.confusion],
        "test_set": _test_set(input_ids, scores, targets, concept_ids),
    }


def _check_labels(
    data: TrainingSet, targets: npt.NDArray[np.bool_], concepts: Sequence[ModelConcept]
) -> None:
    if len(data.input_ids) < 2:
        raise TrainingRefused(
            MODEL_EVALUATION_NEED_LABELS,
            f"Evaluation needs at least 2 labelled inputs with embeddings, "
            f"the app has {len(data.input_ids)}",
        )
    lacking = [c.id for c, count in zip(concepts, targets.sum(axis=0), strict=True) if not count]
    if lacking:
        raise TrainingRefused(
            MODEL_EVALUATION_NEED_LABELS,
            f"Concepts without positive inputs cannot be evaluated: {', '.join(lacking)}",
        )


def _test_set(
    input_ids: Sequence[str],
    scores: npt.NDArray[np.float32],
    targets: npt.NDArray[np.bool_],
    concept_ids: Sequence[str],
) -> list[dict[str, Any]]:
    """Per input: its best out-of-fold scores and its true concepts."""
    entries = []
    for row, input_id in enumerate(input_ids):
        best = np.argsort(-scores[row], kind="stable")[:TEST_SET_CONCEPTS]
        entries.append(
            {
                "input_id": input_id,
                "predicted": [[concept_ids[int(j)], float(scores[row, j])] for j in best],
                "truth": [concept_ids[int(j)] for j in np.flatnonzero(targets[row])],
            }
        )
    return entries
