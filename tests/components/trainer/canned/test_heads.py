"""Heads: predictions, losses and metrics against numpy, errors, the Estimator path."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from components.trainer import estimator as tf_estimator
from components.trainer.estimator.canned.heads import (
    AccuracyBaseline,
    BinaryClassHead,
    LossReduction,
    MetricKeys,
    MultiClassHead,
    PredictionKeys,
    RegressionHead,
)
from components.trainer.estimator.errors import EstimatorSpecError
from components.trainer.estimator.export import (
    ClassificationOutput,
    PredictOutput,
    RegressionOutput,
)

REPO = pathlib.Path(__file__).resolve().parents[4]
EVAL, TRAIN, PREDICT = (
    tf_estimator.ModeKeys.EVAL,
    tf_estimator.ModeKeys.TRAIN,
    tf_estimator.ModeKeys.PREDICT,
)
# Keras' AUC sums over 200 thresholds (PR: interpolated); the exact rank-based values
# differ by up to ~3e-3 (ROC) and ~1e-2 (PR) on these small data sets.
AUC_TOLERANCE = {"auc": 0.005, "auc_precision_recall": 0.01}


# ---------------------------------------------------------------- numpy references


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_sigmoid_xent(labels, logits):
    return np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))


def np_mean(values, weights):
    values = np.asarray(values, np.float64)
    weights = np.broadcast_to(np.asarray(weights, np.float64), values.shape)
    return float((values * weights).sum() / weights.sum())


def np_roc_auc(labels, scores, weights):
    """P(score of a positive > score of a negative), weighted; ties count half."""
    labels, scores, weights = (np.ravel(a) for a in (labels, scores, weights))
    pos, neg = labels == 1, labels == 0
    diff = scores[pos][:, None] - scores[neg][None, :]
    pair = weights[pos][:, None] * weights[neg][None, :]
    wins = (diff > 0) + 0.5 * (diff == 0)
    return float((pair * wins).sum() / pair.sum())


def np_pr_auc(labels, scores, weights):
    """Weighted average precision: precision at each positive, by descending score."""
    labels, scores, weights = (np.ravel(a) for a in (labels, scores, weights))
    order = np.argsort(-scores, kind="stable")
    labels, weights = labels[order], weights[order]
    tp = np.cumsum(weights * labels)
    fp = np.cumsum(weights * (1 - labels))
    precision = tp / (tp + fp)
    return float((precision * weights * labels).sum() / (weights * labels).sum())


def np_precision(labels, predicted, weights):
    labels, predicted, weights = (np.ravel(a) for a in (labels, predicted, weights))
    return float((weights * predicted * labels).sum() / (weights * predicted).sum())


def np_recall(labels, predicted, weights):
    labels, predicted, weights = (np.ravel(a) for a in (labels, predicted, weights))
    return float((weights * predicted * labels).sum() / (weights * labels).sum())


def np_binary_metrics(logits, labels, weights, thresholds=()):
    """tf.estimator's binary metrics, computed from scratch."""
    labels = np.asarray(labels, np.float64).reshape(-1, 1)
    weights = np.ones_like(labels) if weights is None else np.reshape(weights, (-1, 1))
    logistic = np_sigmoid(np.asarray(logits, np.float64))
    predicted = (logits > 0).astype(np.float64)
    label_mean = np_mean(labels, weights)
    out = {
        "accuracy": np_mean(predicted == labels, weights),
        "accuracy_baseline": max(label_mean, 1 - label_mean),
        "auc": np_roc_auc(labels, logistic, weights),
        "auc_precision_recall": np_pr_auc(labels, logistic, weights),
        "average_loss": np_mean(np_sigmoid_xent(labels, logits), weights),
        "label/mean": label_mean,
        "prediction/mean": np_mean(logistic, weights),
        "precision": np_precision(labels, predicted, weights),
        "recall": np_recall(labels, predicted, weights),
    }
    for t in thresholds:
        above = (logistic > t).astype(np.float64)
        out[f"accuracy/positive_threshold_{t:g}"] = np_mean(above == labels, weights)
        out[f"precision/positive_threshold_{t:g}"] = np_precision(
            labels, above, weights
        )
        out[f"recall/positive_threshold_{t:g}"] = np_recall(labels, above, weights)
    return out


def results(spec) -> dict[str, float]:
    return {key: float(m.result()) for key, m in spec.eval_metric_ops.items()}


def assert_metrics_match(actual: dict, expected: dict):
    assert sorted(actual) == sorted(expected)
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value, abs=tolerance(key)), key


def tolerance(key: str) -> float:
    return AUC_TOLERANCE.get(key.split("/positive")[0].split("/")[0], 1e-5)


def binary_data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    logits = (2.0 * rng.normal(size=(n, 1))).astype(np.float32)
    labels = (rng.uniform(size=(n, 1)) < np_sigmoid(logits + 0.5)).astype(np.int64)
    weights = np.exp(1.2 * rng.normal(size=(n, 1))).astype(np.float32)
    return logits, labels, weights


