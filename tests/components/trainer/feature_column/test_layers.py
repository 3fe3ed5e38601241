"""DenseFeatures and LinearModel: outputs computed by hand from their variables,
variable names, and the errors for columns a layer cannot read."""

from __future__ import annotations

import math
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from components.trainer.estimator.errors import EstimatorSpecError
from components.trainer.estimator.feature_column import (
    DenseFeatures,
    LinearModel,
    bucketized_column,
    categorical_column_with_hash_bucket,
    categorical_column_with_vocabulary_list,
    crossed_column,
    embedding_column,
    indicator_column,
    numeric_column,
    weighted_categorical_column,
)

COLOR = categorical_column_with_vocabulary_list(
    "color", ["red", "green", "blue", "gray"]
)
TAGS = {"color": tf.ragged.constant([["red", "blue", "blue"], [], ["green"], ["zzz"]])}


def variable(layer, path: str) -> np.ndarray:
    (found,) = [v for v in layer.weights if v.path == path]
    return found.numpy()


def set_variable(layer, path: str, value) -> None:
    (found,) = [v for v in layer.weights if v.path == path]
    found.assign(np.asarray(value, np.float32))


# ---------------------------------------------------------------- DenseFeatures


class TestEmbedding:
    @pytest.mark.parametrize("combiner", ["sum", "mean", "sqrtn"])
    def test_combiners_match_a_computation_by_hand(self, combiner):
        layer = DenseFeatures([embedding_column(COLOR, 3, combiner=combiner)], name="d")
        out = layer(TAGS).numpy()
        table = variable(layer, "d/color_embedding/embedding_weights")
        assert table.shape == (4, 3)
        red, green, blue = table[0], table[1], table[2]
        total = red + 2 * blue
        expected_row0 = {
            "sum": total,
            "mean": total / 3,
            "sqrtn": total / math.sqrt(3),
        }[combiner]
        np.testing.assert_allclose(out[0], expected_row0, rtol=1e-6)
        np.testing.assert_array_equal(out[1], [0, 0, 0])  # no ids: zeros
        np.testing.assert_allclose(out[2], green, rtol=1e-6)
        np.testing.assert_array_equal(out[3], [0, 0, 0])  # out of vocabulary: no id

    @pytest.mark.parametrize("combiner", ["sum", "mean", "sqrtn"])
    @pytest.mark.parametrize("width", [1, 2])
    def test_dense_features_one_or_two_values_per_example(self, combiner, width):
        # One value per example takes a shorter path (no normalization); two
        # values per example must still be normalized.
        layer = DenseFeatures([embedding_column(COLOR, 3, combiner=combiner)], name="d")
        values = [["red", "green"], ["", "blue"], ["zzz", ""], ["blue", "blue"]]
        out = layer({"color": tf.constant([row[:width] for row in values])}).numpy()
        table = variable(layer, "d/color_embedding/embedding_weights")
        index = {"red": 0, "green": 1, "blue": 2}
        for row, got in zip(values, out):
            ids = [index[v] for v in row[:width] if v in index]
            total = table[ids].sum(axis=0) if ids else np.zeros(3)
            norm = {"sum": 1, "mean": len(ids), "sqrtn": math.sqrt(len(ids))}[combiner]
            np.testing.assert_allclose(got, total / max(norm, 1), rtol=1e-6)

    @pytest.mark.parametrize("combiner", ["sum", "mean", "sqrtn"])
    def test_weighted_combiners(self, combiner):
        column = embedding_column(
            weighted_categorical_column(COLOR, "w"), 2, combiner=combiner
        )
        layer = DenseFeatures([column], name="d")
        features = {
            "color": tf.constant([["red", "blue", "green"]]),
            "w": tf.constant([[2.0, 0.5, 0.0]]),  # a zero weight drops its id
        }
        out = layer(features).numpy()[0]
        table = variable(layer, "d/color_weighted_by_w_embedding/embedding_weights")
        total = 2.0 * table[0] + 0.5 * table[2]
        norm = {"sum": 1.0, "mean": 2.5, "sqrtn": math.sqrt(4.25)}[combiner]
        np.testing.assert_allclose(out, total / norm, rtol=1e-6)

    @pytest.mark.parametrize("combiner", ["sum", "mean", "sqrtn"])
    def test_gradient_of_the_table_matches_a_computation_by_hand(self, combiner):
        column = embedding_column(
            weighted_categorical_column(COLOR, "w"), 2, combiner=combiner
        )
        layer = DenseFeatures([column], name="d")
        features = {
            "color": tf.constant([["red", "blue", "blue"], ["", "green", "zzz"]]),
            "w": tf.constant([[2.0, 0.5, 1.0], [1.0, 3.0, 1.0]]),
        }
        upstream = np.array([[1.0, -2.0], [0.5, 4.0]], np.float32)
        layer.build()
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(features) * upstream)
        (gradient,) = tape.gradient(loss, layer.trainable_weights)
        # Row 0: red (2.0), blue (0.5), blue (1.0); row 1: green (3.0) only.
        norms = {
            "sum": [1.0, 1.0],
            "mean": [3.5, 3.0],
            "sqrtn": [math.sqrt(4 + 0.25 + 1), 3.0],
        }[combiner]
        expected = np.zeros((4, 2), np.float32)
        expected[0] = 2.0 * upstream[0] / norms[0]
        expected[2] = 1.5 * upstream[0] / norms[0]
        expected[1] = 3.0 * upstream[1] / norms[1]
        np.testing.assert_allclose(tf.convert_to_tensor(gradient), expected, rtol=1e-6)

    def test_max_norm_clips_each_row_before_combining(self):
        layer = DenseFeatures(
            [embedding_column(COLOR, 2, combiner="sum", max_norm=1.0)], name="d"
        )
        layer.build()
        set_variable(
            layer,
            "d/color_embedding/embedding_weights",
            [[3, 4], [0.3, 0.4], [0, 2], [1, 1]],
        )
        out = layer({"color": tf.constant([["red", "green"], ["blue", ""]])}).numpy()
        np.testing.assert_allclose(out, [[0.9, 1.2], [0.0, 1.0]], rtol=1e-6)

    def test_default_initializer_is_truncated_normal_of_stddev_one_over_sqrt_dim(self):
        column = embedding_column(categorical_column_with_hash_bucket("h", 4000), 4)
        layer = DenseFeatures([column], name="d")
        layer.build()
        table = variable(layer, "d/h_embedding/embedding_weights")
        assert abs(table.std() - 0.5 * 0.88) < 0.02  # truncated at 2 stddev
        assert np.abs(table).max() <= 2 * 0.5 + 1e-6

    def test_initializer_and_trainable_are_used(self):
        column = embedding_column(
            COLOR, 2, initializer=keras.initializers.Constant(0.25), trainable=False
        )
        layer = DenseFeatures([column], name="d")
        layer.build()
        np.testing.assert_array_equal(
            variable(layer, "d/color_embedding/embedding_weights"),
            np.full((4, 2), 0.25),
        )
        assert layer.trainable_weights == []

    def test_a_tf_compat_v1_initializer_works(self):
        initializer = tf.compat.v1.constant_initializer(0.5)
        layer = DenseFeatures([embedding_column(COLOR, 2, initializer=initializer)])
        out = layer({"color": tf.constant(["red"])})
        np.testing.assert_array_equal(out, [[0.5, 0.5]])


