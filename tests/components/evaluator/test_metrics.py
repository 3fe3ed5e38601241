"""The built-in metrics against the same quantities computed here, directly in numpy:
exact rank-based AUC, average precision over every distinct score, log loss,
confusion matrices, errors of regression."""

import math

import numpy as np
import pytest

from components.evaluator.metrics import (
    NUM_BUCKETS,
    Accumulator,
    Batch,
)


def exact_auc(scores, labels, weights=None):
    """ROC AUC from average ranks (Mann-Whitney), or from every weighted pair."""
    scores, labels = np.asarray(scores, float), np.asarray(labels)
    positive = labels == 1
    if weights is None:
        _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
        ends = np.cumsum(counts)
        average_rank = ends - (counts - 1) / 2  # 1-based ranks, ties averaged
        ranks = average_rank[inverse]
        p, n = positive.sum(), (~positive).sum()
        return (ranks[positive].sum() - p * (p + 1) / 2) / (p * n)
    w = np.asarray(weights, float)
    sp, sn = scores[positive][:, None], scores[~positive][None, :]
    wp, wn = w[positive][:, None], w[~positive][None, :]
    pairs = wp * wn * ((sp > sn) + 0.5 * (sp == sn))
    return pairs.sum() / (w[positive].sum() * w[~positive].sum())


def exact_average_precision(scores, labels):
    """Precision at each distinct score (highest first) times the recall step."""
    scores, labels = np.asarray(scores, float), np.asarray(labels)
    total = (labels == 1).sum()
    ap = 0.0
    for threshold in np.unique(scores)[::-1]:
        chosen = scores >= threshold
        at = scores == threshold
        true = (labels[chosen] == 1).sum()
        ap += (labels[at] == 1).sum() / total * true / chosen.sum()
    return ap


def binary_batch(rng, n, weights=False):
    labels = rng.integers(0, 2, n)
    # Informative but noisy scores in (0, 1).
    p = 1 / (1 + np.exp(-(1.5 * labels - 0.75 + rng.normal(0, 1, n))))
    return Batch(
        labels=labels,
        predictions=np.stack([1 - p, p], axis=1),
        weights=rng.uniform(0.2, 3.0, n) if weights else None,
    )


def result(*batches, keep=False):
    accumulator = Accumulator(keep)
    for batch in batches:
        accumulator.add(batch)
    return accumulator.result()