# ---------------------------------------------------------------- BinaryClassHead


class TestBinaryClassHead:
    def test_predictions(self):
        logits = np.array([[-1.5], [0.0], [2.0]], np.float32)
        spec = BinaryClassHead().create_estimator_spec({}, PREDICT, logits)
        p = {key: value.numpy() for key, value in spec.predictions.items()}
        assert sorted(p) == sorted(
            [
                "logits",
                "logistic",
                "probabilities",
                "class_ids",
                "classes",
                "all_class_ids",
                "all_classes",
            ]
        )
        np.testing.assert_allclose(p["logistic"], np_sigmoid(logits), rtol=1e-6)
        expected = np.concatenate([1 - np_sigmoid(logits), np_sigmoid(logits)], 1)
        np.testing.assert_allclose(p["probabilities"], expected, rtol=1e-6)
        assert p["class_ids"].dtype == np.int64
        assert p["class_ids"].tolist() == [[0], [0], [1]]  # a tie is class 0
        assert p["classes"].tolist() == [[b"0"], [b"0"], [b"1"]]
        assert p["all_class_ids"].tolist() == [[0, 1]] * 3
        assert p["all_classes"].tolist() == [[b"0", b"1"]] * 3
        assert spec.loss is None and spec.eval_metric_ops == {}

    def test_predictions_use_the_vocabulary(self):
        head = BinaryClassHead(label_vocabulary=["ham", "spam"])
        p = head.predictions(tf.constant([[-1.0], [3.0]]))
        assert p["classes"].numpy().tolist() == [[b"ham"], [b"spam"]]
        assert p["all_classes"].numpy().tolist() == [[b"ham", b"spam"]] * 2
        assert list(head.predictions([[1.0]], keys=["logistic"])) == ["logistic"]
        with pytest.raises(EstimatorSpecError, match=re.escape("['predictions']")):
            head.predictions([[1.0]], keys=["predictions"])

    @pytest.mark.parametrize("weighted", [False, True])
    def test_eval_metrics_and_loss_match_numpy(self, weighted):
        logits, labels, weights = binary_data()
        features = {"w": weights} if weighted else {}
        head = BinaryClassHead(
            weight_column="w" if weighted else None, thresholds=[0.3, 0.75]
        )
        spec = head.create_estimator_spec(features, EVAL, logits, labels[:, 0])
        w = weights if weighted else np.ones_like(weights)
        expected = np_binary_metrics(logits, labels, w, [0.3, 0.75])
        assert_metrics_match(results(spec), expected)
        loss = (w * np_sigmoid_xent(labels, logits)).sum() / len(labels)
        assert float(spec.loss) == pytest.approx(loss, rel=1e-5)
        # The weights matter: ignoring them (or inventing them) would fail.
        other = np_binary_metrics(logits, labels, None if weighted else weights)
        for key in ("accuracy", "auc", "auc_precision_recall", "recall"):
            assert abs(other[key] - expected[key]) > 2 * tolerance(key), key

    def test_metrics_update_over_batches_in_a_tf_function(self):
        logits, labels, weights = binary_data(n=90, seed=3)
        head = BinaryClassHead(weight_column="w")
        metrics = head.metrics()

        @tf.function
        def update(logits, labels, weights):
            head.update_metrics(metrics, {"w": weights}, logits, labels)

        for rows in (slice(0, 40), slice(40, 90)):
            update(logits[rows], labels[rows], weights[rows])
        actual = {key: float(m.result()) for key, m in metrics.items()}
        assert_metrics_match(actual, np_binary_metrics(logits, labels, weights))

    def test_string_labels_through_the_vocabulary_equal_integer_labels(self):
        logits, labels, weights = binary_data(n=30, seed=1)
        vocab = ["no", "yes"]
        strings = np.array([[vocab[i]] for i in labels[:, 0]])
        by_name = BinaryClassHead(label_vocabulary=vocab).create_estimator_spec(
            {}, EVAL, logits, strings
        )
        by_id = BinaryClassHead().create_estimator_spec({}, EVAL, logits, labels)
        assert results(by_name) == results(by_id)
        assert float(by_name.loss) == float(by_id.loss)

    @pytest.mark.parametrize(
        "labels",
        [
            np.array([1, 0, 1]),
            np.array([[1], [0], [1]], np.int32),
            np.array([1.0, 0.0, 1.0], np.float64),
            np.array([True, False, True]),
            tf.sparse.from_dense(tf.constant([[1], [0], [1]], tf.int64)),
        ],
        ids=["int64[batch]", "int32[batch,1]", "float64", "bool", "sparse"],
    )
    def test_label_forms(self, labels):
        logits = np.array([[0.5], [-2.0], [1.0]], np.float32)
        loss = BinaryClassHead().loss(labels, logits)
        expected = np_sigmoid_xent(np.array([[1], [0], [1]]), logits).mean()
        assert float(loss) == pytest.approx(expected, rel=1e-6)

    def test_loss_reductions_and_regularization(self):
        logits, labels, weights = binary_data(n=10)
        per_example = weights * np_sigmoid_xent(labels, logits)
        total = BinaryClassHead(weight_column="w", loss_reduction=LossReduction.SUM)
        mean = BinaryClassHead(weight_column="w")
        features = {"w": weights[:, 0]}
        assert float(total.loss(labels, logits, features)) == pytest.approx(
            per_example.sum(), rel=1e-5
        )
        assert float(mean.loss(labels, logits, features)) == pytest.approx(
            per_example.mean(), rel=1e-5
        )
        spec = mean.create_estimator_spec(
            features,
            EVAL,
            logits,
            labels,
            regularization_losses=[tf.constant(0.25), tf.constant(0.5)],
        )
        assert float(spec.loss) == pytest.approx(per_example.mean() + 0.75, rel=1e-5)
        assert float(spec.eval_metric_ops["regularization_loss"].result()) == 0.75
        average = np_mean(np_sigmoid_xent(labels, logits), weights)
        assert float(spec.eval_metric_ops["average_loss"].result()) == pytest.approx(
            average, rel=1e-5
        )

    def test_head_name_suffixes_metric_keys(self):
        head = BinaryClassHead(thresholds=[0.5], name="click")
        spec = head.create_estimator_spec({}, EVAL, [[1.0]], [1])
        assert sorted(spec.eval_metric_ops) == sorted(
            [
                "accuracy/click",
                "accuracy_baseline/click",
                "auc/click",
                "auc_precision_recall/click",
                "average_loss/click",
                "label/mean/click",
                "prediction/mean/click",
                "precision/click",
                "recall/click",
                "accuracy/positive_threshold_0.5/click",
                "precision/positive_threshold_0.5/click",
                "recall/positive_threshold_0.5/click",
            ]
        )
        assert MetricKeys.AUC_PR == "auc_precision_recall"
        assert PredictionKeys.LOGISTIC == "logistic"

    def test_train_op_is_passed_through(self):
        optimizer = keras.optimizers.SGD(0.1)
        spec = BinaryClassHead().create_estimator_spec(
            {}, TRAIN, [[1.0]], [1], train_op=optimizer
        )
        assert spec.train_op is optimizer
        assert spec.eval_metric_ops == {}
        pair = (optimizer, [])
        pairs = [pair]
        assert (
            BinaryClassHead()
            .create_estimator_spec({}, TRAIN, [[1.0]], [1], train_op=pairs)
            .train_op
            is pairs
        )
        with pytest.raises(EstimatorSpecError, match="TRAIN mode needs train_op="):
            BinaryClassHead().create_estimator_spec({}, TRAIN, [[1.0]], [1])

    def test_export_outputs(self):
        head = BinaryClassHead(label_vocabulary=["a", "b"])
        outputs = head.create_estimator_spec(
            {}, PREDICT, [[1.0], [-1.0]]
        ).export_outputs
        assert sorted(outputs) == [
            "classification",
            "predict",
            "regression",
            "serving_default",
        ]
        assert outputs["serving_default"] is outputs["classification"]
        assert isinstance(outputs["classification"], ClassificationOutput)
        assert isinstance(outputs["regression"], RegressionOutput)
        assert isinstance(outputs["predict"], PredictOutput)
        classify = outputs["classification"].outputs()
        assert classify["classes"].numpy().tolist() == [[b"a", b"b"]] * 2
        np.testing.assert_allclose(
            classify["scores"].numpy()[:, 1], np_sigmoid(np.array([1.0, -1.0]))
        )
        assert outputs["regression"].outputs()["outputs"].shape == (2, 1)
        assert "logistic" in outputs["predict"].outputs()

    @pytest.mark.parametrize("bad", [2, -1])
    def test_labels_outside_0_1_fail_at_run_time(self, bad):
        head = BinaryClassHead()
        message = "BinaryClassHead: labels must be class ids in {0, 1}"
        with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
            head.loss(tf.constant([0, bad]), tf.constant([[1.0], [1.0]]))

        @tf.function
        def traced(labels):
            return head.loss(labels, tf.constant([[1.0], [1.0]]))

        assert float(traced(tf.constant([0.0, 1.0]))) > 0
        with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
            traced(tf.constant([0.0, 0.5]))

    def test_unknown_vocabulary_label_fails_at_run_time(self):
        head = BinaryClassHead(label_vocabulary=["ham", "spam"], name="mail")
        with pytest.raises(
            tf.errors.InvalidArgumentError,
            match=re.escape(
                "BinaryClassHead(name='mail'): labels must be in label_vocabulary "
                "['ham', 'spam']"
            ),
        ) as error:
            head.loss(tf.constant(["ham", "eggs"]), tf.constant([[1.0], [1.0]]))
        assert "eggs" in str(error.value)

    @pytest.mark.parametrize(
        ("head", "labels", "message"),
        [
            (
                BinaryClassHead(),
                ["a", "b"],
                "labels are strings; pass label_vocabulary",
            ),
            (
                BinaryClassHead(label_vocabulary=["a", "b"]),
                [0, 1],
                "labels must be strings when label_vocabulary is given; got dtype "
                "int32",
            ),
            (
                BinaryClassHead(),
                {"y": [0, 1]},
                "labels is a dict with keys ['y']; a head takes one label tensor. "
                "Yield the label alone from the input_fn, e.g. dataset.map(lambda "
                "features, labels: (features, labels['y'])).",
            ),
            (BinaryClassHead(), None, "labels are required in TRAIN and EVAL mode"),
            (
                BinaryClassHead(),
                [[0, 1], [1, 0]],
                "labels must have shape [batch_size] or [batch_size, 1]; got shape "
                "[2, 2].",
            ),
            (BinaryClassHead(), [0, 1, 1], "labels have 3 rows but logits have 2"),
        ],
    )
    def test_bad_labels_fail_at_trace_time(self, head, labels, message):
        with pytest.raises(EstimatorSpecError, match=re.escape(message)):
            head.create_estimator_spec({}, EVAL, [[1.0], [2.0]], labels)

    def test_batch_mismatch_of_unknown_size_fails_at_run_time(self):
        head = BinaryClassHead()
        traced = tf.function(
            head.loss,
            input_signature=[
                tf.TensorSpec([None], tf.int64),
                tf.TensorSpec([None, 1], tf.float32),
            ],
        )
        with pytest.raises(
            tf.errors.InvalidArgumentError,
            match="labels and logits must have the same batch size",
        ):
            traced(tf.constant([0, 1, 1], tf.int64), tf.constant([[1.0], [2.0]]))

    @pytest.mark.parametrize(
        ("logits", "message"),
        [
            (
                [[1.0, 2.0]],
                "BinaryClassHead: logits must have shape [batch_size, 1]; got shape "
                "[1, 2]. Give the model's last layer head.logits_dimension units",
            ),
            ([[[1.0]]], "got shape [1, 1, 1]"),
        ],
    )
    def test_bad_logits(self, logits, message):
        with pytest.raises(EstimatorSpecError, match=re.escape(message)):
            BinaryClassHead().create_estimator_spec({}, PREDICT, logits)

    def test_rank_one_logits_are_one_column(self):
        spec = BinaryClassHead().create_estimator_spec({}, PREDICT, [1.0, -1.0])
        assert spec.predictions["logits"].shape == (2, 1)

    def test_weight_column_forms_and_errors(self):
        class NumericColumn:
            key = "w"

            @staticmethod
            def normalizer_fn(x):
                return 2.0 * x

        logits, labels, weights = binary_data(n=6)
        plain = BinaryClassHead(weight_column="w").loss(
            labels, logits, {"w": 2 * weights}
        )
        column = BinaryClassHead(weight_column=NumericColumn()).loss(
            labels, logits, {"w": weights}
        )
        assert float(plain) == pytest.approx(float(column), rel=1e-6)
        integer = BinaryClassHead(weight_column="w").loss(
            [1, 0], [[1.0], [1.0]], {"w": np.array([3, 0])}
        )
        assert float(integer) == pytest.approx(
            3 * np_sigmoid_xent(1, 1.0) / 2, rel=1e-6
        )
        head = BinaryClassHead(weight_column="weight")
        with pytest.raises(
            EstimatorSpecError,
            match=re.escape(
                "weight_column 'weight' is not among the features ['weights', 'x']. "
                "Did you mean 'weights'?"
            ),
        ):
            head.loss([1], [[1.0]], {"weights": [1.0], "x": [1.0]})
        with pytest.raises(
            EstimatorSpecError,
            match=re.escape(
                "weight_column 'weight' must have shape [batch_size] or "
                "[batch_size, 1]; got shape [1, 2]."
            ),
        ):
            head.loss([1], [[1.0]], {"weight": [[1.0, 2.0]]})
        with pytest.raises(EstimatorSpecError, match="must be numeric"):
            head.loss([1], [[1.0]], {"weight": ["heavy"]})

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"thresholds": [0.5, 1.0]}, "thresholds must be in (0, 1), exclusive"),
            ({"thresholds": ["0.5"]}, "thresholds must be numbers in (0, 1)"),
            ({"label_vocabulary": ["a"]}, "must have n_classes=2 entries"),
            ({"label_vocabulary": ["a", "a"]}, "has duplicates ['a']"),
            ({"label_vocabulary": "ab"}, "must be a list or tuple of 2 strings"),
            ({"label_vocabulary": [0, 1]}, "label_vocabulary must hold strings"),
            (
                {"loss_reduction": "sum_over_batch"},
                "BinaryClassHead: loss_reduction='sum_over_batch' is not one of "
                "['sum_over_batch_size', 'sum'] (LossReduction.SUM_OVER_BATCH_SIZE, "
                "LossReduction.SUM). Did you mean 'sum_over_batch_size'?",
            ),
            ({"weight_column": 3}, "weight_column must be a feature key"),
            ({"name": ""}, "name must be a non-empty string or None"),
        ],
    )
    def test_constructor_errors(self, kwargs, message):
        with pytest.raises(EstimatorSpecError, match=re.escape(message)):
            BinaryClassHead(**kwargs)

    def test_accuracy_baseline_of_no_examples_is_zero(self):
        assert float(AccuracyBaseline().result()) == 0.0


