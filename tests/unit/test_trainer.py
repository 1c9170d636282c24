"""The custom-model trainer and its evaluation metrics, on synthetic embeddings."""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
import pytest

from clarion.inference.evaluation import (
    CURVE_THRESHOLDS,
    average_precision,
    evaluate,
    roc_auc,
)
from clarion.inference.trainer import (
    LinearClassifier,
    TrainOptions,
    cross_validated_scores,
    fold_of_each,
    train_classifier,
)

DIMENSIONS = 64


def clusters(
    per_class: int, classes: int, seed: int = 0, spread: float = 0.3
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float64], npt.NDArray[np.int_]]:
    """L2-normalised points around one centre per class, and their one-hot labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, DIMENSIONS))
    labels = np.repeat(np.arange(classes), per_class)
    points = centres[labels] + spread * rng.normal(size=(labels.size, DIMENSIONS))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points.astype(np.float32), np.eye(classes)[labels], labels


def test_it_learns_separable_concepts() -> None:
    vectors, targets, labels = clusters(30, 3)
    model = train_classifier(vectors, targets)
    fresh, _, fresh_labels = clusters(10, 3, seed=0, spread=0.3)
    assert (model.scores(vectors).argmax(axis=1) == labels).all()
    assert (model.scores(fresh).argmax(axis=1) == fresh_labels).mean() > 0.95
    assert model.scores(vectors)[labels == 0, 0].min() > 0.5


@pytest.mark.parametrize("count", [12, 200])
def test_training_is_deterministic(count: int) -> None:
    vectors, targets, _ = clusters(count // 2, 2)
    first = train_classifier(vectors, targets).to_bytes()
    assert train_classifier(vectors, targets).to_bytes() == first


def test_fewer_vectors_than_dimensions_is_fine() -> None:
    vectors, targets, labels = clusters(3, 2)  # 6 vectors, 64 dimensions
    model = train_classifier(vectors, targets, TrainOptions(c=100))
    assert (model.scores(vectors).argmax(axis=1) == labels).all()


def test_weights_round_trip_and_refuse_other_files() -> None:
    vectors, targets, _ = clusters(5, 2)
    model = train_classifier(vectors, targets)
    again = LinearClassifier.from_bytes(model.to_bytes())
    np.testing.assert_array_equal(again.weights, model.weights)
    np.testing.assert_array_equal(again.bias, model.bias)
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"not": "numbers"}], dtype=object))
    with pytest.raises(ValueError):
        LinearClassifier.from_bytes(buffer.getvalue())
    with pytest.raises(ValueError):
        LinearClassifier.from_bytes(b"garbage")


def test_a_concept_without_positives_scores_low() -> None:
    vectors, targets, _ = clusters(10, 2)
    targets = np.hstack([targets, np.zeros((targets.shape[0], 1))])
    scores = train_classifier(vectors, targets).scores(vectors)
    assert scores[:, 2].max() < 0.05


def test_exclusive_scores_sum_to_one() -> None:
    vectors, targets, _ = clusters(10, 3)
    scores = train_classifier(vectors, targets).scores(vectors, exclusive=True)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)


def test_scores_refuse_vectors_of_another_size() -> None:
    vectors, targets, _ = clusters(5, 2)
    model = train_classifier(vectors, targets)
    with pytest.raises(ValueError, match="dimensions"):
        model.scores(np.ones((1, DIMENSIONS + 1)))


def test_folds_are_stratified_and_balanced() -> None:
    targets = np.eye(2)[np.array([0] * 6 + [1] * 6)]
    folds = fold_of_each(targets, 3)
    for fold in range(3):
        members = targets[folds == fold]
        assert members.sum(axis=0).tolist() == [2, 2]


def test_cross_validated_scores_come_from_models_that_never_saw_the_input() -> None:
    vectors, targets, labels = clusters(10, 2)
    scores = cross_validated_scores(vectors, targets, 5)
    assert scores.shape == targets.shape
    assert (scores.argmax(axis=1) == labels).mean() > 0.9
    with pytest.raises(ValueError):
        cross_validated_scores(vectors, targets, 1)


def test_roc_auc_and_average_precision() -> None:
    positive = np.array([True, True, False, False])
    assert roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), positive) == 1.0
    assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), positive) == 0.0
    assert roc_auc(np.array([0.5, 0.5, 0.5, 0.5]), positive) == 0.5
    # Ranked: positive, negative, negative, positive: precision 1/1, then 2/4.
    assert average_precision(np.array([0.9, 0.1, 0.8, 0.2]), positive) == 0.75


def test_evaluate_counts_precision_recall_and_the_confusion_matrix() -> None:
    scores = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.7], [0.3, 0.8]])
    targets = np.array([[1, 0], [1, 0], [0, 1], [0, 1]])
    result = evaluate(scores, targets, ["cat", "dog"])
    cat, dog = result.concepts
    assert (cat.num_pos, cat.num_neg) == (2, 2)
    assert (cat.precision, cat.recall) == (1.0, 0.5)
    assert (dog.precision, dog.recall) == (2 / 3, 1.0)
    assert cat.roc_auc == 1.0
    assert len(cat.roc_tpr) == len(CURVE_THRESHOLDS)
    cells = {(c.actual, c.predicted): c.count for c in result.confusion}
    assert cells == {("cat", "cat"): 1, ("cat", "dog"): 1, ("dog", "dog"): 2}
    assert result.summary.top1_accuracy == 0.75
    assert result.summary.macro_avg_recall == 0.75


def test_metrics_without_negatives_have_no_roc_auc() -> None:
    result = evaluate(np.array([[0.9], [0.8]]), np.array([[1], [1]]), ["cat"])
    assert result.concepts[0].roc_auc is None
    assert result.summary.macro_avg_roc_auc == 0.0
