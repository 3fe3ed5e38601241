"""Column values: ids per example for every categorical column, dense tensors for the
dense ones, with missing and out-of-vocabulary values, dense, sparse and ragged
inputs. Expected hashes and crosses are computed here with TensorFlow's ops or
numpy, independently of the code under test."""

from __future__ import annotations

import re

import numpy as np
import pytest
import tensorflow as tf

from components.trainer.estimator.errors import EstimatorSpecError
from components.trainer.estimator.feature_column import (
    DenseFeatures,
    bucketized_column,
    categorical_column_with_hash_bucket,
    categorical_column_with_identity,
    categorical_column_with_vocabulary_file,
    categorical_column_with_vocabulary_list,
    crossed_column,
    indicator_column,
    numeric_column,
    weighted_categorical_column,
)
from components.trainer.estimator.feature_column.transform import categorical_ids


def ids_by_row(column, features) -> list[list[int]]:
    """The column's ids of each example, sorted."""
    ids = categorical_ids(column, features, "test")
    rows = [[] for _ in range(int(ids.batch_size))]
    for row, value in zip(ids.rows.numpy(), ids.ids.numpy()):
        rows[row].append(int(value))
    return [sorted(r) for r in rows]


def weights_by_row(column, features) -> list[list[tuple[int, float]]]:
    ids = categorical_ids(column, features, "test")
    rows = [[] for _ in range(int(ids.batch_size))]
    for row, value, weight in zip(
        ids.rows.numpy(), ids.ids.numpy(), ids.weights.numpy()
    ):
        rows[row].append((int(value), round(float(weight), 5)))
    return [sorted(r) for r in rows]


def bucket(value, size: int) -> int:
    return int(tf.strings.to_hash_bucket_fast([value], size)[0])


def parse(rows: list[dict], spec: dict) -> dict:
    """tf.io.parse_example over examples built from {key: [values]} dicts."""
    serialized = []
    for row in rows:
        feature = {}
        for key, values in row.items():
            if values and isinstance(values[0], str):
                feature[key] = tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[v.encode() for v in values])
                )
            elif values and isinstance(values[0], float):
                feature[key] = tf.train.Feature(
                    float_list=tf.train.FloatList(value=values)
                )
            else:
                feature[key] = tf.train.Feature(
                    int64_list=tf.train.Int64List(value=values)
                )
        example = tf.train.Example(features=tf.train.Features(feature=feature))
        serialized.append(example.SerializeToString())
    return tf.io.parse_example(tf.constant(serialized), spec)


# ---------------------------------------------------------------- vocabulary