# ---------------------------------------------------------------- MultiClassHead


def multi_data(n=60, k=4, seed=0):
    rng = np.random.default_rng(seed)
    logits = (1.5 * rng.normal(size=(n, k))).astype(np.float32)
    probabilities = np_softmax(logits.astype(np.float64) + 0.3)
    labels = np.array([rng.choice(k, p=p) for p in probabilities], np.int64)
    weights = rng.uniform(0.1, 4.0, size=(n,)).astype(np.float32)
    return logits, labels, weights


def np_multi_metrics(logits, labels, weights):
    weights = np.ravel(weights)
    probabilities = np_softmax(logits.astype(np.float64))
    xent = -np.log(probabilities[np.arange(len(labels)), labels])
    return {
        "accuracy": np_mean(logits.argmax(-1) == labels, weights),
        "average_loss": np_mean(xent, weights),
    }


class TestMultiClassHead:
    def test_predictions(self):
        logits, _, _ = multi_data(n=5, k=3)
        head = MultiClassHead(3, label_vocabulary=["x", "y", "z"])
        spec = head.create_estimator_spec({}, PREDICT, logits)
        p = {key: value.numpy() for key, value in spec.predictions.items()}
        assert sorted(p) == sorted(
            [
                "logits",
                "probabilities",
                "class_ids",
                "classes",
                "all_class_ids",
                "all_classes",
            ]
        )
        np.testing.assert_allclose(p["probabilities"], np_softmax(logits), rtol=1e-5)
        assert p["class_ids"].dtype == np.int64
        assert p["class_ids"][:, 0].tolist() == logits.argmax(-1).tolist()
        assert p["classes"][:, 0].tolist() == [
            "xyz"[i].encode() for i in logits.argmax(-1)
        ]
        assert p["all_class_ids"].tolist() == [[0, 1, 2]] * 5
        assert p["all_classes"].tolist() == [[b"x", b"y", b"z"]] * 5
        unnamed = MultiClassHead(3).predictions(logits)
        assert unnamed["all_classes"].numpy().tolist() == [[b"0", b"1", b"2"]] * 5

    @pytest.mark.parametrize("weighted", [False, True])
    def test_eval_metrics_and_loss_match_numpy(self, weighted):
        logits, labels, weights = multi_data()
        w = weights if weighted else np.ones_like(weights)
        head = MultiClassHead(4, weight_column="w" if weighted else None)
        spec = head.create_estimator_spec({"w": weights}, EVAL, logits, labels)
        expected = np_multi_metrics(logits, labels, w)
        assert_metrics_match(results(spec), expected)
        probabilities = np_softmax(logits.astype(np.float64))
        xent = -np.log(probabilities[np.arange(len(labels)), labels])
        assert float(spec.loss) == pytest.approx((w * xent).mean(), rel=1e-5)
        other = np_multi_metrics(
            logits, labels, np.ones_like(w) if weighted else weights
        )
        assert abs(other["accuracy"] - expected["accuracy"]) > 1e-3

    def test_string_labels_and_float_labels_equal_integer_labels(self):
        logits, labels, _ = multi_data(n=20, k=3)
        vocab = ["red", "green", "blue"]
        by_id = MultiClassHead(3).create_estimator_spec({}, EVAL, logits, labels)
        by_name = MultiClassHead(3, label_vocabulary=vocab).create_estimator_spec(
            {}, EVAL, logits, np.array(vocab)[labels][:, None]
        )
        by_float = MultiClassHead(3).create_estimator_spec(
            {}, EVAL, logits, labels.astype(np.float32)
        )
        assert results(by_id) == results(by_name) == results(by_float)
        assert float(by_id.loss) == float(by_name.loss) == float(by_float.loss)

    def test_sum_reduction(self):
        logits, labels, weights = multi_data(n=8)
        head = MultiClassHead(4, weight_column="w", loss_reduction="sum")
        xent = -np.log(np_softmax(logits.astype(np.float64))[np.arange(8), labels])
        loss = head.loss(labels, logits, {"w": weights[:, None]})
        assert float(loss) == pytest.approx((weights * xent).sum(), rel=1e-5)

    @pytest.mark.parametrize(
        "labels", [[0, 4], [-1, 0], [0.0, 1.5]], ids=["too big", "negative", "1.5"]
    )
    def test_labels_out_of_range_fail_at_run_time(self, labels):
        message = (
            "MultiClassHead: labels must be class ids in [0, 4) (integers 0 to 3); "
            "got labels outside it:"
        )
        with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
            MultiClassHead(4).loss(tf.constant(labels), tf.zeros([2, 4]))

    def test_one_hot_labels_get_a_hint(self):
        with pytest.raises(
            EstimatorSpecError,
            match=re.escape(
                "labels must have shape [batch_size] or [batch_size, 1]; got shape "
                "[2, 3]. MultiClassHead takes class ids, not one-hot vectors: pass "
                "tf.argmax(labels, axis=-1)."
            ),
        ):
            MultiClassHead(3).loss(tf.one_hot([0, 2], 3), tf.zeros([2, 3]))

    def test_logits_must_have_n_classes_columns(self):
        with pytest.raises(
            EstimatorSpecError,
            match=re.escape("logits must have shape [batch_size, 3]; got shape [2, 4]"),
        ):
            MultiClassHead(3).create_estimator_spec({}, PREDICT, tf.zeros([2, 4]))

    def test_export_outputs(self):
        outputs = (
            MultiClassHead(3).create_estimator_spec({}, PREDICT, tf.zeros([2, 3]))
        ).export_outputs
        assert sorted(outputs) == ["classification", "predict", "serving_default"]
        assert isinstance(outputs["serving_default"], ClassificationOutput)
        assert isinstance(outputs["predict"], PredictOutput)
        assert outputs["classification"].outputs()["classes"].shape == (2, 3)

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"n_classes": 1}, "MultiClassHead: n_classes must be at least 2; got 1."),
            ({"n_classes": 3.0}, "n_classes must be an int; got 3.0."),
            (
                {"n_classes": 3, "label_vocabulary": ["a", "b"]},
                "label_vocabulary must have n_classes=3 entries, one per class; got "
                "2: ['a', 'b'].",
            ),
            (
                {"n_classes": 3, "label_vocabulary": ["a", "b", "b"]},
                "has duplicates ['b']",
            ),
            ({"n_classes": 3, "loss_reduction": "mean"}, "loss_reduction='mean'"),
        ],
    )
    def test_constructor_errors(self, kwargs, message):
        with pytest.raises(EstimatorSpecError, match=re.escape(message)):
            MultiClassHead(**kwargs)


