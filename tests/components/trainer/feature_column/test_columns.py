"""Column constructors: tf.feature_column's defaults and names, value semantics, and
the errors for arguments that cannot work."""

from __future__ import annotations

import re

import numpy as np
import pytest
import tensorflow as tf

from components.trainer.estimator.errors import EstimatorSpecError
from components.trainer.estimator.feature_column import (
    CategoricalColumn,
    DenseColumn,
    bucketized_column,
    categorical_column_with_hash_bucket,
    categorical_column_with_identity,
    categorical_column_with_vocabulary_file,
    categorical_column_with_vocabulary_list,
    crossed_column,
    embedding_column,
    indicator_column,
    numeric_column,
    weighted_categorical_column,
)

SEX = categorical_column_with_vocabulary_list("sex", ["male", "female"])
AGE = numeric_column("age")


def test_names_follow_tensorflow():
    age_buckets = bucketized_column(AGE, [18, 65])
    assert AGE.name == "age"
    assert age_buckets.name == "age_bucketized"
    assert indicator_column(SEX).name == "sex_indicator"
    assert embedding_column(SEX, 2).name == "sex_embedding"
    assert crossed_column(["b", "a"], 10).name == "a_X_b"
    assert crossed_column([age_buckets, SEX], 10).name == "age_bucketized_X_sex"
    nested = crossed_column([crossed_column(["c", "a"], 5), SEX], 10)
    assert nested.name == "a_X_c_X_sex"
    assert weighted_categorical_column(SEX, "w").name == "sex_weighted_by_w"


def test_defaults_are_tensorflows():
    assert AGE.shape == (1,) and AGE.dtype == tf.float32
    assert AGE.default_value is None and AGE.normalizer_fn is None
    assert SEX.default_value == -1 and SEX.num_oov_buckets == 0
    assert SEX.dtype == tf.string
    embedding = embedding_column(SEX, 3)
    assert embedding.combiner == "mean" and embedding.initializer is None
    assert embedding.max_norm is None and embedding.trainable
    assert embedding.use_safe_embedding_lookup
    assert categorical_column_with_hash_bucket("c", 5).dtype == tf.string
    assert categorical_column_with_identity("i", 5).default_value is None
    assert crossed_column(["a", "b"], 5).hash_key is None
    assert weighted_categorical_column(SEX, "w").dtype == tf.float32


def test_columns_are_hashable_values():
    again = categorical_column_with_vocabulary_list("sex", ("male", "female"))
    assert again == SEX and hash(again) == hash(SEX)
    assert embedding_column(SEX, 2) == embedding_column(again, 2)
    assert len({numeric_column("x"), numeric_column("x"), numeric_column("y")}) == 2
    with pytest.raises(AttributeError):
        SEX.key = "other"


def test_kinds_and_sizes():
    age_buckets = bucketized_column(AGE, [0, 10])
    assert age_buckets.num_buckets == 3
    assert age_buckets.variable_shape == tf.TensorShape([1, 3])
    assert isinstance(age_buckets, DenseColumn) and isinstance(
        age_buckets, CategoricalColumn
    )
    wide = bucketized_column(numeric_column("v", shape=2), [0.0])
    assert wide.num_buckets == 4
    assert not isinstance(SEX, DenseColumn)
    assert indicator_column(SEX).variable_shape == tf.TensorShape([2])
    assert (
        categorical_column_with_vocabulary_list(
            "c", ["a"], num_oov_buckets=3
        ).num_buckets
        == 4
    )
    assert numeric_column("m", shape=(2, 3)).variable_shape.num_elements() == 6


def test_numeric_default_value_is_stored_per_element():
    assert numeric_column("a", default_value=0).default_value == (0.0,)
    assert numeric_column("a", shape=(2, 2), default_value=1.5).default_value == (
        (1.5, 1.5),
        (1.5, 1.5),
    )
    column = numeric_column("a", shape=2, default_value=[1, 2], dtype=tf.int64)
    assert column.default_value == (1, 2) and column.shape == (2,)


