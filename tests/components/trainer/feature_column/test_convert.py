"""tf.feature_column objects: each supported class becomes the equal column of this
package; sequence and shared-embedding columns are refused with what to use."""

from __future__ import annotations

import re

import numpy as np
import pytest
import tensorflow as tf

from components.trainer.estimator.errors import EstimatorSpecError
from components.trainer.estimator.feature_column import (
    DenseFeatures,
    LinearModel,
    as_feature_columns,
    bucketized_column,
    categorical_column_with_hash_bucket,
    categorical_column_with_identity,
    categorical_column_with_vocabulary_file,
    categorical_column_with_vocabulary_list,
    crossed_column,
    embedding_column,
    indicator_column,
    make_parse_example_spec,
    numeric_column,
    weighted_categorical_column,
)

tfc = tf.feature_column


def normalize(x):
    return x / 2


def convert(column):
    (converted,) = as_feature_columns([column])
    assert type(converted).__module__.startswith("components.")
    return converted


def test_numeric_and_bucketized():
    tf_age = tfc.numeric_column(
        "age", shape=(2,), default_value=1.0, dtype=tf.float64, normalizer_fn=normalize
    )
    ours = numeric_column("age", (2,), 1.0, tf.float64, normalize)
    assert convert(tf_age) == ours
    assert convert(tfc.bucketized_column(tfc.numeric_column("x"), [0, 10])) == (
        bucketized_column(numeric_column("x"), [0.0, 10.0])
    )


def test_vocabulary_list_from_a_pandas_style_array():
    vocabulary = np.array(["male", "female"], dtype=object)
    column = tfc.categorical_column_with_vocabulary_list(
        "sex", vocabulary, num_oov_buckets=2
    )
    assert convert(column) == categorical_column_with_vocabulary_list(
        "sex", ["male", "female"], num_oov_buckets=2
    )
    ints = tfc.categorical_column_with_vocabulary_list(
        "n", np.array([3, 1]), default_value=0
    )
    assert convert(ints) == categorical_column_with_vocabulary_list(
        "n", [3, 1], dtype=tf.int64, default_value=0
    )


def test_vocabulary_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("a\nb\nc\n")
    column = tfc.categorical_column_with_vocabulary_file(
        "f", str(path), vocabulary_size=2, num_oov_buckets=1
    )
    assert convert(column) == categorical_column_with_vocabulary_file(
        "f", str(path), 2, num_oov_buckets=1
    )


def test_identity_and_hash_bucket():
    assert convert(tfc.categorical_column_with_identity("i", 5, default_value=1)) == (
        categorical_column_with_identity("i", 5, default_value=1)
    )
    hashed = tfc.categorical_column_with_hash_bucket("h", 9, dtype=tf.int64)
    assert convert(hashed) == categorical_column_with_hash_bucket("h", 9, tf.int64)


def test_indicator_embedding_crossed_and_weighted():
    tf_sex = tfc.categorical_column_with_vocabulary_list("sex", ["m", "f"])
    sex = categorical_column_with_vocabulary_list("sex", ["m", "f"])
    assert convert(tfc.indicator_column(tf_sex)) == indicator_column(sex)
    # tf fills in its default initializer; it maps back to ours (None).
    tf_embedding = tfc.embedding_column(tf_sex, 4, combiner="sqrtn", max_norm=2.0)
    assert convert(tf_embedding) == embedding_column(sex, 4, "sqrtn", max_norm=2.0)
    custom = tf.compat.v1.constant_initializer(0.1)
    assert (
        convert(tfc.embedding_column(tf_sex, 2, initializer=custom)).initializer
        is custom
    )
    tf_cross = tfc.crossed_column(
        ["age", tfc.bucketized_column(tfc.numeric_column("x"), [1.0]), tf_sex],
        50,
        hash_key=3,
    )
    cross = crossed_column(
        ["age", bucketized_column(numeric_column("x"), [1.0]), sex], 50, hash_key=3
    )
    assert convert(tf_cross) == cross and cross.name == "age_X_sex_X_x_bucketized"
    tf_weighted = tfc.weighted_categorical_column(tf_sex, "w", dtype=tf.int64)
    assert convert(tf_weighted) == weighted_categorical_column(sex, "w", tf.int64)