# ---------------------------------------------------------------- RegressionHead


class TestRegressionHead:
    @pytest.mark.parametrize("weights_shape", [None, (6,), (6, 1), (6, 2)])
    def test_eval_metrics_and_loss_match_numpy(self, weights_shape):
        rng = np.random.default_rng(5)
        logits = rng.normal(size=(6, 2)).astype(np.float32)
        labels = rng.normal(size=(6, 2)).astype(np.float32)
        features = {}
        w = np.ones((6, 1))
        if weights_shape is not None:
            weights = rng.uniform(0.1, 3.0, size=weights_shape).astype(np.float32)
            features["w"] = weights
            w = weights.reshape(6, -1)
        head = RegressionHead(
            label_dimension=2, weight_column="w" if weights_shape else None
        )
        spec = head.create_estimator_spec(features, EVAL, logits, labels)
        squared = (logits.astype(np.float64) - labels) ** 2
        assert_metrics_match(
            results(spec),
            {
                "average_loss": np_mean(squared, w),
                "label/mean": np_mean(labels, w),
                "prediction/mean": np_mean(logits, w),
            },
        )
        weighted = squared * np.broadcast_to(w, squared.shape)
        assert float(spec.loss) == pytest.approx(weighted.sum() / 12, rel=1e-5)
        summed = RegressionHead(
            2, weight_column=head.weight_column, loss_reduction=LossReduction.SUM
        )
        assert float(summed.loss(labels, logits, features)) == pytest.approx(
            weighted.sum(), rel=1e-5
        )

    def test_predictions_and_label_forms(self):
        head = RegressionHead()
        spec = head.create_estimator_spec(
            {}, EVAL, [[1.0], [2.0]], np.array([3, 2], np.int32)
        )
        assert list(spec.predictions) == ["predictions"]
        assert spec.predictions["predictions"].numpy().tolist() == [[1.0], [2.0]]
        assert float(spec.loss) == 2.0
        assert sorted(spec.eval_metric_ops) == [
            "average_loss",
            "label/mean",
            "prediction/mean",
        ]

    def test_export_outputs_depend_on_the_label_dimension(self):
        one = RegressionHead().create_estimator_spec({}, PREDICT, [[1.0]])
        assert sorted(one.export_outputs) == [
            "predict",
            "regression",
            "serving_default",
        ]
        assert isinstance(one.export_outputs["serving_default"], RegressionOutput)
        assert isinstance(one.export_outputs["regression"], RegressionOutput)
        two = RegressionHead(2).create_estimator_spec({}, PREDICT, [[1.0, 2.0]])
        assert sorted(two.export_outputs) == ["predict", "serving_default"]
        assert isinstance(two.export_outputs["serving_default"], PredictOutput)

    @pytest.mark.parametrize(
        ("head", "labels", "message"),
        [
            (
                RegressionHead(2),
                [1.0, 2.0],
                "RegressionHead: labels must have shape [batch_size, 2]; got shape "
                "[2].",
            ),
            (
                RegressionHead(),
                ["1.5", "2"],
                "labels must be numbers; got dtype string",
            ),
        ],
    )
    def test_bad_labels(self, head, labels, message):
        with pytest.raises(EstimatorSpecError, match=re.escape(message)):
            head.loss(labels, tf.zeros([2, head.logits_dimension]))

    @pytest.mark.parametrize("label_dimension", [0, 1.5, True])
    def test_label_dimension_must_be_positive(self, label_dimension):
        with pytest.raises(
            EstimatorSpecError, match=re.escape("label_dimension must be an int >= 1")
        ):
            RegressionHead(label_dimension)


