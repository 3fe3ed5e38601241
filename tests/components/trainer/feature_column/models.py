"""A wide & deep model_fn over feature columns and its synthetic data, shared by the
in-process Estimator test and the MirroredStrategy subprocess (mirrored_run.py)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from components.trainer import estimator as tf_estimator
from components.trainer.estimator.feature_column import (
    DenseFeatures,
    LinearModel,
    bucketized_column,
    categorical_column_with_hash_bucket,
    categorical_column_with_vocabulary_list,
    crossed_column,
    embedding_column,
    numeric_column,
)

COLORS = ["red", "green", "blue"]
CITIES = ["Oslo", "Rome", "Lima", "Pune", "Kobe"]


def columns() -> tuple[list, list]:
    """(DNN columns, linear columns)."""
    x = numeric_column("x", default_value=0.0)
    color = categorical_column_with_vocabulary_list("color", COLORS, num_oov_buckets=1)
    city = categorical_column_with_hash_bucket("city", 20)
    dnn = [x, embedding_column(color, 3, combiner="sqrtn"), embedding_column(city, 4)]
    linear = [
        color,
        city,
        bucketized_column(x, [-1.0, 0.0, 1.0]),
        crossed_column([color, "city"], 30),
    ]
    return dnn, linear


def model_fn(features, labels, mode, params):
    dnn_columns, linear_columns = columns()
    inputs = DenseFeatures(dnn_columns, name="dnn_inputs")
    hidden = keras.layers.Dense(8, "relu", name="hidden")
    head = keras.layers.Dense(1, name="head")
    linear = LinearModel(linear_columns, name="linear")
    predictions = head(hidden(inputs(features))) + linear(features)
    if mode == tf_estimator.ModeKeys.PREDICT:
        return tf_estimator.EstimatorSpec(mode, predictions={"y": predictions})
    loss = keras.losses.MeanSquaredError()(labels, predictions)
    mae = keras.metrics.MeanAbsoluteError()
    mae.update_state(labels, predictions)
    return tf_estimator.EstimatorSpec(
        mode,
        loss=loss,
        train_op=keras.optimizers.Adam(params.get("learning_rate", 0.05)),
        eval_metric_ops={"mae": mae},
    )


def data(rows: int, seed: int = 0) -> tuple[dict, np.ndarray]:
    """x (dense), color (0-2 values per row, some unknown), city (dense, some '')."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 1)).astype(np.float32)
    indices, values, colors = [], [], COLORS + ["pink"]
    for row in range(rows):
        for j in range(rng.integers(0, 3)):
            indices.append([row, j])
            values.append(colors[rng.integers(0, 4)])
    city = rng.choice(CITIES + [""], size=(rows, 1))
    color_effect = np.zeros(rows, np.float32)
    for (row, _), value in zip(indices, values):
        color_effect[row] += {"red": 1.0, "green": -1.0}.get(value, 0.0)
    city_effect = np.array([len(c) * 0.2 for c in city[:, 0]], np.float32)
    y = 2.0 * x[:, 0] + color_effect + city_effect + 0.3
    features = {
        "x": x,
        "color": tf.SparseTensor(
            np.array(indices, np.int64).reshape(-1, 2), values, [rows, 2]
        ),
        "city": city,
    }
    return features, y[:, None]


def input_fn(rows: int, repeat: bool, global_batch: int = 32, labels: bool = True):
    """An input_fn batching per replica, as tf.estimator's input_fns do."""

    def fn(input_context=None):
        features, y = data(rows)
        batch = global_batch
        if input_context is not None:
            batch = input_context.get_per_replica_batch_size(global_batch)
        dataset = tf.data.Dataset.from_tensor_slices(
            (features, y) if labels else features
        )
        dataset = dataset.batch(batch)
        return dataset.repeat() if repeat else dataset

    return fn