class TestVocabularyList:
    column = categorical_column_with_vocabulary_list("c", ["a", "b", "c"])

    def test_dense_strings_with_missing_and_unknown_values(self):
        features = {"c": tf.constant(["b", "", "zzz", "a"])}
        assert ids_by_row(self.column, features) == [[1], [], [], [0]]

    def test_rank_two_dense_rows_hold_several_ids(self):
        features = {"c": tf.constant([["a", "c"], ["", "b"]])}
        assert ids_by_row(self.column, features) == [[0, 2], [1]]

    def test_default_value_takes_unknown_values_but_not_missing_ones(self):
        column = categorical_column_with_vocabulary_list(
            "c", ["a", "b"], default_value=1
        )
        assert ids_by_row(column, {"c": tf.constant(["zzz", "", "a"])}) == [
            [1],
            [],
            [0],
        ]

    def test_oov_buckets_hash_unknown_values_after_the_vocabulary(self):
        column = categorical_column_with_vocabulary_list(
            "c", ["a", "b"], num_oov_buckets=5
        )
        got = ids_by_row(column, {"c": tf.constant(["b", "zzz", "yy", ""])})
        assert got == [[1], [2 + bucket("zzz", 5)], [2 + bucket("yy", 5)], []]
        assert all(2 <= i[0] < 7 for i in got[1:3])

    def test_integer_vocabulary_and_integer_oov_hashed_as_strings(self):
        column = categorical_column_with_vocabulary_list(
            "n", [30, 10, 20], num_oov_buckets=3
        )
        features = {"n": tf.constant([[10], [-1], [99], [30]], tf.int64)}
        assert ids_by_row(column, features) == [[1], [], [3 + bucket("99", 3)], [0]]
        int32 = {"n": tf.constant([20, 10], tf.int32)}
        assert ids_by_row(column, int32) == [[2], [1]]

    def test_sparse_input_from_parse_example(self):
        features = parse(
            [{"c": ["a", "c"]}, {}, {"c": ["zzz"]}, {"c": ["b", "b"]}],
            {"c": tf.io.VarLenFeature(tf.string)},
        )
        assert ids_by_row(self.column, features) == [[0, 2], [], [], [1, 1]]

    def test_ragged_input(self):
        features = {"c": tf.ragged.constant([["c"], [], ["a", "b"]])}
        assert ids_by_row(self.column, features) == [[2], [], [0, 1]]

    def test_missing_vocabulary_entries_match_nothing(self):
        column = categorical_column_with_vocabulary_list(
            "e", np.array(["S", np.nan, "Q"], dtype=object)
        )
        features = {"e": tf.constant(["Q", "nan", "", "S"])}
        assert ids_by_row(column, features) == [[2], [], [], [0]]

    def test_a_feature_of_the_wrong_type_is_refused(self):
        with pytest.raises(EstimatorSpecError, match="feature 'c' is int64"):
            ids_by_row(self.column, {"c": tf.constant([1, 2], tf.int64)})

    def test_a_missing_feature_names_the_close_match(self):
        with pytest.raises(EstimatorSpecError, match="Did you mean 'C'"):
            ids_by_row(
                self.column, {"C": tf.constant(["a"]), "other": tf.constant([1])}
            )


class TestVocabularyFile:
    def test_strings_limited_to_vocabulary_size(self, tmp_path):
        path = tmp_path / "vocab.txt"
        path.write_text("red\ngreen\nblue\n")
        column = categorical_column_with_vocabulary_file("c", str(path), 2)
        features = {"c": tf.constant(["blue", "green", "red", ""])}
        assert ids_by_row(column, features) == [[], [1], [0], []]

    def test_integers_with_default_value(self, tmp_path):
        path = tmp_path / "vocab.txt"
        path.write_text("7\n3\n")
        column = categorical_column_with_vocabulary_file(
            "n", str(path), dtype=tf.int64, default_value=0
        )
        features = {"n": tf.constant([3, 5, -1], tf.int64)}
        assert ids_by_row(column, features) == [[1], [0], []]

    def test_oov_buckets(self, tmp_path):
        path = tmp_path / "vocab.txt"
        path.write_text("x\n")
        column = categorical_column_with_vocabulary_file(
            "c", str(path), num_oov_buckets=4
        )
        assert ids_by_row(column, {"c": tf.constant(["x", "w"])}) == [
            [0],
            [1 + bucket("w", 4)],
        ]


# ---------------------------------------------------------------- identity, hash


class TestIdentity:
    def test_out_of_range_values_are_dropped_without_a_default(self):
        column = categorical_column_with_identity("i", 4)
        features = {"i": tf.constant([[0], [3], [4], [-1], [-7]], tf.int64)}
        assert ids_by_row(column, features) == [[0], [3], [], [], []]

    def test_out_of_range_values_take_the_default(self):
        column = categorical_column_with_identity("i", 4, default_value=2)
        dense = {"i": tf.constant([[1], [9], [-1]], tf.int64)}
        assert ids_by_row(column, dense) == [[1], [2], []]  # dense -1 is missing
        sparse = {
            "i": tf.SparseTensor(
                [[0, 0], [1, 0]], tf.constant([-5, 3], tf.int64), [3, 1]
            )
        }
        assert ids_by_row(column, sparse) == [[2], [3], []]

    def test_strings_are_refused(self):
        column = categorical_column_with_identity("i", 4)
        with pytest.raises(EstimatorSpecError, match="feature 'i' is string"):
            ids_by_row(column, {"i": tf.constant(["1"])})


