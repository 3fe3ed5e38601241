"""Tiny real models and inputs for the Estimator tests (synthetic linear data, iris)."""

from __future__ import annotations

import csv
import pathlib

import keras
import numpy as np
import tensorflow as tf

from components.trainer import estimator as tf_estimator

REPO = pathlib.Path(__file__).resolve().parents[3]
IRIS = REPO.parent / "shared" / "data" / "iris"
FEATURES = ["x0", "x1", "x2"]
WEIGHTS = np.array([[1.5], [-2.0], [0.5]], np.float32)


def linear_data(rows: int = 96, seed: int = 0) -> tuple[dict, np.ndarray]:
    """Features x0..x2 and y = x @ WEIGHTS + 0.3 (+ a little noise)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3)).astype(np.float32)
    y = x @ WEIGHTS + 0.3 + 0.01 * rng.normal(size=(rows, 1)).astype(np.float32)
    return {name: x[:, i : i + 1] for i, name in enumerate(FEATURES)}, y


def linear_input_fn(rows=96, batch=16, repeat=False, seed=0, labels=True):
    """An input_fn over linear_data, in order (no shuffling)."""

    def input_fn():
        features, y = linear_data(rows, seed)
        data = (features, y) if labels else features
        dataset = tf.data.Dataset.from_tensor_slices(data).batch(batch)
        return dataset.repeat() if repeat else dataset

    return input_fn


def stack(features) -> tf.Tensor:
    return tf.concat([tf.cast(features[name], tf.float32) for name in FEATURES], 1)


def dnn_model_fn(features, labels, mode, params):
    """A DNN regressor: Keras layers, the Estimator applies Adam (train_op=optimizer)."""
    names = params.get("layer_names") or [None] * len(params["hidden_units"])
    layers = [
        keras.layers.Dense(units, "relu", name=name)
        for units, name in zip(params["hidden_units"], names)
    ]
    model = keras.Sequential(layers + [keras.layers.Dense(1, name="head")])
    predictions = model(stack(features), training=mode == tf_estimator.ModeKeys.TRAIN)
    if mode == tf_estimator.ModeKeys.PREDICT:
        return tf_estimator.EstimatorSpec(
            mode,
            predictions={"y": predictions},
            export_outputs={
                "serving_default": tf_estimator.export.RegressionOutput(predictions),
            },
        )
    loss = keras.losses.MeanSquaredError()(labels, predictions)
    mae = keras.metrics.MeanAbsoluteError()
    mae.update_state(labels, predictions)
    count = keras.metrics.Sum()
    count.update_state(tf.ones_like(labels))
    optimizer = keras.optimizers.Adam(params.get("learning_rate", 0.05))
    if params.get("train_only_head"):
        train_op = (optimizer, model.get_layer("head").trainable_variables)
    else:
        train_op = optimizer
    return tf_estimator.EstimatorSpec(
        mode,
        predictions={"y": predictions},
        loss=loss,
        train_op=train_op,
        eval_metric_ops={"mae": mae, "count": count},
    )


def guide_model_fn(features, labels, mode):
    """The TF guide's style: the model_fn owns the tape, the update and the step."""
    model = keras.Sequential([keras.layers.Dense(8, "relu"), keras.layers.Dense(1)])
    training = mode == tf_estimator.ModeKeys.TRAIN
    if mode == tf_estimator.ModeKeys.PREDICT:
        return tf_estimator.EstimatorSpec(mode, predictions=model(stack(features)))
    optimizer = keras.optimizers.Adam(0.05)
    with tf.GradientTape() as tape:
        predictions = model(stack(features), training=training)
        loss = keras.losses.MeanSquaredError()(labels, predictions)
    if not training:
        return tf_estimator.EstimatorSpec(mode, loss=loss)
    global_step = tf.compat.v1.train.get_global_step()
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    train_op = global_step.assign_add(1)
    return tf_estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def iris_input_fn(split: str, batch: int = 32, repeat: bool = False):
    """An input_fn over the iris CSV (four float features, an int label)."""

    def input_fn():
        with open(IRIS / f"iris_{split}.csv", newline="") as f:
            rows = list(csv.reader(f))[1:]
        x = np.array([[float(v) for v in row[:4]] for row in rows], np.float32)
        y = np.array([int(row[4]) for row in rows], np.int64)
        dataset = tf.data.Dataset.from_tensor_slices(({"x": x}, y)).batch(batch)
        return dataset.repeat() if repeat else dataset

    return input_fn


def iris_model_fn(features, labels, mode):
    """A small classifier with an accuracy metric and a classification export."""
    model = keras.Sequential([keras.layers.Dense(16, "relu"), keras.layers.Dense(3)])
    logits = model(features["x"])
    probabilities = tf.nn.softmax(logits)
    classes = tf.argmax(logits, 1)
    if mode == tf_estimator.ModeKeys.PREDICT:
        names = tf.constant([["setosa", "versicolor", "virginica"]])
        classification = tf_estimator.export.ClassificationOutput(
            scores=probabilities, classes=tf.tile(names, [tf.shape(logits)[0], 1])
        )
        return tf_estimator.EstimatorSpec(
            mode,
            predictions={"class_ids": classes, "probabilities": probabilities},
            export_outputs={
                "serving_default": classification,
                "classification": classification,
            },
        )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    accuracy = keras.metrics.Accuracy()
    accuracy.update_state(labels, classes)
    return tf_estimator.EstimatorSpec(
        mode,
        loss=loss,
        train_op=keras.optimizers.Adam(0.05),
        eval_metric_ops={"accuracy": accuracy},
    )
