"""Training custom classifiers on image embeddings: one-vs-rest logistic regression in numpy.

Each concept gets its own logistic regression (multi-label: an input may have several
concepts), all fitted together by accelerated gradient descent on the L2-regularised mean log
loss, preconditioned by the inverse of a bound on the loss' curvature (a quarter of the
features' second moment, plus the penalty), so a few dozen steps converge. Features are
centred first, which decouples the bias from the weights. Everything is deterministic: the
same vectors and labels give the same weights, bit for bit, on one machine.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]
Floats = npt.NDArray[np.float32]

# The logistic loss' curvature is at most 1/4 of the features' second moment.
_LOGISTIC_CURVATURE = 0.25
_CHECK_EVERY = 10


@dataclass(frozen=True, slots=True)
class TrainOptions:
    """How hard to fit: ``c`` is the inverse regularisation strength, as in scikit-learn.

    The penalty on the mean loss is ``1 / (c * n)`` for ``n`` examples, so more data means
    less regularisation. Fitting stops when a further gradient step would lower any concept's
    loss by less than ``tolerance``, or after ``max_iterations``.
    """

    c: float = 10.0
    max_iterations: int = 300
    tolerance: float = 1e-6


@dataclass(frozen=True, slots=True)
class LinearClassifier:
    """Per-concept weights ``(k, d)`` and biases ``(k,)``: a score is ``sigmoid(w . x + b)``."""

    weights: Floats
    bias: Floats

    @property
    def concept_count(self) -> int:
        return int(self.weights.shape[0])

    @property
    def dimensions(self) -> int:
        return int(self.weights.shape[1])

    def scores(self, vectors: npt.ArrayLike, *, exclusive: bool = False) -> Floats:
        """Scores in [0, 1] for each vector and concept, ``(n, k)``.

        Independent sigmoids by default; with ``exclusive`` (the concepts are mutually
        exclusive) a softmax over the concepts, so each row sums to 1.
        """
        rows = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        if rows.shape[1] != self.dimensions:
            raise ValueError(f"vectors have {rows.shape[1]} dimensions, not {self.dimensions}")
        logits = (self.weights.astype(np.float64) @ rows.T.astype(np.float64)).T + self.bias
        if exclusive:
            shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
            softmax: Floats = (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)
            return softmax
        sigmoid: Floats = _sigmoid(logits).astype(np.float32)
        return sigmoid

    def to_bytes(self) -> bytes:
        """The weights as one ``.npy`` array ``(k, d + 1)``, the bias in the last column."""
        buffer = io.BytesIO()
        np.save(buffer, np.hstack([self.weights, self.bias[:, None]]).astype(np.float32))
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> LinearClassifier:
        """Read what ``to_bytes`` wrote (no pickles: the file is plain numbers)."""
        packed = np.load(io.BytesIO(data), allow_pickle=False)
        if packed.ndim != 2 or packed.shape[1] < 2 or packed.dtype != np.float32:
            raise ValueError("not a classifier's weights: expected a float32 (k, d + 1) array")
        return cls(weights=packed[:, :-1].copy(), bias=packed[:, -1].copy())


def train_classifier(
    vectors: npt.ArrayLike, targets: npt.ArrayLike, options: TrainOptions | None = None
) -> LinearClassifier:
    """Fit one logistic regression per column of ``targets`` (1 positive, 0 negative).

    ``vectors`` is ``(n, d)``, ``targets`` is ``(n, k)``. A column without positives or
    without negatives still trains: its bias settles near the one class it has.
    """
    options = options or TrainOptions()
    x = np.asarray(vectors, dtype=np.float32)
    y = (np.asarray(targets) > 0).astype(np.float32)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"need (n, d) vectors and (n, k) targets, got {x.shape} and {y.shape}")
    mean = x.mean(axis=0, dtype=np.float64)
    centred = (x - mean.astype(np.float32)).astype(np.float64)
    l2 = 1.0 / (options.c * x.shape[0])
    problem: _Primal | _Dual = (
        _Dual(centred, l2) if x.shape[0] < x.shape[1] else _Primal(centred, l2)
    )
    params, bias = _fit(problem, y.astype(np.float64), options)
    weights = problem.weights(params)
    # Undo the centring: w . (x - mean) + b == w . x + (b - w . mean).
    return LinearClassifier(
        weights=weights.astype(np.float32), bias=(bias - weights @ mean).astype(np.float32)
    )


# Both forms step along the gradient times the inverse of the loss' curvature bound
# ``B = C / 4 + l2 I`` (``C``: the centred features' second moment). That step is safe, as
# ``B`` bounds the Hessian, and fast: embeddings are strongly correlated, their variances
# spanning orders of magnitude, and ``B^-1`` undoes that, so a few dozen steps converge.


class _Primal:
    """Weights as ``(d, k)`` columns, for at least as many examples as dimensions.

    Every product has a long first dimension, which multithreaded BLAS handles well (with
    ``k`` rows first, OpenBLAS ran 20 times slower on a busy machine).
    """

    def __init__(self, x: Matrix, l2: float) -> None:
        # The big products run in float32 (twice as fast); what accumulates stays float64.
        self.x, self.l2 = x.astype(np.float32), l2
        bound = _LOGISTIC_CURVATURE * (self.x.T @ self.x).astype(np.float64) / x.shape[0]
        bound[np.diag_indices_from(bound)] += l2
        self._inverse: Matrix = np.linalg.inv(bound)

    def zeros(self, k: int) -> Matrix:
        return np.zeros((self.x.shape[1], k))

    def logits(self, params: Matrix) -> Matrix:
        result: Matrix = (self.x @ params.astype(np.float32)).astype(np.float64)
        return result

    def gradient(self, error: Matrix, params: Matrix) -> Matrix:
        product = (self.x.T @ error.astype(np.float32)).astype(np.float64)
        result: Matrix = product / self.x.shape[0] + self.l2 * params
        return result

    def step(self, gradient: Matrix) -> Matrix:
        result: Matrix = self._inverse @ gradient
        return result

    def gain(self, gradient: Matrix, step: Matrix) -> Matrix:
        result: Matrix = 0.5 * (gradient * step).sum(axis=0)
        return result

    def weights(self, params: Matrix) -> Matrix:
        result: Matrix = params.T
        return result


class _Dual:
    """Weights as ``x.T @ params`` with ``params`` ``(n, k)``, for fewer examples than dims.

    The regularised optimum lies in the span of the examples, so nothing is lost, and all
    the algebra is ``n x n``: ``B^-1 x.T = x.T (l2 I + G / 4n)^-1`` with ``G = x x.T``.
    """

    def __init__(self, x: Matrix, l2: float) -> None:
        self.x, self.l2 = x, l2
        n = x.shape[0]
        self._gram: Matrix = x @ x.T
        core = self._gram * (_LOGISTIC_CURVATURE / n)
        core[np.diag_indices_from(core)] += l2
        self._inverse: Matrix = np.linalg.inv(core)

    def zeros(self, k: int) -> Matrix:
        return np.zeros((self.x.shape[0], k))

    def logits(self, params: Matrix) -> Matrix:
        result: Matrix = self._gram @ params
        return result

    def gradient(self, error: Matrix, params: Matrix) -> Matrix:
        # The weights' gradient is x.T times this: x.T (error / n + l2 params).
        result: Matrix = error / self.x.shape[0] + self.l2 * params
        return result

    def step(self, gradient: Matrix) -> Matrix:
        result: Matrix = self._inverse @ gradient
        return result

    def gain(self, gradient: Matrix, step: Matrix) -> Matrix:
        result: Matrix = 0.5 * (gradient * (self._gram @ step)).sum(axis=0)
        return result

    def weights(self, params: Matrix) -> Matrix:
        result: Matrix = (self.x.T @ params).T
        return result


def _fit(problem: _Primal | _Dual, y: Matrix, options: TrainOptions) -> tuple[Matrix, Matrix]:
    """Nesterov-accelerated, preconditioned gradient descent from zero weights.

    The features are centred, so the bias decouples from the weights and takes its own
    step (its curvature bound is ``1/4``).
    """
    bias_step = 1.0 / _LOGISTIC_CURVATURE
    params = problem.zeros(y.shape[1])
    rate = np.clip(y.mean(axis=0), 1e-3, 1 - 1e-3)
    bias = np.log(rate / (1 - rate))
    ahead_p, ahead_b, momentum = params.copy(), bias.copy(), 1.0
    for iteration in range(options.max_iterations):
        error = _sigmoid(problem.logits(ahead_p) + ahead_b) - y  # (n, k)
        gradient = problem.gradient(error, ahead_p)
        grad_b = error.mean(axis=0)
        step = problem.step(gradient)
        if iteration % _CHECK_EVERY == 0:
            # What a plain step would still gain, per concept: small everywhere means done.
            gain = problem.gain(gradient, step) + 0.5 * bias_step * grad_b**2
            if float(gain.max(initial=0.0)) < options.tolerance:
                return ahead_p, ahead_b
        next_p = ahead_p - step
        next_b = ahead_b - bias_step * grad_b
        next_momentum = (1 + np.sqrt(1 + 4 * momentum * momentum)) / 2
        blend = (momentum - 1) / next_momentum
        ahead_p = next_p + blend * (next_p - params)
        ahead_b = next_b + blend * (next_b - bias)
        params, bias, momentum = next_p, next_b, next_momentum
    return params, bias


def _sigmoid(logits: Matrix) -> Matrix:
    result: Matrix = 0.5 * (1.0 + np.tanh(0.5 * logits))  # overflow-free
    return result


def fold_of_each(targets: npt.ArrayLike, folds: int) -> npt.NDArray[np.int64]:
    """A fold number per example, stratified by each example's first positive concept.

    Examples are dealt round-robin within each stratum, one counter running across strata,
    so every fold gets its share of each concept and folds differ in size by at most one.
    """
    y = np.asarray(targets) > 0
    strata = np.where(y.any(axis=1), y.argmax(axis=1), y.shape[1])
    assignment = np.empty(y.shape[0], dtype=np.int64)
    dealt = 0
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        assignment[members] = (dealt + np.arange(members.size)) % folds
        dealt += members.size
    return assignment


def cross_validated_scores(
    vectors: npt.ArrayLike,
    targets: npt.ArrayLike,
    folds: int,
    options: TrainOptions | None = None,
    *,
    exclusive: bool = False,
) -> Floats:
    """Out-of-fold scores ``(n, k)``: each example scored by a model that never saw it."""
    x = np.asarray(vectors, dtype=np.float32)
    y = np.asarray(targets) > 0
    if folds < 2 or folds > x.shape[0]:
        raise ValueError(f"{folds} folds for {x.shape[0]} examples")
    fold = fold_of_each(y, folds)
    scores = np.zeros(y.shape, dtype=np.float32)
    for held_out in range(folds):
        test = fold == held_out
        model = train_classifier(x[~test], y[~test], options)
        scores[test] = model.scores(x[test], exclusive=exclusive)
    return scores