class TestRowsOfDenseFeatures:
    """A dense feature's rows follow from its width, static or known when run."""

    COLUMN = categorical_column_with_vocabulary_list("c", ["a", "b", "c"])
    VALUES = [["a", "b", ""], ["", "c", "a"], ["", "", ""]]
    EXPECTED = [[0, 1], [0, 2], []]

    def test_static_width(self):
        features = {"c": tf.constant(self.VALUES)}
        assert ids_by_row(self.COLUMN, features) == self.EXPECTED

    def test_width_unknown_until_run_time(self):
        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.string)])
        def ids(values):
            found = categorical_ids(self.COLUMN, {"c": values}, "test")
            return found.rows, found.ids

        rows, values = ids(tf.constant(self.VALUES))
        by_row = [[], [], []]
        for row, value in zip(rows.numpy(), values.numpy()):
            by_row[row].append(int(value))
        assert [sorted(r) for r in by_row] == self.EXPECTED


class TestHashBucket:
    def test_strings_hash_with_to_hash_bucket_fast(self):
        column = categorical_column_with_hash_bucket("h", 10)
        values = ["Oslo", "Rome", "", "Lima"]
        expected = [[bucket(v, 10)] if v else [] for v in values]
        assert ids_by_row(column, {"h": tf.constant(values)}) == expected

    def test_integers_hash_as_their_decimal_strings(self):
        column = categorical_column_with_hash_bucket("h", 7, dtype=tf.int64)
        features = {"h": tf.constant([12, -1, 345], tf.int64)}
        assert ids_by_row(column, features) == [
            [bucket("12", 7)],
            [],
            [bucket("345", 7)],
        ]


# ---------------------------------------------------------------- bucketized


class TestBucketized:
    def test_bucket_index_includes_the_left_boundary(self):
        values = np.array([-5.0, 0.0, 5.0, 10.0, 100.0, 9.999], np.float32)
        column = bucketized_column(numeric_column("x"), [0, 10])
        expected = np.searchsorted([0.0, 10.0], values, side="right")
        assert ids_by_row(column, {"x": tf.constant(values)}) == [[b] for b in expected]
        assert expected.tolist() == [0, 1, 1, 2, 2, 1]

    def test_dense_value_is_one_hot(self):
        column = bucketized_column(numeric_column("x"), [0, 10])
        out = DenseFeatures([column])({"x": tf.constant([[-1.0], [10.0]])})
        np.testing.assert_array_equal(out, [[1, 0, 0], [0, 0, 1]])

    def test_vector_source_ids_are_offset_per_element(self):
        column = bucketized_column(numeric_column("v", shape=2), [0.0])
        features = {"v": tf.constant([[-1.0, 1.0], [1.0, 1.0]])}
        assert ids_by_row(column, features) == [[0, 3], [1, 3]]
        out = DenseFeatures([column])(features)
        np.testing.assert_array_equal(out, [[1, 0, 0, 1], [0, 1, 0, 1]])


# ---------------------------------------------------------------- crossed


