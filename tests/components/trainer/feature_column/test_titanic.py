"""The TensorFlow guide's Titanic columns (tf.feature_column, vocabularies from pandas
``.unique()``, a float feature crossed) on ../shared/data/titanic/train.csv, whose
Age and Embarked have missing values."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from components.trainer import estimator as tf_estimator
from components.trainer.estimator.feature_column import (
    DenseFeatures,
    LinearModel,
    numeric_column,
)
from tests.conftest import SHARED_DATA

TITANIC = SHARED_DATA / "titanic" / "train.csv"
CATEGORICAL_COLUMNS = ["Sex", "Pclass", "Embarked", "SibSp", "Parch"]
NUMERIC_COLUMNS = ["Age", "Fare"]


def guide_columns(dftrain: pd.DataFrame) -> list:
    """The guide's code, as written there (names capitalized as in this CSV)."""
    feature_columns = []
    for feature_name in CATEGORICAL_COLUMNS:
        vocabulary = dftrain[feature_name].unique()
        feature_columns.append(
            tf.feature_column.categorical_column_with_vocabulary_list(
                feature_name, vocabulary
            )
        )
    for feature_name in NUMERIC_COLUMNS:
        feature_columns.append(
            tf.feature_column.numeric_column(feature_name, dtype=tf.float32)
        )
    return feature_columns


@pytest.fixture(scope="module")
def titanic():
    frame = pd.read_csv(TITANIC)
    assert frame["Age"].isna().sum() > 100 and frame["Embarked"].isna().sum() == 2
    return frame


def tensors(frame: pd.DataFrame) -> dict:
    """The features as tensors; a missing string is '' (tf.data cannot hold NaN
    among strings), a missing Age stays NaN."""
    features = {name: frame[name].to_numpy() for name in CATEGORICAL_COLUMNS}
    features["Embarked"] = frame["Embarked"].fillna("").to_numpy(dtype=object)
    features["Sex"] = frame["Sex"].to_numpy(dtype=object)
    for name in NUMERIC_COLUMNS:
        features[name] = frame[name].to_numpy(np.float32)
    return {name: tf.constant(value) for name, value in features.items()}


def test_guide_columns_with_missing_values(titanic):
    columns = guide_columns(titanic)
    age_x_gender = tf.feature_column.crossed_column(
        ["Age", "Sex"], hash_bucket_size=100
    )
    indicators = [tf.feature_column.indicator_column(c) for c in columns[:5]]
    features = tensors(titanic)
    layer = DenseFeatures(
        indicators + columns[5:] + [tf.feature_column.indicator_column(age_x_gender)]
    )
    outputs = {}
    out = layer(features, cols_to_output_tensors=outputs).numpy()
    by_name = {column.name: outputs[column].numpy() for column in outputs}
    assert out.shape == (891, 2 + 3 + 4 + 7 + 7 + 1 + 1 + 100)

    embarked = by_name["Embarked_indicator"]
    missing = titanic["Embarked"].isna().to_numpy()
    assert embarked.shape == (891, 4)  # S, C, Q and the NaN entry of .unique()
    np.testing.assert_array_equal(embarked[missing], 0)  # missing: no category
    assert (embarked[~missing].sum(1) == 1).all()
    np.testing.assert_array_equal(embarked[:, 3], 0)  # NaN entry matches nothing
    positions = {v: i for i, v in enumerate(titanic["SibSp"].unique())}
    expected = [positions[v] for v in titanic["SibSp"]]
    assert by_name["SibSp_indicator"].argmax(1).tolist() == expected

    no_age = titanic["Age"].isna().to_numpy()
    crossed = by_name["Age_X_Sex_indicator"]
    np.testing.assert_array_equal(crossed[no_age], 0)  # missing Age: no crossed id
    assert (crossed[~no_age].sum(1) == 1).all()
    ages = tf.constant(titanic["Age"][~no_age].to_numpy().astype(np.int64)[:, None])
    sexes = tf.constant(titanic["Sex"][~no_age].to_numpy(dtype=object)[:, None])
    expected = tf.sparse.cross_hashed([ages, sexes], 100).values.numpy()
    np.testing.assert_array_equal(crossed[~no_age].argmax(1), expected)
    # A numeric column keeps NaN (as TensorFlow) unless it has a default_value.
    assert np.isnan(by_name["Age"][no_age]).all()
    filled = DenseFeatures([numeric_column("Age", default_value=-1.0)])(features)
    np.testing.assert_array_equal(filled.numpy()[no_age], -1.0)


def test_guide_columns_train_a_linear_model_in_the_estimator(titanic, tmp_path):
    frame = titanic.copy()
    frame["Age"] = frame["Age"].fillna(-1.0)
    labels = frame.pop("Survived").to_numpy()[:, None]
    columns = guide_columns(titanic) + [
        tf.feature_column.crossed_column(["Age", "Sex"], hash_bucket_size=100)
    ]
    features = tensors(frame)

    def input_fn():
        dataset = tf.data.Dataset.from_tensor_slices((features, labels))
        return dataset.batch(64)

    def model_fn(features, labels, mode):
        logits = LinearModel(columns)(features)
        probabilities = tf.sigmoid(logits)
        if mode == tf_estimator.ModeKeys.PREDICT:
            return tf_estimator.EstimatorSpec(mode, predictions={"p": probabilities})
        loss = keras.losses.BinaryCrossentropy(from_logits=True)(labels, logits)
        accuracy = keras.metrics.BinaryAccuracy()
        accuracy.update_state(labels, probabilities)
        return tf_estimator.EstimatorSpec(
            mode,
            loss=loss,
            train_op=keras.optimizers.Adam(0.05),
            eval_metric_ops={"accuracy": accuracy},
        )

    estimator = tf_estimator.Estimator(
        model_fn, str(tmp_path), tf_estimator.RunConfig(tf_random_seed=1)
    )
    estimator.train(lambda: input_fn().repeat(), steps=150)
    result = estimator.evaluate(input_fn)
    assert result["accuracy"] > 0.78, result
    assert "linear_model/Age_X_Sex/weights" in estimator.get_variable_names()