def test_tf_columns_work_in_layers_and_parse_specs():
    tf_sex = tfc.categorical_column_with_vocabulary_list("sex", ["m", "f"])
    columns = [
        tfc.numeric_column("age", default_value=0.0),
        tfc.indicator_column(tf_sex),
    ]
    out = DenseFeatures(columns)({"age": tf.constant([3.0]), "sex": tf.constant(["f"])})
    np.testing.assert_array_equal(out, [[3.0, 0.0, 1.0]])
    logits = LinearModel([tf_sex, tfc.numeric_column("age")])(
        {"age": tf.constant([3.0]), "sex": tf.constant(["f"])}
    )
    assert logits.shape == (1, 1)
    assert make_parse_example_spec(columns) == {
        "age": tf.io.FixedLenFeature((1,), tf.float32, [0.0]),
        "sex": tf.io.VarLenFeature(tf.string),
    }


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: tfc.sequence_categorical_column_with_identity("s", 5),
            "feature_columns[1] is tf.feature_column's SequenceCategoricalColumn "
            "'s': sequence feature columns need SequenceFeatures",
        ),
        (
            lambda: tfc.sequence_numeric_column("s"),
            "SequenceNumericColumn 's': sequence feature columns need",
        ),
        (
            lambda: tfc.shared_embeddings(
                [tfc.categorical_column_with_identity(k, 3) for k in "ab"], 2
            )[0],
            "shared embeddings are not supported. Use one embedding_column per "
            "categorical column",
        ),
        (
            lambda: tfc.embedding_column(
                tfc.categorical_column_with_identity("a", 3),
                2,
                ckpt_to_load_from="/ckpt",
                tensor_name_in_ckpt="t",
            ),
            "feature_columns[1] (tf.feature_column's EmbeddingColumn): "
            "embedding_column('a'): ckpt_to_load_from",
        ),
        (
            lambda: tfc.categorical_column_with_vocabulary_list("c", ["a", 1]),
            "feature_columns[1] (tf.feature_column's VocabularyListCategoricalColumn): "
            "categorical_column_with_vocabulary_list('c'): vocabulary_list mixes",
        ),
    ],
)
def test_unsupported_tf_columns_are_refused_with_what_to_use(make, message):
    with tf.Graph().as_default():  # shared_embeddings refuses eager mode
        column = make()
    with pytest.raises(EstimatorSpecError, match=re.escape(message)):
        as_feature_columns([numeric_column("x"), column])


def test_things_that_are_not_columns_are_refused():
    with pytest.raises(
        EstimatorSpecError, match=re.escape("feature_columns[0] is 'age'")
    ):
        as_feature_columns(["age"])
    with pytest.raises(EstimatorSpecError, match="must be a list of feature columns"):
        as_feature_columns({"age": numeric_column("age")})
    assert as_feature_columns(numeric_column("a")) == [numeric_column("a")]


def test_constructors_take_tf_columns_as_arguments():
    tf_sex = tfc.categorical_column_with_vocabulary_list("sex", ["m", "f"])
    sex = categorical_column_with_vocabulary_list("sex", ["m", "f"])
    assert embedding_column(tf_sex, 2) == embedding_column(sex, 2)
    assert indicator_column(tf_sex) == indicator_column(sex)
    assert weighted_categorical_column(tf_sex, "w") == weighted_categorical_column(
        sex, "w"
    )
    assert crossed_column([tf_sex, "a"], 5) == crossed_column([sex, "a"], 5)
    assert bucketized_column(tfc.numeric_column("x"), [1.0]) == bucketized_column(
        numeric_column("x"), [1.0]
    )
    with pytest.raises(
        EstimatorSpecError,
        match="^the column given to embedding_column is tf.feature_column's Sequence",
    ):
        embedding_column(tfc.sequence_categorical_column_with_identity("s", 3), 2)
