"""Warm start (all, regex, renames, TF1 names) and freezing part of the model."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from components.trainer import estimator as tf_estimator
from components.trainer.estimator import checkpoints
from tests.components.trainer.models import dnn_model_fn, linear_input_fn


def estimator_in(model_dir, warm_start_from=None, seed=7, **params):
    params.setdefault("hidden_units", [6])
    return tf_estimator.Estimator(
        dnn_model_fn,
        str(model_dir),
        tf_estimator.RunConfig(tf_random_seed=seed),
        params=params,
        warm_start_from=warm_start_from,
    )


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("base")
    estimator = estimator_in(model_dir, seed=1)
    estimator.train(linear_input_fn(repeat=True), steps=20)
    return estimator


def start_values(model_dir) -> dict:
    """The values a warm-started train() started from (its step-0 checkpoint)."""
    path = str(model_dir / "model.ckpt-0")
    return {
        n: checkpoints.read_value(path, n) for n in checkpoints.variable_shapes(path)
    }


def test_warm_start_from_a_model_dir_copies_trainable_variables(base, tmp_path):
    estimator_in(tmp_path, warm_start_from=base.model_dir).train(
        linear_input_fn(repeat=True), steps=1
    )
    start = start_values(tmp_path)
    for name in ("sequential/dense/kernel", "sequential/head/bias"):
        np.testing.assert_array_equal(start[name], base.get_variable_value(name))
    assert start["global_step"] == 0
    assert "adam/iteration" not in start or start["adam/iteration"] == 0


def test_regex_and_renames(base, tmp_path):
    settings = tf_estimator.WarmStartSettings(
        base.latest_checkpoint(),
        vars_to_warm_start="sequential/hidden/.*",
        var_name_to_prev_var_name={
            "sequential/hidden/kernel": "sequential/dense/kernel",
            "sequential/hidden/bias": "sequential/dense/bias",
        },
    )
    estimator_in(tmp_path, settings, layer_names=["hidden"]).train(
        linear_input_fn(repeat=True), steps=1
    )
    start = start_values(tmp_path)
    np.testing.assert_array_equal(
        start["sequential/hidden/kernel"],
        base.get_variable_value("sequential/dense/kernel"),
    )
    assert not np.array_equal(
        start["sequential/head/kernel"],
        base.get_variable_value("sequential/head/kernel"),
    )


def test_missing_source_variable_names_it(base, tmp_path):
    estimator = estimator_in(tmp_path, base.model_dir, layer_names=["hidden"])
    with pytest.raises(tf_estimator.CheckpointMismatchError) as error:
        estimator.train(linear_input_fn(repeat=True), steps=1)
    assert "sequential/hidden/kernel: looked for 'sequential/hidden/kernel'" in str(
        error.value
    )
    assert "did you mean 'sequential/dense/kernel'" in str(error.value)


def test_warm_start_reads_tf1_name_based_checkpoints(tmp_path):
    values = {
        "dense/kernel": tf.Variable(tf.fill([3, 6], 0.25)),
        "dense/bias": tf.Variable(tf.fill([6], -1.0)),
    }
    tf1 = tf.compat.v1.train.Saver(var_list=values)  # a TF1-era checkpoint
    tf1.save(None, str(tmp_path / "tf1" / "model.ckpt"))
    settings = tf_estimator.WarmStartSettings(
        str(tmp_path / "tf1" / "model.ckpt"),
        vars_to_warm_start=["sequential/dense/.*"],
        var_name_to_prev_var_name={
            "sequential/dense/kernel": "dense/kernel",
            "sequential/dense/bias": "dense/bias",
        },
    )
    estimator_in(tmp_path / "new", settings).train(
        linear_input_fn(repeat=True), steps=1
    )
    start = start_values(tmp_path / "new")
    np.testing.assert_array_equal(start["sequential/dense/bias"], np.full([6], -1.0))


def test_freezing_trains_only_the_head(base, tmp_path):
    estimator = estimator_in(tmp_path, base.model_dir, train_only_head=True)
    estimator.train(linear_input_fn(repeat=True), steps=10)
    np.testing.assert_array_equal(
        estimator.get_variable_value("sequential/dense/kernel"),
        base.get_variable_value("sequential/dense/kernel"),
    )
    assert not np.array_equal(
        estimator.get_variable_value("sequential/head/kernel"),
        base.get_variable_value("sequential/head/kernel"),
    )
    assert not any(
        "dense_kernel" in n
        for n in estimator.get_variable_names()
        if n.startswith("adam/")
    )
