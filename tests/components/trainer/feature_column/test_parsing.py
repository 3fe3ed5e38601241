"""Parse specs for every column, merged over a list, with a classifier's or a
regressor's label and weight."""

from __future__ import annotations

import re

import pytest
import tensorflow as tf

from components.trainer.estimator.errors import EstimatorSpecError
from components.trainer.estimator.feature_column import (
    bucketized_column,
    categorical_column_with_hash_bucket,
    categorical_column_with_identity,
    categorical_column_with_vocabulary_file,
    categorical_column_with_vocabulary_list,
    classifier_parse_example_spec,
    crossed_column,
    embedding_column,
    indicator_column,
    make_parse_example_spec,
    numeric_column,
    regressor_parse_example_spec,
    weighted_categorical_column,
)

FixedLen, VarLen = tf.io.FixedLenFeature, tf.io.VarLenFeature
SEX = categorical_column_with_vocabulary_list("sex", ["m", "f"])


def test_every_column_kind(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("1\n2\n")
    cases = [
        (numeric_column("a"), {"a": FixedLen((1,), tf.float32)}),
        (
            numeric_column("a", shape=(2,), default_value=0, dtype=tf.int64),
            {"a": FixedLen((2,), tf.int64, [0, 0])},
        ),
        (
            bucketized_column(numeric_column("a", default_value=-1.0), [0.0]),
            {"a": FixedLen((1,), tf.float32, [-1.0])},
        ),
        (SEX, {"sex": VarLen(tf.string)}),
        (
            categorical_column_with_vocabulary_list("n", [1, 2]),
            {"n": VarLen(tf.int64)},
        ),
        (
            categorical_column_with_vocabulary_file("v", str(path), dtype=tf.int64),
            {"v": VarLen(tf.int64)},
        ),
        (categorical_column_with_identity("i", 3), {"i": VarLen(tf.int64)}),
        (categorical_column_with_hash_bucket("h", 3), {"h": VarLen(tf.string)}),
        (indicator_column(SEX), {"sex": VarLen(tf.string)}),
        (embedding_column(SEX, 2), {"sex": VarLen(tf.string)}),
        (
            crossed_column(["a", SEX], 10),
            {"a": VarLen(tf.string), "sex": VarLen(tf.string)},
        ),
        (
            weighted_categorical_column(SEX, "w"),
            {"sex": VarLen(tf.string), "w": VarLen(tf.float32)},
        ),
    ]
    for column, expected in cases:
        assert column.parse_example_spec == expected, column
        assert make_parse_example_spec([column]) == expected, column


def test_another_columns_spec_wins_over_a_crossed_string_key():
    columns = [
        crossed_column(["age", "sex"], 10),
        numeric_column("age", default_value=0.0),
    ]
    assert make_parse_example_spec(columns) == {
        "age": FixedLen((1,), tf.float32, [0.0]),
        "sex": VarLen(tf.string),
    }


def test_the_spec_parses_examples_with_missing_features():
    columns = [numeric_column("age", default_value=-1.0), indicator_column(SEX)]
    spec = make_parse_example_spec(columns)
    empty = tf.train.Example().SerializeToString()
    parsed = tf.io.parse_example(tf.constant([empty]), spec)
    assert parsed["age"].numpy().tolist() == [[-1.0]]
    assert parsed["sex"].values.shape == (0,)


def test_conflicting_specs_name_both_columns():
    columns = [
        numeric_column("x"),
        bucketized_column(numeric_column("x", shape=2), [0.0]),
    ]
    with pytest.raises(
        EstimatorSpecError,
        match=re.escape("columns 'x' and 'x_bucketized' parse feature 'x' differently"),
    ):
        make_parse_example_spec(columns)


def test_classifier_and_regressor_specs():
    spec = classifier_parse_example_spec([SEX], "label", weight_column="w")
    assert spec == {
        "sex": VarLen(tf.string),
        "label": FixedLen((1,), tf.int64),
        "w": FixedLen((1,), tf.float32),
    }
    spec = classifier_parse_example_spec([SEX], "label", tf.string, "x")
    assert spec["label"] == FixedLen((1,), tf.string, "x")
    spec = regressor_parse_example_spec(
        [SEX], "y", label_dimension=3, weight_column=numeric_column("w", dtype=tf.int64)
    )
    assert spec["y"] == FixedLen((3,), tf.float32)
    assert spec["w"] == FixedLen((1,), tf.int64)


def test_label_and_weight_must_not_be_features():
    with pytest.raises(EstimatorSpecError, match="label_key 'sex' is also read"):
        classifier_parse_example_spec([SEX], "sex")
    with pytest.raises(EstimatorSpecError, match="weight_column 'label' is also"):
        regressor_parse_example_spec([SEX], "label", weight_column="label")
