"""The built-in metrics: accumulated batch by batch, merged, then computed.

An ``Accumulator`` folds ``Batch``es of labels, predictions and weights into sums and
histograms of a fixed size, so the Evaluator's ``CombineFn`` can merge the partial
results of any number of workers; ``Accumulator.result()`` turns them into metrics
(numbers) and plots (tables). Every metric is weighted by the model's ``weight``
output when it has one (weight 1 otherwise).

Classification: ``example_count``, ``weighted_example_count`` (with weights),
``accuracy``, ``precision``, ``recall``, ``auc``, ``auc_precision_recall``,
``log_loss``, and for binary models ``mean_label``, ``mean_prediction`` and
``calibration``; plots ``confusion_matrix`` and (binary) ``calibration_plot``.
Regression: ``example_count``, ``weighted_example_count``, ``mse``, ``rmse``,
``mae``, ``mean_label``, ``mean_prediction``. The definitions are in
docs/evaluator.md; a metric that is undefined on a slice (the AUC of a slice with one
class) is NaN here and ``null`` in metrics.json.

Example:
    >>> import numpy as np
    >>> batch = Batch(labels=np.array([0, 1, 1]),
    ...               predictions=np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]))
    >>> accumulator = Accumulator()
    >>> accumulator.add(batch)
    >>> metrics, plots = accumulator.result()
    >>> metrics["accuracy"], metrics["auc"], plots["confusion_matrix"]
    (0.6666666666666666, 1.0, [[1.0, 0.0], [1.0, 1.0]])
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

#: Equal-width buckets of predicted probability behind ``auc`` and
#: ``auc_precision_recall``: scores in one bucket count as tied.
NUM_BUCKETS = 10_000
#: Equal-width buckets of the calibration plot.
CALIBRATION_BUCKETS = 10
#: Probabilities are clipped to [EPSILON, 1] in ``log_loss`` (Keras's epsilon).
EPSILON = 1e-7

CLASSIFICATION = "classification"
REGRESSION = "regression"

CLASSIFICATION_METRICS = (
    "example_count",
    "weighted_example_count",
    "accuracy",
    "precision",
    "recall",
    "auc",
    "auc_precision_recall",
    "log_loss",
    "mean_label",
    "mean_prediction",
    "calibration",
)
#: Classification metrics computed only for binary models.
BINARY_ONLY_METRICS = ("mean_label", "mean_prediction", "calibration")
REGRESSION_METRICS = (
    "example_count",
    "weighted_example_count",
    "mse",
    "rmse",
    "mae",
    "mean_label",
    "mean_prediction",
)


def metric_names(model_type: str) -> tuple[str, ...]:
    """The built-in metrics of a ``"classification"`` or ``"regression"`` model."""
    return (
        CLASSIFICATION_METRICS if model_type == CLASSIFICATION else REGRESSION_METRICS
    )


@dataclasses.dataclass
class Batch:
    """One model's outputs for a batch of examples, as numpy arrays.

    Attributes:
        labels: ``[n]`` class ids (int) for classification, values for regression.
        predictions: ``[n, classes]`` probabilities for classification, ``[n]``
            predicted values for regression.
        weights: ``[n]`` example weights, or None (every weight is 1).
        class_ids: ``[n]`` predicted class ids, or None (the argmax of the
            probabilities).
    """

    labels: np.ndarray
    predictions: np.ndarray
    weights: np.ndarray | None = None
    class_ids: np.ndarray | None = None

    @property
    def model_type(self) -> str:
        return CLASSIFICATION if self.predictions.ndim == 2 else REGRESSION

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index: np.ndarray) -> Batch:
        """The examples at ``index`` (an array of positions)."""
        return Batch(
            self.labels[index],
            self.predictions[index],
            None if self.weights is None else self.weights[index],
            None if self.class_ids is None else self.class_ids[index],
        )

    @staticmethod
    def concatenate(batches: list[Batch]) -> Batch:
        """One batch of all ``batches`` (which must not be empty)."""

        def joined(name: str) -> np.ndarray | None:
            parts = [getattr(b, name) for b in batches]
            return None if parts[0] is None else np.concatenate(parts)

        return Batch(*(joined(f.name) for f in dataclasses.fields(Batch)))

    def weights_or_ones(self) -> np.ndarray:
        """The weights, with 1 for every example when there are none."""
        if self.weights is None:
            return np.ones(len(self.labels))
        return self.weights.astype(np.float64)


class _Classification:
    """Sums and histograms for the classification metrics of one slice."""

    def __init__(self, classes: int):
        self.classes = classes
        # Binary models keep one histogram, of class 1's probability.
        scored = 1 if classes == 2 else classes
        self.count = 0
        self.weighted_count = 0.0
        self.log_loss = 0.0
        self.confusion = np.zeros((classes, classes))
        self.positives = np.zeros((scored, NUM_BUCKETS))
        self.negatives = np.zeros((scored, NUM_BUCKETS))
        # Rows: weight, weighted prediction, weighted label (of class 1).
        self.calibration = np.zeros((3, CALIBRATION_BUCKETS))

    def add(self, batch: Batch) -> None:
        labels = batch.labels.astype(np.int64)
        probabilities = batch.predictions.astype(np.float64)
        weights = batch.weights_or_ones()
        k = self.classes
        self.count += len(labels)
        self.weighted_count += float(weights.sum())
        picked = probabilities[np.arange(len(labels)), labels]
        self.log_loss -= float((weights * np.log(np.clip(picked, EPSILON, 1))).sum())
        predicted = (
            batch.class_ids.astype(np.int64)
            if batch.class_ids is not None
            else np.argmax(probabilities, axis=1)
        )
        self.confusion += np.bincount(
            labels * k + predicted, weights=weights, minlength=k * k
        ).reshape(k, k)
        scores = probabilities[:, 1:2] if k == 2 else probabilities
        scored = scores.shape[1]
        buckets = np.clip((scores * NUM_BUCKETS).astype(np.int64), 0, NUM_BUCKETS - 1)
        classes = np.arange(1, 2) if k == 2 else np.arange(k)
        flat = (np.arange(scored) * NUM_BUCKETS + buckets).ravel()
        is_positive = (labels[:, None] == classes[None, :]).ravel()
        repeated = np.repeat(weights, scored)
        size = scored * NUM_BUCKETS
        self.positives += np.bincount(
            flat[is_positive], weights=repeated[is_positive], minlength=size
        ).reshape(scored, NUM_BUCKETS)
        self.negatives += np.bincount(
            flat[~is_positive], weights=repeated[~is_positive], minlength=size
        ).reshape(scored, NUM_BUCKETS)
        if k == 2:
            p = probabilities[:, 1]
            bucket = np.clip(
                (p * CALIBRATION_BUCKETS).astype(np.int64), 0, CALIBRATION_BUCKETS - 1
            )
            for row, values in enumerate((weights, weights * p, weights * labels)):
                self.calibration[row] += np.bincount(
                    bucket, weights=values, minlength=CALIBRATION_BUCKETS
                )

    def merge(self, other: _Classification) -> None:
        self.count += other.count
        self.weighted_count += other.weighted_count
        self.log_loss += other.log_loss
        for name in ("confusion", "positives", "negatives", "calibration"):
            getattr(self, name)[...] += getattr(other, name)

    def result(self) -> tuple[dict[str, float], dict[str, Any]]:
        total = self.weighted_count
        confusion = self.confusion
        metrics = {
            "example_count": self.count,
            "weighted_example_count": total,
            "accuracy": _ratio(np.trace(confusion), total),
        }
        true = np.diag(confusion)
        predicted, actual = confusion.sum(axis=0), confusion.sum(axis=1)
        if self.classes == 2:
            metrics["precision"] = _ratio(true[1], predicted[1])
            metrics["recall"] = _ratio(true[1], actual[1])
        else:
            metrics["precision"] = _mean_defined(true, predicted)
            metrics["recall"] = _mean_defined(true, actual)
        aucs = [_roc_auc(p, n) for p, n in zip(self.positives, self.negatives)]
        pr_aucs = [
            _average_precision(p, n) for p, n in zip(self.positives, self.negatives)
        ]
        metrics["auc"] = _nanmean(aucs)
        metrics["auc_precision_recall"] = _nanmean(pr_aucs)
        metrics["log_loss"] = _ratio(self.log_loss, total)
        plots: dict[str, Any] = {"confusion_matrix": confusion.tolist()}
        if self.classes == 2:
            weight, prediction, label = self.calibration.sum(axis=1)
            metrics["mean_label"] = _ratio(label, weight)
            metrics["mean_prediction"] = _ratio(prediction, weight)
            metrics["calibration"] = _ratio(prediction, label)
            plots["calibration_plot"] = [
                {
                    "lower": i / CALIBRATION_BUCKETS,
                    "upper": (i + 1) / CALIBRATION_BUCKETS,
                    "weighted_count": float(self.calibration[0, i]),
                    "mean_prediction": _ratio(*self.calibration[[1, 0], i]),
                    "mean_label": _ratio(*self.calibration[[2, 0], i]),
                }
                for i in range(CALIBRATION_BUCKETS)
            ]
        return metrics, plots


class _Regression:
    """Sums for the regression metrics of one slice."""

    def __init__(self) -> None:
        self.count = 0
        # weight, squared error, absolute error, label, prediction; all weighted.
        self.sums = np.zeros(5)

    def add(self, batch: Batch) -> None:
        labels = batch.labels.astype(np.float64)
        predictions = batch.predictions.astype(np.float64)
        weights = batch.weights_or_ones()
        error = predictions - labels
        self.count += len(labels)
        self.sums += [
            weights.sum(),
            (weights * error * error).sum(),
            (weights * np.abs(error)).sum(),
            (weights * labels).sum(),
            (weights * predictions).sum(),
        ]

    def merge(self, other: _Regression) -> None:
        self.count += other.count
        self.sums += other.sums

    def result(self) -> tuple[dict[str, float], dict[str, Any]]:
        weight, squared, absolute, label, prediction = self.sums
        mse = _ratio(squared, weight)
        return {
            "example_count": self.count,
            "weighted_example_count": float(weight),
            "mse": mse,
            "rmse": math.sqrt(mse) if not math.isnan(mse) else math.nan,
            "mae": _ratio(absolute, weight),
            "mean_label": _ratio(label, weight),
            "mean_prediction": _ratio(prediction, weight),
        }, {}


class Accumulator:
    """The metrics of one model on one slice, so far; mergeable with others.

    Its kind (classification or regression, and the number of classes) comes from
    the first batch added.

    Args:
        keep_batches: Also keep every batch, for user metrics that need the
            slice's whole arrays (memory grows with the slice).
    """

    def __init__(self, keep_batches: bool = False):
        self.state: _Classification | _Regression | None = None
        self.has_weights = False
        self.batches: list[Batch] | None = [] if keep_batches else None

    def add(self, batch: Batch) -> None:
        """Folds in a batch of one model's outputs."""
        if not len(batch):
            return
        if self.state is None:
            self.state = (
                _Classification(batch.predictions.shape[1])
                if batch.model_type == CLASSIFICATION
                else _Regression()
            )
        self.state.add(batch)
        self.has_weights = self.has_weights or batch.weights is not None
        if self.batches is not None:
            self.batches.append(batch)

    def merge(self, other: Accumulator) -> None:
        """Folds in another accumulator of the same model."""
        if other.state is not None:
            if self.state is None:
                self.state = other.state
            else:
                self.state.merge(other.state)
        self.has_weights = self.has_weights or other.has_weights
        if self.batches is not None and other.batches is not None:
            self.batches.extend(other.batches)

    def result(self) -> tuple[dict[str, float], dict[str, Any]]:
        """The metrics (name to number, NaN when undefined) and the plots."""
        if self.state is None:
            return {"example_count": 0}, {}
        metrics, plots = self.state.result()
        if not self.has_weights:
            metrics.pop("weighted_example_count")
        return metrics, plots


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator > 0 else math.nan


def _nanmean(values: list[float]) -> float:
    defined = [v for v in values if not math.isnan(v)]
    return float(np.mean(defined)) if defined else math.nan


def _mean_defined(numerators: np.ndarray, denominators: np.ndarray) -> float:
    """The mean of the ratios whose denominator is positive (macro average)."""
    return _nanmean([_ratio(n, d) for n, d in zip(numerators, denominators)])


def _roc_auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """The probability that a positive scores above a negative; a tie counts 1/2."""
    total_positive, total_negative = positives.sum(), negatives.sum()
    if total_positive <= 0 or total_negative <= 0:
        return math.nan
    above = np.cumsum(positives[::-1])[::-1] - positives
    return float((negatives * (above + positives / 2)).sum()) / float(
        total_positive * total_negative
    )


def _average_precision(positives: np.ndarray, negatives: np.ndarray) -> float:
    """Precision averaged over the recall steps, highest scores first."""
    total_positive = positives.sum()
    if total_positive <= 0:
        return math.nan
    true, false = np.cumsum(positives[::-1]), np.cumsum(negatives[::-1])
    step = positives[::-1]
    at = step > 0
    return float((step[at] / total_positive * true[at] / (true[at] + false[at])).sum())