# ---------------------------------------------------------------- through the Estimator

FEATURE_SPEC = {"x": tf.io.FixedLenFeature([3], tf.float32)}


def head_model_fn(head):
    def model_fn(features, labels, mode):
        logits = keras.layers.Dense(head.logits_dimension)(features["x"])
        return head.create_estimator_spec(
            features, mode, logits, labels, train_op=keras.optimizers.SGD(0.1)
        )

    return model_fn


def estimator_data(kind: str, n=72, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    score = x @ np.array([1.0, -2.0, 0.5], np.float32)
    weights = rng.uniform(0.2, 3.0, size=(n, 1)).astype(np.float32)
    if kind == "binary":
        y = np.where(score + rng.normal(size=n) > 0, "pos", "neg")
    elif kind == "multi":
        y = np.array(["low", "mid", "high"])[np.digitize(score, [-1.0, 1.0])]
    else:
        y = np.stack([score, -score], 1) + 0.1 * rng.normal(size=(n, 2))
        y = y.astype(np.float32)
    return {"x": x, "w": weights}, y


def input_fn(features, y, labels=True):
    def fn():
        data = (features, y) if labels else features
        return tf.data.Dataset.from_tensor_slices(data).batch(16)

    return fn


def serialized(x) -> tf.Tensor:
    return tf.constant(
        [
            tf.train.Example(
                features=tf.train.Features(
                    feature={
                        "x": tf.train.Feature(float_list=tf.train.FloatList(value=row))
                    }
                )
            ).SerializeToString()
            for row in x
        ]
    )


def trained(head, kind, model_dir):
    features, y = estimator_data(kind)
    estimator = tf_estimator.Estimator(
        head_model_fn(head), str(model_dir), tf_estimator.RunConfig(tf_random_seed=3)
    )
    train = input_fn(features, y)
    estimator.train(lambda: train().repeat(), steps=8)
    evaluation = estimator.evaluate(input_fn(features, y))
    predictions = list(estimator.predict(input_fn(features, y, labels=False)))
    return estimator, features, y, evaluation, predictions


def export_and_load(estimator, model_dir):
    receiver = tf_estimator.export.build_parsing_serving_input_receiver_fn(FEATURE_SPEC)
    path = estimator.export_saved_model(str(model_dir / "export"), receiver)
    return tf.saved_model.load(path.decode())


class TestThroughTheEstimator:
    def test_binary_head(self, tmp_path):
        vocab = ["neg", "pos"]
        head = BinaryClassHead(
            weight_column="w", thresholds=[0.4], label_vocabulary=vocab
        )
        estimator, features, y, evaluation, predictions = trained(
            head, "binary", tmp_path
        )
        logits = np.array([p["logits"] for p in predictions], np.float64)
        labels = (y == "pos").astype(np.float64)[:, None]
        weights = features["w"]
        expected = np_binary_metrics(logits, labels, weights, [0.4])
        actual = {k: float(v) for k, v in evaluation.items()}
        assert actual.pop("global_step") == 8
        loss = (weights * np_sigmoid_xent(labels, logits)).sum() / len(labels)
        assert actual.pop("loss") == pytest.approx(loss, rel=1e-5)
        assert_metrics_match(actual, expected)
        assert 0.6 < actual["accuracy"] < 1.0  # it learned, but is not trivially right
        classes = [p["classes"][0] for p in predictions]
        assert classes == [vocab[int(p["class_ids"][0])].encode() for p in predictions]

        model = export_and_load(estimator, tmp_path)
        assert sorted(model.signatures) == [
            "classification",
            "predict",
            "regression",
            "serving_default",
        ]
        examples = serialized(features["x"][:5])
        classify = model.signatures["classification"](inputs=examples)
        assert sorted(classify) == ["classes", "scores"]
        assert classify["classes"].numpy().tolist() == [[b"neg", b"pos"]] * 5
        np.testing.assert_allclose(
            classify["scores"].numpy(),
            [p["probabilities"] for p in predictions[:5]],
            rtol=1e-5,
        )
        regress = model.signatures["regression"](inputs=examples)
        np.testing.assert_allclose(
            regress["outputs"].numpy(),
            [p["logistic"] for p in predictions[:5]],
            rtol=1e-5,
        )
        predict = model.signatures["predict"](examples=examples)
        assert sorted(predict) == sorted(predictions[0])
        for key in predict:
            served = predict[key].numpy()
            local = np.array([p[key] for p in predictions[:5]])
            if served.dtype.kind in "SO":
                assert served.tolist() == local.tolist(), key
            else:
                np.testing.assert_allclose(served, local, rtol=1e-5, err_msg=key)

    def test_multi_class_head(self, tmp_path):
        vocab = ["low", "mid", "high"]
        head = MultiClassHead(3, weight_column="w", label_vocabulary=vocab)
        estimator, features, y, evaluation, predictions = trained(
            head, "multi", tmp_path
        )
        logits = np.array([p["logits"] for p in predictions])
        labels = np.array([vocab.index(v) for v in y])
        actual = {k: float(v) for k, v in evaluation.items()}
        actual.pop("global_step")
        actual.pop("loss")
        assert_metrics_match(actual, np_multi_metrics(logits, labels, features["w"]))

        model = export_and_load(estimator, tmp_path)
        examples = serialized(features["x"][:4])
        classify = model.signatures["serving_default"](inputs=examples)
        assert classify["classes"].numpy().tolist() == [[b"low", b"mid", b"high"]] * 4
        np.testing.assert_allclose(
            classify["scores"].numpy(),
            [p["probabilities"] for p in predictions[:4]],
            rtol=1e-5,
        )
        predict = model.signatures["predict"](examples=examples)
        assert predict["classes"].numpy().tolist() == [
            p["classes"].tolist() for p in predictions[:4]
        ]

    def test_regression_head(self, tmp_path):
        head = RegressionHead(label_dimension=2, weight_column="w")
        estimator, features, y, evaluation, predictions = trained(
            head, "regression", tmp_path
        )
        values = np.array([p["predictions"] for p in predictions], np.float64)
        w = features["w"]
        actual = {k: float(v) for k, v in evaluation.items()}
        actual.pop("global_step")
        loss = (w * (values - y) ** 2).sum() / y.size
        assert actual.pop("loss") == pytest.approx(loss, rel=1e-5)
        assert_metrics_match(
            actual,
            {
                "average_loss": np_mean((values - y) ** 2, w),
                "label/mean": np_mean(y, w),
                "prediction/mean": np_mean(values, w),
            },
        )
        model = export_and_load(estimator, tmp_path)
        assert sorted(model.signatures) == ["predict", "serving_default"]
        out = model.signatures["predict"](examples=serialized(features["x"][:3]))
        np.testing.assert_allclose(out["predictions"].numpy(), values[:3], rtol=1e-5)

    def test_bad_label_stops_evaluation_with_the_heads_message(self, tmp_path):
        features, y = estimator_data("binary", n=16)
        head = BinaryClassHead(label_vocabulary=["neg", "pos"])
        estimator = tf_estimator.Estimator(head_model_fn(head), str(tmp_path))
        estimator.train(input_fn(features, y), steps=1)
        y[3] = "maybe"
        with pytest.raises(
            tf.errors.InvalidArgumentError, match="labels must be in label_vocabulary"
        ):
            estimator.evaluate(input_fn(features, y))


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0],
        [tf.config.LogicalDeviceConfiguration()] * 2,
    )
    from components.trainer import estimator as tf_estimator
    from components.trainer.estimator.canned.heads import BinaryClassHead
    from tests.components.trainer.canned.test_heads import estimator_data, head_model_fn

    features, y = estimator_data("binary", n=64)

    def input_fn(input_context):
        batch = input_context.get_per_replica_batch_size(32)
        return tf.data.Dataset.from_tensor_slices((features, y)).batch(batch)

    out = {}
    for name, strategy in [("one", None), ("two", tf.distribute.MirroredStrategy())]:
        head = BinaryClassHead(weight_column="w", label_vocabulary=["neg", "pos"])
        estimator = tf_estimator.Estimator(
            head_model_fn(head),
            f"{sys.argv[1]}/{name}",
            tf_estimator.RunConfig(tf_random_seed=1, train_distribute=strategy),
        )
        estimator.train(lambda input_context: input_fn(input_context).repeat(), steps=4)
        out[name] = {k: float(v) for k, v in estimator.evaluate(input_fn).items()}
    print(json.dumps(out))
    """
)


def test_mirrored_two_replicas_match_one_replica(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(out["one"]) == sorted(out["two"])
    assert len(out["one"]) == 11  # 9 metrics, loss, global_step
    for key, value in out["one"].items():
        assert out["two"][key] == pytest.approx(value, abs=1e-5), key
