"""The layers inside the Estimator: training, evaluation, the variable names, an
export that parses tf.Examples (missing features included), and MirroredStrategy
over two logical CPUs matching one device."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from components.trainer import estimator as tf_estimator
from components.trainer.estimator.export import build_parsing_serving_input_receiver_fn
from components.trainer.estimator.feature_column import make_parse_example_spec
from tests.components.trainer.feature_column.models import (
    columns,
    input_fn,
    model_fn,
)
from tests.components.trainer.models import REPO


def example(**features) -> bytes:
    feature = {}
    for key, values in features.items():
        if isinstance(values[0], str):
            value = tf.train.BytesList(value=[v.encode() for v in values])
            feature[key] = tf.train.Feature(bytes_list=value)
        else:
            feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
    return tf.train.Example(
        features=tf.train.Features(feature=feature)
    ).SerializeToString()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """An Estimator trained 1 step, evaluated, then trained 80 steps more."""
    estimator = tf_estimator.Estimator(
        model_fn,
        str(tmp_path_factory.mktemp("model")),
        tf_estimator.RunConfig(tf_random_seed=3),
        params={"learning_rate": 0.05},
    )
    estimator.train(input_fn(256, repeat=True), steps=1)
    first = estimator.evaluate(input_fn(96, repeat=False))
    estimator.train(input_fn(256, repeat=True), steps=80)
    return estimator, first


def test_training_learns_and_names_the_variables(trained):
    estimator, first = trained
    result = estimator.evaluate(input_fn(96, repeat=False))
    assert result["global_step"] == 81
    assert result["loss"] < first["loss"] / 3, (first, result)
    names = estimator.get_variable_names()
    for name in (
        "dnn_inputs/color_embedding/embedding_weights",
        "dnn_inputs/city_embedding/embedding_weights",
        "linear/color/weights",
        "linear/city/weights",
        "linear/city_X_color/weights",
        "linear/x_bucketized/weights",
        "linear/bias_weights",
        "hidden/kernel",
    ):
        assert name in names, names
    assert estimator.get_variable_value(
        "dnn_inputs/color_embedding/embedding_weights"
    ).shape == (4, 3)
    assert estimator.get_variable_value("linear/city_X_color/weights").shape == (30, 1)


def test_export_parses_examples_with_missing_features(trained, tmp_path):
    estimator, _ = trained
    dnn, linear = columns()
    receiver = build_parsing_serving_input_receiver_fn(
        make_parse_example_spec(dnn + linear)
    )
    export_dir = estimator.export_saved_model(str(tmp_path), receiver)
    records = [
        example(x=[0.5], color=["red", "blue"], city=["Oslo"]),
        example(color=["pink"]),  # no x (default 0.0), unknown color, no city
        example(),  # nothing at all
    ]
    loaded = tf.saved_model.load(export_dir.decode())
    served = loaded.signatures["serving_default"](examples=tf.constant(records))["y"]

    spec = make_parse_example_spec(dnn + linear)

    def parsed_input_fn():
        dataset = tf.data.Dataset.from_tensor_slices(records).batch(3)
        return dataset.map(lambda s: tf.io.parse_example(s, spec))

    expected = [p["y"] for p in estimator.predict(parsed_input_fn)]
    np.testing.assert_allclose(served.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert np.isfinite(served.numpy()).all()
    assert served[1, 0] != served[2, 0]  # the unknown color has its OOV bucket


@pytest.mark.slow
def test_mirrored_two_replicas_match_one_device(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.components.trainer.feature_column.mirrored_run",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = json.loads(result.stdout.strip().splitlines()[-1])
    single, mirrored = runs["single"], runs["mirrored"]
    assert mirrored["replicas"] == 2
    assert sorted(single["variables"]) == sorted(mirrored["variables"])
    assert "dnn_inputs/city_embedding/embedding_weights" in single["variables"]
    for name, value in single["variables"].items():
        np.testing.assert_allclose(
            value, mirrored["variables"][name], rtol=1e-4, atol=1e-5, err_msg=name
        )
    np.testing.assert_allclose(
        single["eval"]["loss"], mirrored["eval"]["loss"], rtol=1e-4
    )
    assert single["eval"]["global_step"] == mirrored["eval"]["global_step"] == 10
    np.testing.assert_allclose(
        single["predictions"], mirrored["predictions"], rtol=1e-4, atol=1e-4
    )
