"""Strategies: OneDevice in process; MirroredStrategy over 2 logical CPUs in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from components.trainer import estimator as tf_estimator
from tests.components.trainer.models import REPO, dnn_model_fn, linear_input_fn


def test_one_device_strategy_matches_the_default_strategy(tmp_path):
    values = []
    for name, strategy in (
        ("default", None),
        ("one_device", tf.distribute.OneDeviceStrategy("/cpu:0")),
    ):
        estimator = tf_estimator.Estimator(
            dnn_model_fn,
            str(tmp_path / name),
            tf_estimator.RunConfig(tf_random_seed=4, train_distribute=strategy),
            params={"hidden_units": [4]},
        )
        estimator.train(linear_input_fn(repeat=True), steps=6)
        result = estimator.evaluate(linear_input_fn(rows=40))
        values.append((estimator.get_variable_value("sequential/dense/kernel"), result))
    np.testing.assert_allclose(values[0][0], values[1][0], rtol=1e-6)
    assert values[0][1]["count"] == values[1][1]["count"] == 40


@pytest.mark.slow
def test_mirrored_two_replicas_match_one_replica_on_the_global_batch(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tests.components.trainer.mirrored_run", str(tmp_path)],
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
    for name, value in single["variables"].items():
        np.testing.assert_allclose(
            value, mirrored["variables"][name], rtol=1e-4, atol=1e-6, err_msg=name
        )
    assert single["eval"]["count"] == mirrored["eval"]["count"] == 90
    assert single["eval"]["global_step"] == mirrored["eval"]["global_step"] == 12
    np.testing.assert_allclose(
        single["eval"]["loss"], mirrored["eval"]["loss"], rtol=1e-5
    )
    np.testing.assert_allclose(
        single["predictions"], mirrored["predictions"], rtol=1e-4, atol=1e-5
    )