def test_dense_features_concatenates_columns_sorted_by_name():
    columns = [
        numeric_column("z"),
        indicator_column(COLOR),
        bucketized_column(numeric_column("a"), [0.0]),
    ]
    outputs = {}
    layer = DenseFeatures(columns)
    out = layer(
        {
            "z": tf.constant([5.0]),
            "color": tf.constant(["blue"]),
            "a": tf.constant([1.0]),
        },
        cols_to_output_tensors=outputs,
    )
    # a_bucketized (2), color_indicator (4), z (1)
    np.testing.assert_array_equal(out, [[0, 1, 0, 0, 1, 0, 5]])
    assert [c.name for c in layer.feature_columns] == [
        "a_bucketized",
        "color_indicator",
        "z",
    ]
    np.testing.assert_array_equal(outputs[columns[0]], [[5.0]])


def test_dense_features_take_numpy_arrays_and_lists():
    layer = DenseFeatures([numeric_column("x"), indicator_column(COLOR)])
    out = layer({"x": np.array([1.5, 2.5]), "color": ["gray", "red"]})
    np.testing.assert_array_equal(out, [[0, 0, 0, 1, 1.5], [1, 0, 0, 0, 2.5]])


def test_variables_are_named_after_layer_and_column():
    crossed = crossed_column(["a", "b"], 10)
    layer = DenseFeatures(
        [embedding_column(COLOR, 2), embedding_column(crossed, 3)], name="inputs"
    )
    with keras.name_scope("dnn"):
        layer(
            {
                "color": tf.constant(["red"]),
                "a": tf.constant(["x"]),
                "b": tf.constant(["y"]),
            }
        )
    # Keras 3 paths start with the name scopes the layer is first called in.
    assert [v.path for v in layer.weights] == [
        "dnn/inputs/a_X_b_embedding/embedding_weights",
        "dnn/inputs/color_embedding/embedding_weights",
    ]


