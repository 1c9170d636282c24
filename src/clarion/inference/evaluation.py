"""Evaluation metrics of a multi-label classifier from its scores and the true labels.

Plain numpy, as JSON-ready dataclasses: per-concept counts, precision, recall, F1 (at a
threshold), ROC AUC (exact, ties counted half), average precision, ROC and precision-recall
curves on a fixed threshold grid; a confusion matrix of true concepts against each input's
top-scored concept; the macro summary Clarifai's ``MetricsSummary`` carries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

THRESHOLD = 0.5
# Curve points at 0.00, 0.05, ..., 1.00: small enough to store, fine enough to plot.
CURVE_THRESHOLDS = tuple(round(step * 0.05, 2) for step in range(21))

Scores = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class ConceptMetrics:
    """How well one concept is told apart, over the evaluated inputs.

    ``precision``, ``recall`` and ``f1`` are at ``THRESHOLD``; ``roc_auc`` and
    ``avg_precision`` are None when the concept has no positives or no negatives.
    The curves hold one point per ``CURVE_THRESHOLDS`` entry.
    """

    concept_id: str
    num_pos: int
    num_neg: int
    precision: float
    recall: float
    f1: float
    roc_auc: float | None
    avg_precision: float | None
    roc_fpr: tuple[float, ...]
    roc_tpr: tuple[float, ...]
    pr_precision: tuple[float, ...]
    pr_recall: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class ConfusionCell:
    """How many inputs truly of ``actual`` had ``predicted`` as their top concept."""

    actual: str
    predicted: str
    count: int


@dataclass(frozen=True, slots=True)
class Summary:
    """Macro averages over concepts (those with both classes, for ROC AUC)."""

    top1_accuracy: float
    top5_accuracy: float
    macro_avg_roc_auc: float
    macro_std_roc_auc: float
    macro_avg_f1_score: float
    macro_std_f1_score: float
    macro_avg_precision: float
    macro_avg_recall: float


@dataclass(frozen=True, slots=True)
class Evaluation:
    summary: Summary
    concepts: tuple[ConceptMetrics, ...]
    confusion: tuple[ConfusionCell, ...]


def evaluate(scores: npt.ArrayLike, targets: npt.ArrayLike, concept_ids: list[str]) -> Evaluation:
    """Metrics for ``scores`` ``(n, k)`` against ``targets`` ``(n, k)`` (above 0: positive)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(targets) > 0
    if s.shape != y.shape or s.shape[1] != len(concept_ids):
        raise ValueError(f"scores {s.shape}, targets {y.shape}, {len(concept_ids)} concepts")
    concepts = tuple(
        concept_metrics(concept_id, s[:, j], y[:, j]) for j, concept_id in enumerate(concept_ids)
    )
    return Evaluation(_summary(s, y, concepts), concepts, _confusion(s, y, concept_ids))


def concept_metrics(
    concept_id: str, scores: npt.NDArray[np.float64], positive: npt.NDArray[np.bool_]
) -> ConceptMetrics:
    num_pos = int(positive.sum())
    num_neg = int(positive.size - num_pos)
    predicted = scores >= THRESHOLD
    true_pos = int((predicted & positive).sum())
    precision = true_pos / int(predicted.sum()) if predicted.any() else 0.0
    recall = true_pos / num_pos if num_pos else 0.0
    both = num_pos > 0 and num_neg > 0
    fpr, tpr, curve_precision, curve_recall = _curves(scores, positive)
    return ConceptMetrics(
        concept_id=concept_id,
        num_pos=num_pos,
        num_neg=num_neg,
        precision=precision,
        recall=recall,
        f1=_f1(precision, recall),
        roc_auc=roc_auc(scores, positive) if both else None,
        avg_precision=average_precision(scores, positive) if num_pos else None,
        roc_fpr=fpr,
        roc_tpr=tpr,
        pr_precision=curve_precision,
        pr_recall=curve_recall,
    )