class TestCrossed:
    def test_two_string_features_equal_cross_hashed(self):
        a = tf.constant([["x"], ["y"], ["x"]])
        b = tf.constant([["p"], ["p"], ["q"]])
        expected = tf.sparse.cross_hashed([a, b], num_buckets=50).values.numpy()
        column = crossed_column(["a", "b"], 50)
        assert ids_by_row(column, {"a": a, "b": b}) == [[int(v)] for v in expected]

    def test_hash_key_is_used(self):
        a, b = tf.constant([["x"]]), tf.constant([["p"]])
        expected = tf.sparse.cross_hashed([a, b], 1000, hash_key=7).values.numpy()
        default = tf.sparse.cross_hashed([a, b], 1000).values.numpy()
        assert expected[0] != default[0]
        column = crossed_column(["a", "b"], 1000, hash_key=7)
        assert ids_by_row(column, {"a": a, "b": b}) == [[int(expected[0])]]

    def test_sparse_rows_cross_every_combination(self):
        features = parse(
            [
                {"a": ["x", "y"], "b": ["p"]},
                {"a": ["x"]},
                {"a": ["z"], "b": ["p", "q"]},
            ],
            {"a": tf.io.VarLenFeature(tf.string), "b": tf.io.VarLenFeature(tf.string)},
        )
        expected = tf.sparse.cross_hashed([features["a"], features["b"]], 100)
        rows = [[] for _ in range(3)]
        for (row, _), value in zip(expected.indices.numpy(), expected.values.numpy()):
            rows[row].append(int(value))
        got = ids_by_row(crossed_column(["a", "b"], 100), features)
        assert got == [sorted(r) for r in rows]
        assert [len(r) for r in got] == [2, 0, 2]

    def test_a_column_key_crosses_its_ids_in_tf_estimators_order(self):
        sex = categorical_column_with_vocabulary_list("sex", ["m", "f"])
        age = tf.constant([[22], [22], [38]], tf.int64)
        features = {"sex": tf.constant([["m"], ["m"], ["f"]]), "age": age}
        ids = tf.SparseTensor(
            [[0, 0], [1, 0], [2, 0]], tf.constant([0, 0, 1], tf.int64), [3, 1]
        )
        # tf.estimator gave the cross op the sparse ids first, the dense feature last.
        expected = tf.sparse.cross_hashed([ids, age], 100).values.numpy()
        for keys in (["age", sex], [sex, "age"]):
            assert ids_by_row(crossed_column(keys, 100), features) == [
                [int(v)] for v in expected
            ]

    def test_bucketized_key_crosses_bucket_ids(self):
        buckets = bucketized_column(numeric_column("x"), [0.0])
        features = {"x": tf.constant([-1.0, 1.0]), "s": tf.constant(["a", "a"])}
        ids = tf.SparseTensor([[0, 0], [1, 0]], tf.constant([0, 1], tf.int64), [2, 1])
        expected = tf.sparse.cross_hashed([ids, tf.constant([["a"], ["a"]])], 30)
        got = ids_by_row(crossed_column([buckets, "s"], 30), features)
        assert got == [[int(v)] for v in expected.values.numpy()]

    def test_a_float_feature_is_truncated_like_tf_estimator(self):
        features = {
            "age": tf.constant([22.0, 22.7, 38.0]),
            "sex": tf.constant(["m"] * 3),
        }
        expected = tf.sparse.cross_hashed(
            [tf.constant([[22], [22], [38]], tf.int64), tf.constant([["m"]] * 3)], 100
        ).values.numpy()
        got = ids_by_row(crossed_column(["age", "sex"], 100), features)
        assert got == [[int(v)] for v in expected]
        assert got[0] == got[1]

    def test_a_missing_value_leaves_the_row_without_crossed_ids(self):
        features = {
            "age": tf.constant([22.0, float("nan"), 5.0, 7.0]),
            "sex": tf.constant(["m", "f", "", "f"]),
        }
        got = ids_by_row(crossed_column(["age", "sex"], 100), features)
        assert [len(r) for r in got] == [1, 0, 0, 1]


# ---------------------------------------------------------------- weighted


class TestWeighted:
    terms = categorical_column_with_vocabulary_list("terms", ["very", "model", "when"])

    def test_weights_stay_with_their_ids_when_ids_are_dropped(self):
        column = weighted_categorical_column(self.terms, "freq")
        features = parse(
            [
                {"terms": ["very", "zzz", "model"], "freq": [0.3, 0.9, 0.1]},
                {},
                {"terms": ["when"], "freq": [0.4]},
            ],
            {
                "terms": tf.io.VarLenFeature(tf.string),
                "freq": tf.io.VarLenFeature(tf.float32),
            },
        )
        assert weights_by_row(column, features) == [
            [(0, 0.3), (1, 0.1)],
            [],
            [(2, 0.4)],
        ]

    def test_dense_ids_and_weights_align_by_position(self):
        column = weighted_categorical_column(self.terms, "freq")
        features = {
            "terms": tf.constant([["very", ""], ["when", "model"]]),
            "freq": tf.constant([[2.0, 5.0], [1.0, 0.5]]),
        }
        assert weights_by_row(column, features) == [[(0, 2.0)], [(1, 0.5), (2, 1.0)]]

    def test_indicator_sums_the_weights(self):
        column = indicator_column(weighted_categorical_column(self.terms, "freq"))
        features = {
            "terms": tf.constant([["very", "very"], ["when", ""]]),
            "freq": tf.constant([[2.0, 0.5], [1.0, 3.0]]),
        }
        out = DenseFeatures([column])(features)
        np.testing.assert_allclose(out, [[2.5, 0, 0], [0, 0, 1.0]])

    def test_weights_must_match_the_ids_in_number(self):
        column = weighted_categorical_column(self.terms, "freq")
        features = {
            "terms": tf.constant([["very", "when"]]),
            "freq": tf.constant([[1.0]]),
        }
        with pytest.raises(tf.errors.InvalidArgumentError, match="one value per value"):
            weights_by_row(column, features)