class TestBinary:
    def test_metrics_match_numpy(self):
        batch = binary_batch(np.random.default_rng(0), 3000)
        metrics, plots = result(batch)
        y, p = batch.labels, batch.predictions[:, 1]
        predicted = (p > 0.5).astype(int)
        tp = ((predicted == 1) & (y == 1)).sum()
        assert metrics["example_count"] == 3000
        assert "weighted_example_count" not in metrics
        assert metrics["accuracy"] == pytest.approx((predicted == y).mean())
        assert metrics["precision"] == pytest.approx(tp / (predicted == 1).sum())
        assert metrics["recall"] == pytest.approx(tp / (y == 1).sum())
        assert metrics["auc"] == pytest.approx(exact_auc(p, y), abs=1e-3)
        assert metrics["auc_precision_recall"] == pytest.approx(
            exact_average_precision(p, y), abs=1e-3
        )
        log_loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
        assert metrics["log_loss"] == pytest.approx(log_loss, rel=1e-9)
        assert metrics["mean_label"] == pytest.approx(y.mean())
        assert metrics["mean_prediction"] == pytest.approx(p.mean())
        assert metrics["calibration"] == pytest.approx(p.mean() / y.mean())
        confusion = [
            [((y == a) & (predicted == b)).sum() for b in (0, 1)] for a in (0, 1)
        ]
        assert plots["confusion_matrix"] == confusion

    def test_calibration_plot_buckets_hold_the_means_of_their_examples(self):
        batch = binary_batch(np.random.default_rng(1), 2000)
        _, plots = result(batch)
        y, p = batch.labels, batch.predictions[:, 1]
        buckets = plots["calibration_plot"]
        assert [b["lower"] for b in buckets] == pytest.approx(np.arange(10) / 10)
        for bucket in buckets:
            inside = (p >= bucket["lower"]) & (p < bucket["upper"])
            assert bucket["weighted_count"] == inside.sum()
            if inside.any():
                assert bucket["mean_prediction"] == pytest.approx(p[inside].mean())
                assert bucket["mean_label"] == pytest.approx(y[inside].mean())
            else:
                assert math.isnan(bucket["mean_prediction"])

    def test_ties_on_bucket_edges_give_the_exact_auc(self):
        labels = np.array([0, 0, 1, 1, 0, 1, 1, 0])
        p = np.array([0.2, 0.7, 0.7, 0.9, 0.2, 0.2, 0.7, 0.1])
        metrics, _ = result(Batch(labels, np.stack([1 - p, p], axis=1)))
        assert metrics["auc"] == pytest.approx(exact_auc(p, labels), abs=1e-12)
        assert metrics["auc_precision_recall"] == pytest.approx(
            exact_average_precision(p, labels), abs=1e-12
        )

    def test_weights_weigh_every_metric(self):
        batch = binary_batch(np.random.default_rng(2), 1500, weights=True)
        metrics, plots = result(batch)
        y, p, w = batch.labels, batch.predictions[:, 1], batch.weights
        predicted = (p > 0.5).astype(int)
        assert metrics["example_count"] == 1500
        assert metrics["weighted_example_count"] == pytest.approx(w.sum())
        assert metrics["accuracy"] == pytest.approx(
            np.average(predicted == y, weights=w)
        )
        assert metrics["auc"] == pytest.approx(exact_auc(p, y, w), abs=1e-3)
        picked = np.where(y == 1, p, 1 - p)
        assert metrics["log_loss"] == pytest.approx(
            -np.average(np.log(picked), weights=w)
        )
        assert metrics["mean_label"] == pytest.approx(np.average(y, weights=w))
        assert plots["confusion_matrix"][1][1] == pytest.approx(
            w[(y == 1) & (predicted == 1)].sum()
        )

    def test_class_ids_decide_the_confusion_matrix_not_the_argmax(self):
        labels = np.array([0, 1, 1, 0])
        p = np.array([0.4, 0.4, 0.9, 0.1])
        batch = Batch(labels, np.stack([1 - p, p], axis=1), class_ids=p > 0.3)
        metrics, plots = result(batch)
        assert plots["confusion_matrix"] == [[1, 1], [0, 2]]
        assert metrics["accuracy"] == 0.75

    def test_merging_halves_equals_one_pass(self):
        batch = binary_batch(np.random.default_rng(3), 1000, weights=True)
        whole, _ = result(batch)
        first, second = Accumulator(), Accumulator()
        first.add(batch.take(np.arange(0, 400)))
        second.add(batch.take(np.arange(400, 1000)))
        first.merge(second)
        merged, _ = first.result()
        assert merged == pytest.approx(whole)

    def test_one_class_leaves_auc_undefined_and_log_loss_clipped(self):
        labels = np.array([1, 1, 1])
        p = np.array([0.0, 0.5, 0.9])
        metrics, _ = result(Batch(labels, np.stack([1 - p, p], axis=1)))
        assert math.isnan(metrics["auc"])
        assert metrics["log_loss"] == pytest.approx(
            (-np.log(1e-7) - np.log(0.5) - np.log(0.9)) / 3
        )
        # 0.5 is not above 0.5: class 0, as the argmax of [0.5, 0.5] says.
        assert (metrics["precision"], metrics["recall"]) == (1.0, pytest.approx(1 / 3))

    def test_no_predicted_positive_leaves_precision_undefined(self):
        p = np.array([0.1, 0.2])
        metrics, _ = result(Batch(np.array([0, 1]), np.stack([1 - p, p], axis=1)))
        assert math.isnan(metrics["precision"])
        assert metrics["recall"] == 0.0

    def test_auc_error_stays_within_the_bucket_width(self):
        # Scores closer together than a bucket: the worst case for the histogram.
        rng = np.random.default_rng(4)
        labels = rng.integers(0, 2, 4000)
        p = 0.5 + (labels + rng.uniform(0, 1, 4000)) / (NUM_BUCKETS * 4)
        metrics, _ = result(Batch(labels, np.stack([1 - p, p], axis=1)))
        assert exact_auc(p, labels) > 0.8
        assert metrics["auc"] == pytest.approx(0.5, abs=1e-9)  # one bucket: all ties