def roc_auc(scores: npt.NDArray[np.float64], positive: npt.NDArray[np.bool_]) -> float:
    """The chance a random positive scores above a random negative (ties count half)."""
    ranks = _average_ranks(scores)
    num_pos = int(positive.sum())
    num_neg = positive.size - num_pos
    rank_sum = float(ranks[positive].sum())
    return (rank_sum - num_pos * (num_pos + 1) / 2) / (num_pos * num_neg)


def average_precision(scores: npt.NDArray[np.float64], positive: npt.NDArray[np.bool_]) -> float:
    """Precision averaged at the rank of each positive, best score first (ties kept in order)."""
    order = np.argsort(-scores, kind="stable")
    hits = positive[order]
    precision_at = np.cumsum(hits) / np.arange(1, hits.size + 1)
    return float(precision_at[hits].mean())


def _average_ranks(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Ranks from 1, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    ranks = np.empty(values.size, dtype=np.float64)
    start = 0
    while start < values.size:
        end = start
        while end + 1 < values.size and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def _curves(
    scores: npt.NDArray[np.float64], positive: npt.NDArray[np.bool_]
) -> tuple[tuple[float, ...], ...]:
    num_pos = max(int(positive.sum()), 1)
    num_neg = max(int((~positive).sum()), 1)
    fpr, tpr, precision, recall = [], [], [], []
    for threshold in CURVE_THRESHOLDS:
        predicted = scores >= threshold
        true_pos = int((predicted & positive).sum())
        false_pos = int((predicted & ~positive).sum())
        fpr.append(false_pos / num_neg)
        tpr.append(true_pos / num_pos)
        # With nothing predicted, precision is 1 by convention (no false positives).
        precision.append(true_pos / (true_pos + false_pos) if true_pos + false_pos else 1.0)
        recall.append(true_pos / num_pos)
    return tuple(fpr), tuple(tpr), tuple(precision), tuple(recall)


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _summary(
    scores: npt.NDArray[np.float64],
    positive: npt.NDArray[np.bool_],
    concepts: tuple[ConceptMetrics, ...],
) -> Summary:
    aucs = [c.roc_auc for c in concepts if c.roc_auc is not None]
    f1s = [c.f1 for c in concepts]
    return Summary(
        top1_accuracy=_top_k_accuracy(scores, positive, 1),
        top5_accuracy=_top_k_accuracy(scores, positive, 5),
        macro_avg_roc_auc=float(np.mean(aucs)) if aucs else 0.0,
        macro_std_roc_auc=float(np.std(aucs)) if aucs else 0.0,
        macro_avg_f1_score=float(np.mean(f1s)) if f1s else 0.0,
        macro_std_f1_score=float(np.std(f1s)) if f1s else 0.0,
        macro_avg_precision=float(np.mean([c.precision for c in concepts])) if concepts else 0.0,
        macro_avg_recall=float(np.mean([c.recall for c in concepts])) if concepts else 0.0,
    )


def _top_k_accuracy(
    scores: npt.NDArray[np.float64], positive: npt.NDArray[np.bool_], k: int
) -> float:
    """Among inputs with a true concept, how many have one among their ``k`` top scores."""
    labelled = positive.any(axis=1)
    if not labelled.any():
        return 0.0
    top = np.argsort(-scores[labelled], axis=1, kind="stable")[:, :k]
    hit = np.take_along_axis(positive[labelled], top, axis=1).any(axis=1)
    return float(hit.mean())


def _confusion(
    scores: npt.NDArray[np.float64], positive: npt.NDArray[np.bool_], concept_ids: list[str]
) -> tuple[ConfusionCell, ...]:
    """For each true concept of each input, that input's top-scored concept, counted."""
    counts: dict[tuple[int, int], int] = {}
    top = np.argmax(scores, axis=1) if scores.size else np.empty(0, dtype=np.int64)
    for row, best in enumerate(top):
        for actual in np.flatnonzero(positive[row]):
            key = (int(actual), int(best))
            counts[key] = counts.get(key, 0) + 1
    return tuple(
        ConfusionCell(concept_ids[actual], concept_ids[predicted], count)
        for (actual, predicted), count in sorted(counts.items())
    )