# ---------------------------------------------------------------- dense values


class TestNumeric:
    def test_rank_one_input_is_a_column(self):
        out = DenseFeatures([numeric_column("x")])({"x": tf.constant([1.0, 2.0])})
        np.testing.assert_array_equal(out, [[1.0], [2.0]])

    def test_integers_normalizer_and_shape(self):
        column = numeric_column(
            "v", shape=(2,), dtype=tf.int64, normalizer_fn=lambda x: x * 2
        )
        out = DenseFeatures([column])({"v": tf.constant([[1, 2], [3, 4]], tf.int64)})
        assert out.dtype == tf.float32
        np.testing.assert_array_equal(out, [[2.0, 4.0], [6.0, 8.0]])

    def test_matrix_shape_is_flattened(self):
        column = numeric_column("m", shape=(2, 2))
        out = DenseFeatures([column])({"m": tf.reshape(tf.range(8.0), [2, 2, 2])})
        np.testing.assert_array_equal(out, [[0, 1, 2, 3], [4, 5, 6, 7]])

    def test_nan_takes_the_default_value(self):
        column = numeric_column("x", default_value=-1.0)
        out = DenseFeatures([column])({"x": tf.constant([3.0, float("nan")])})
        np.testing.assert_array_equal(out, [[3.0], [-1.0]])

    def test_sparse_and_ragged_inputs_are_filled_with_the_default(self):
        column = numeric_column("v", shape=(2,), default_value=[7.0, 8.0])
        sparse = parse(
            [{"v": [1.0]}, {}, {"v": [2.0, 3.0]}],
            {"v": tf.io.VarLenFeature(tf.float32)},
        )
        out = DenseFeatures([column])(sparse)
        np.testing.assert_array_equal(out, [[1, 8], [7, 8], [2, 3]])
        ragged = {"v": tf.ragged.constant([[1.0], [], [2.0, 3.0]])}
        np.testing.assert_array_equal(DenseFeatures([column])(ragged), out)

    def test_sparse_input_without_a_default_is_refused(self):
        sparse = {"x": tf.sparse.from_dense(tf.constant([[1.0]]))}
        with pytest.raises(
            EstimatorSpecError, match="has no default_value. Set default_value"
        ):
            DenseFeatures([numeric_column("x")])(sparse)

    def test_too_many_sparse_values_fail(self):
        sparse = {"x": tf.sparse.from_dense(tf.constant([[1.0, 2.0]]))}
        with pytest.raises(tf.errors.InvalidArgumentError, match="more than 1 values"):
            DenseFeatures([numeric_column("x", default_value=0.0)])(sparse)

    def test_a_feature_of_another_shape_is_refused(self):
        with pytest.raises(EstimatorSpecError, match=re.escape("Pass shape=(3,)")):
            DenseFeatures([numeric_column("x")])({"x": tf.zeros([2, 3])})

    def test_strings_are_refused(self):
        with pytest.raises(EstimatorSpecError, match="Use a categorical column"):
            DenseFeatures([numeric_column("x")])({"x": tf.constant(["1"])})


def test_indicator_counts_repeated_ids():
    column = indicator_column(categorical_column_with_vocabulary_list("c", ["a", "b"]))
    out = DenseFeatures([column])({"c": tf.constant([["a", "a"], ["b", ""], ["", ""]])})
    np.testing.assert_array_equal(out, [[2, 0], [0, 1], [0, 0]])