class TestMultiClass:
    def batch(self, n=2000):
        rng = np.random.default_rng(5)
        labels = rng.integers(0, 3, n)
        logits = rng.normal(0, 1, (n, 3)) + 1.5 * np.eye(3)[labels]
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return Batch(labels, p)

    def test_macro_averages_and_confusion_match_numpy(self):
        batch = self.batch()
        metrics, plots = result(batch)
        y, p = batch.labels, batch.predictions
        predicted = p.argmax(axis=1)
        confusion = np.array(
            [[((y == a) & (predicted == b)).sum() for b in range(3)] for a in range(3)]
        )
        assert plots["confusion_matrix"] == confusion.tolist()
        assert metrics["accuracy"] == pytest.approx((predicted == y).mean())
        assert metrics["precision"] == pytest.approx(
            np.mean([confusion[c, c] / confusion[:, c].sum() for c in range(3)])
        )
        assert metrics["recall"] == pytest.approx(
            np.mean([confusion[c, c] / confusion[c].sum() for c in range(3)])
        )
        one_vs_rest = [exact_auc(p[:, c], (y == c).astype(int)) for c in range(3)]
        assert metrics["auc"] == pytest.approx(np.mean(one_vs_rest), abs=1e-3)
        assert metrics["log_loss"] == pytest.approx(
            -np.mean(np.log(p[np.arange(len(y)), y]))
        )
        assert "calibration" not in metrics and "calibration_plot" not in plots

    def test_a_class_never_predicted_is_left_out_of_macro_precision(self):
        labels = np.array([0, 1, 2, 2])
        p = np.array(
            [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.7, 0.2, 0.1], [0.1, 0.8, 0.1]]
        )
        metrics, _ = result(Batch(labels, p))
        # Class 2 is never predicted: precision averages classes 0 (1/2) and 1 (1/2).
        assert metrics["precision"] == pytest.approx(0.5)
        assert metrics["recall"] == pytest.approx((1 + 1 + 0) / 3)


class TestRegression:
    def test_errors_and_means_match_numpy(self):
        rng = np.random.default_rng(6)
        y = rng.normal(3, 2, 1000)
        prediction = y + rng.normal(0.5, 1, 1000)
        w = rng.uniform(0.5, 2, 1000)
        for weights in (None, w):
            metrics, plots = result(Batch(y, prediction, weights))
            ww = np.ones(1000) if weights is None else w
            mse = np.average((prediction - y) ** 2, weights=ww)
            assert metrics["mse"] == pytest.approx(mse)
            assert metrics["rmse"] == pytest.approx(math.sqrt(mse))
            assert metrics["mae"] == pytest.approx(
                np.average(np.abs(prediction - y), weights=ww)
            )
            assert metrics["mean_label"] == pytest.approx(np.average(y, weights=ww))
            assert metrics["mean_prediction"] == pytest.approx(
                np.average(prediction, weights=ww)
            )
            assert ("weighted_example_count" in metrics) == (weights is not None)
            assert plots == {}


def test_kept_batches_join_in_order():
    rng = np.random.default_rng(7)
    first, second = binary_batch(rng, 5), binary_batch(rng, 3)
    accumulator = Accumulator(keep_batches=True)
    accumulator.add(first)
    other = Accumulator(keep_batches=True)
    other.add(second)
    accumulator.merge(other)
    joined = Batch.concatenate(accumulator.batches)
    assert joined.labels.tolist() == [*first.labels, *second.labels]
    assert joined.predictions.shape == (8, 2)
    assert joined.weights is None


def test_an_empty_accumulator_counts_nothing():
    assert Accumulator().result() == ({"example_count": 0}, {})