def test_dense_features_refuse_a_bare_categorical_column():
    with pytest.raises(
        EstimatorSpecError,
        match=re.escape(
            "column 'color' is categorical; a DNN reads dense columns. Wrap it in indicator_column"
        ),
    ):
        DenseFeatures([numeric_column("x"), COLOR])


def test_columns_with_the_same_name_are_refused():
    with pytest.raises(EstimatorSpecError, match="two feature columns are named 'x'"):
        DenseFeatures([numeric_column("x"), numeric_column("x", shape=2)])
    with pytest.raises(EstimatorSpecError, match="feature_columns is empty"):
        LinearModel([])


def test_errors_name_the_layer_and_the_column():
    layer = DenseFeatures([indicator_column(COLOR)], name="inputs")
    with pytest.raises(
        EstimatorSpecError,
        match=re.escape(
            "DenseFeatures 'inputs', column 'color_indicator' reads feature 'color'"
        ),
    ):
        layer({"x": tf.constant([1.0])})


# ---------------------------------------------------------------- LinearModel


class TestLinearModel:
    def test_logits_match_a_computation_by_hand(self):
        age = numeric_column("age", shape=2)
        buckets = bucketized_column(numeric_column("x"), [0.0, 1.0])
        columns = [age, COLOR, buckets, indicator_column(COLOR)]
        layer = LinearModel(columns, units=2, name="lm")
        features = {
            "age": tf.constant([[1.0, 2.0], [3.0, -1.0]]),
            "color": tf.constant([["red", "blue"], ["gray", ""]]),
            "x": tf.constant([0.5, 7.0]),
        }
        layer.build()
        rng = np.random.default_rng(0)
        values = {}
        for v in layer.weights:
            values[v.path] = rng.normal(size=v.shape).astype(np.float32)
            v.assign(values[v.path])
        out = layer(features).numpy()
        w_age = values["lm/numeric_weights"]  # age is the one numeric column
        np.testing.assert_array_equal(layer.column_weights("age"), w_age)
        w_color = values["lm/color/weights"]
        w_buckets = values["lm/x_bucketized/weights"]
        w_indicator = values["lm/color_indicator/weights"]
        bias = values["lm/bias_weights"]
        assert w_age.shape == (2, 2) and w_color.shape == (4, 2)
        assert w_buckets.shape == (3, 2) and w_indicator.shape == (4, 2)
        row0 = (
            np.array([1.0, 2.0]) @ w_age
            + w_color[0]
            + w_color[2]
            + w_buckets[1]
            + w_indicator[0]
            + w_indicator[2]
            + bias
        )
        row1 = (
            np.array([3.0, -1.0]) @ w_age
            + w_color[3]
            + w_buckets[2]
            + w_indicator[3]
            + bias
        )
        np.testing.assert_allclose(out, [row0, row1], rtol=1e-5)

    @pytest.mark.parametrize("combiner", ["sum", "mean", "sqrtn"])
    def test_sparse_combiner_and_weights(self, combiner):
        column = weighted_categorical_column(COLOR, "w")
        layer = LinearModel([column], sparse_combiner=combiner, name="lm")
        layer.build()
        set_variable(
            layer, "lm/color_weighted_by_w/weights", [[1.0], [10.0], [100.0], [1000.0]]
        )
        set_variable(layer, "lm/bias_weights", [0.5])
        features = {
            "color": tf.constant([["red", "blue"], ["", "gray"]]),
            "w": tf.constant([[2.0, 1.0], [1.0, 3.0]]),
        }
        out = layer(features).numpy()[:, 0]
        norms = {
            "sum": (1.0, 1.0),
            "mean": (3.0, 3.0),
            "sqrtn": (math.sqrt(5.0), 3.0),
        }[combiner]
        np.testing.assert_allclose(
            out, [102.0 / norms[0] + 0.5, 3000.0 / norms[1] + 0.5], rtol=1e-6
        )

    def test_weights_start_at_zero_and_embedding_columns_are_dense_inputs(self):
        layer = LinearModel(
            [embedding_column(COLOR, 3), numeric_column("x")], name="lm"
        )
        out = layer({"color": tf.constant(["red"]), "x": tf.constant([2.0])})
        np.testing.assert_array_equal(out, [[0.0]])
        assert sorted(v.path for v in layer.weights) == [
            "lm/bias_weights",
            "lm/color_embedding/embedding_weights",
            "lm/color_embedding/weights",
            "lm/numeric_weights",
        ]
        assert variable(layer, "lm/color_embedding/weights").shape == (3, 1)

    def test_bad_arguments(self):
        with pytest.raises(EstimatorSpecError, match="units must be an int >= 1"):
            LinearModel([numeric_column("x")], units=0)
        with pytest.raises(EstimatorSpecError, match="sparse_combiner='max'"):
            LinearModel([numeric_column("x")], sparse_combiner="max")

    def test_gradients_reach_only_the_rows_of_the_ids_seen(self):
        layer = LinearModel([COLOR], name="lm")
        features = {"color": tf.constant(["blue", "blue", "red"])}
        layer.build()
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(features))
        (grad,) = tape.gradient(loss, [layer.weights[1].value])
        np.testing.assert_array_equal(tf.convert_to_tensor(grad)[:, 0], [1, 0, 2, 0])