def test_vocabulary_from_pandas_unique_keeps_missing_entries_in_place():
    vocabulary = np.array(["S", "C", np.nan, "Q"], dtype=object)
    column = categorical_column_with_vocabulary_list("embarked", vocabulary)
    assert column.vocabulary_list == ("S", "C", None, "Q")
    assert column.dtype == tf.string and column.num_buckets == 4
    ints = categorical_column_with_vocabulary_list("n", np.array([3, 1, 2]))
    assert ints.vocabulary_list == (3, 1, 2) and ints.dtype == tf.int64


def test_vocabulary_file_reads_lines(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("a\nb\r\nc\n")
    column = categorical_column_with_vocabulary_file("f", str(path))
    assert column.vocabulary_size == 3 and column.default_value == -1
    assert column.entries() == ("a", "b", "c")
    assert categorical_column_with_vocabulary_file("f", str(path), 2).num_buckets == 2


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: numeric_column(""), "key must be a non-empty string"),
        (lambda: numeric_column("a", shape=(0,)), "shape must be a positive int"),
        (lambda: numeric_column("a", dtype=tf.string), "dtype=string is not numeric"),
        (
            lambda: numeric_column("a", shape=2, default_value=[1.0, 2.0, 3.0]),
            "default_value must be a number or an array of shape (2,)",
        ),
        (
            lambda: numeric_column("a", dtype=tf.int64, default_value=0.5),
            "is not an integer",
        ),
        (lambda: numeric_column("a", normalizer_fn=3), "normalizer_fn must be"),
        (lambda: bucketized_column("age", [1.0]), "must be a numeric_column"),
        (lambda: bucketized_column(AGE, []), "boundaries is empty"),
        (
            lambda: bucketized_column(AGE, [0, 10, 5]),
            "boundaries[2]=5.0 is not greater than boundaries[1]=10.0",
        ),
        (
            lambda: bucketized_column(numeric_column("m", shape=(2, 2)), [0.0]),
            "bucketize a column of shape (k,)",
        ),
        (
            lambda: categorical_column_with_vocabulary_list("c", []),
            "vocabulary_list is empty",
        ),
        (
            lambda: categorical_column_with_vocabulary_list("c", ["a", "b", "a"]),
            "repeats 'a' (at positions 0 and 2)",
        ),
        (
            lambda: categorical_column_with_vocabulary_list("c", ["a", 1]),
            "mixes strings and integers",
        ),
        (
            lambda: categorical_column_with_vocabulary_list("c", [1.5, 2.5]),
            "holds 1.5, a float",
        ),
        (
            lambda: categorical_column_with_vocabulary_list("c", ["a"], dtype=tf.int64),
            "dtype=int64 but the vocabulary holds strings",
        ),
        (
            lambda: categorical_column_with_vocabulary_list(
                "c", ["a"], default_value=0, num_oov_buckets=2
            ),
            "are both set",
        ),
        (
            lambda: categorical_column_with_vocabulary_list(
                "c", ["a"], default_value=1
            ),
            "default_value=1 is not an id of the vocabulary",
        ),
        (
            lambda: categorical_column_with_vocabulary_list(
                "c", ["a"], num_oov_buckets=-1
            ),
            "num_oov_buckets must be an int >= 0",
        ),
        (
            lambda: categorical_column_with_vocabulary_file("c", "/no/such/vocab.txt"),
            "vocabulary_file '/no/such/vocab.txt' does not exist",
        ),
        (
            lambda: categorical_column_with_identity("i", 0),
            "num_buckets must be an int >= 1",
        ),
        (
            lambda: categorical_column_with_identity("i", 3, default_value=3),
            "default_value=3 is not in [0, 3)",
        ),
        (
            lambda: categorical_column_with_hash_bucket("h", 0),
            "hash_bucket_size must be an int >= 1",
        ),
        (
            lambda: categorical_column_with_hash_bucket("h", 5, dtype=tf.float32),
            "dtype=float32 is not supported",
        ),
        (lambda: indicator_column(AGE), "must be a categorical column"),
        (lambda: embedding_column(SEX, 0), "dimension must be an int >= 1"),
        (
            lambda: embedding_column(SEX, 2, combiner="max"),
            "combiner='max' is not one of",
        ),
        (lambda: embedding_column(SEX, 2, max_norm=-1.0), "max_norm must be None"),
        (
            lambda: embedding_column(SEX, 2, initializer="zeros"),
            "initializer must be callable",
        ),
        (
            lambda: embedding_column(
                SEX, 2, ckpt_to_load_from="/ckpt", tensor_name_in_ckpt="t"
            ),
            "WarmStartSettings",
        ),
        (lambda: crossed_column(["a"], 10), "needs two or more entries"),
        (lambda: crossed_column("ab", 10), "keys must be a list"),
        (
            lambda: crossed_column(["a", AGE], 10),
            "cross bucketized_column(numeric_column",
        ),
        (
            lambda: crossed_column(
                ["a", categorical_column_with_hash_bucket("h", 5)], 10
            ),
            "put its feature name 'h' in keys instead",
        ),
        (lambda: crossed_column(["a", "b"], 0), "hash_bucket_size must be an int >= 1"),
        (
            lambda: weighted_categorical_column(bucketized_column(AGE, [1.0]), "w"),
            "must be a categorical_column_with_* column",
        ),
        (lambda: weighted_categorical_column(SEX, "sex"), "is the ids' own feature"),
        (
            lambda: weighted_categorical_column(SEX, "w", dtype=tf.string),
            "dtype=string is not numeric",
        ),
    ],
)
def test_unusable_arguments_are_refused_with_the_fix(make, message):
    with pytest.raises(EstimatorSpecError, match=re.escape(message)):
        make()


def test_vocabulary_file_errors(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("1\n2\nx\n")
    with pytest.raises(EstimatorSpecError, match=re.escape("line 3 of")):
        categorical_column_with_vocabulary_file("f", str(path), dtype=tf.int64)
    with pytest.raises(EstimatorSpecError, match=re.escape("vocabulary_size=5 but")):
        categorical_column_with_vocabulary_file("f", str(path), vocabulary_size=5)
    path.write_text("a\nb\na\n")
    with pytest.raises(EstimatorSpecError, match="repeats 'a'"):
        categorical_column_with_vocabulary_file("f", str(path))


def test_errors_are_value_errors_for_tf_estimator_programs():
    with pytest.raises(ValueError):
        embedding_column(SEX, 0)


def test_a_scalar_numeric_column_parses_and_feeds_models_as_one_value():
    # tf.feature_column accepts shape=() (TFX's taxi_utils uses it): one value per
    # example, parsed as [batch], fed to models as [batch, 1].
    from components.trainer.estimator.feature_column import (
        DenseFeatures,
        make_parse_example_spec,
    )

    column = numeric_column("fare", shape=(), default_value=0.0)
    spec = make_parse_example_spec([column])
    assert spec == {"fare": tf.io.FixedLenFeature((), tf.float32, default_value=0.0)}
    present, absent = tf.train.Example(), tf.train.Example()
    present.features.feature["fare"].float_list.value.append(7.5)
    parsed = tf.io.parse_example(
        tf.constant([present.SerializeToString(), absent.SerializeToString()]), spec
    )
    dense = DenseFeatures([column])(parsed)
    assert dense.shape == (2, 1)
    np.testing.assert_array_equal(dense.numpy().ravel(), [7.5, 0.0])
    converted = DenseFeatures([tf.feature_column.numeric_column("fare", shape=())])(
        {"fare": tf.constant([1.0, 2.0])}
    )
    np.testing.assert_array_equal(converted.numpy().ravel(), [1.0, 2.0])
    with pytest.raises(EstimatorSpecError, match=re.escape("shape=1 (the default)")):
        bucketized_column(column, [1.0])