def test_layers_work_inside_tf_function_with_parsed_examples():
    spec = {
        "color": tf.io.VarLenFeature(tf.string),
        "x": tf.io.FixedLenFeature([1], tf.float32, [0.0]),
    }
    dense = DenseFeatures([embedding_column(COLOR, 2), numeric_column("x")])
    linear = LinearModel([COLOR, numeric_column("x")])

    @tf.function
    def serve(serialized):
        features = tf.io.parse_example(serialized, spec)
        return dense(features), linear(features)

    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                "color": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"red"]))
            }
        )
    ).SerializeToString()
    dense_out, linear_out = serve(tf.constant([example, b""]))
    assert dense_out.shape == (2, 3) and linear_out.shape == (2, 1)
    np.testing.assert_array_equal(dense_out[1], [0, 0, 0])


def test_characters_a_variable_path_cannot_hold_become_underscores():
    column = categorical_column_with_hash_bucket("trip/miles (km)", 10)
    layer = LinearModel([column], name="lm")
    layer({"trip/miles (km)": tf.constant(["a"])})
    assert sorted(v.path for v in layer.weights) == [
        "lm/bias_weights",
        "lm/trip_miles__km_/weights",
    ]


def test_numeric_columns_are_rows_of_one_variable_in_column_order():
    columns = [numeric_column("b"), numeric_column("a", shape=2), COLOR]
    layer = LinearModel(columns, units=3, name="lm")
    layer.build()
    assert layer.numeric_weights.shape == (3, 3)
    rows = np.arange(9, dtype=np.float32).reshape(3, 3)
    layer.numeric_weights.assign(rows)
    # Sorted by name: a (2 rows), then b.
    np.testing.assert_array_equal(layer.column_weights("a"), rows[:2])
    np.testing.assert_array_equal(layer.column_weights("b"), rows[2:])
    features = {
        "a": tf.constant([[1.0, -1.0]]),
        "b": tf.constant([2.0]),
        "color": tf.constant([[""]]),
    }
    expected = np.array([1.0, -1.0, 2.0]) @ rows
    np.testing.assert_allclose(layer(features).numpy()[0], expected)
    with pytest.raises(KeyError, match="no column 'c'"):
        layer.column_weights("c")
