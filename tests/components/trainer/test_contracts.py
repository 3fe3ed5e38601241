"""The fast contract checks: EstimatorSpec, model_fn and input_fn signatures, RunConfig."""

from __future__ import annotations

import re
import subprocess
import sys

import keras
import pytest
import tensorflow as tf

from components.trainer import estimator as tf_estimator
from components.trainer.estimator.inputs import call_input_fn
from components.trainer.estimator.model_fn import model_fn_args
from tests.components.trainer.models import REPO

ModeKeys = tf_estimator.ModeKeys
Spec = tf_estimator.EstimatorSpec
Error = tf_estimator.EstimatorSpecError


def test_mode_keys_are_tf_estimators():
    assert (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT) == (
        "train",
        "eval",
        "infer",
    )


class TestEstimatorSpec:
    def test_required_fields_per_mode(self):
        with pytest.raises(Error, match="PREDICT mode needs predictions"):
            Spec(ModeKeys.PREDICT)
        with pytest.raises(Error, match="EVAL mode needs loss"):
            Spec(ModeKeys.EVAL)
        with pytest.raises(Error, match=re.escape("train_op=optimizer")):
            Spec(ModeKeys.TRAIN, loss=tf.constant(1.0))

    def test_loss_must_be_scalar(self):
        assert Spec(ModeKeys.EVAL, loss=tf.constant([2.0])).loss.shape == ()
        with pytest.raises(Error, match=r"must be a scalar; got shape \(2,\)"):
            Spec(ModeKeys.EVAL, loss=tf.constant([1.0, 2.0]))

    def test_tf1_idioms_are_refused_with_their_migration(self):
        with pytest.raises(Error, match="keras.metrics.Mean"):
            Spec(ModeKeys.EVAL, loss=tf.constant(1.0), eval_metric_ops={"m": (1, 2)})
        with pytest.raises(Error, match="WarmStartSettings"):
            Spec(ModeKeys.PREDICT, predictions=tf.constant(1.0), scaffold=object())

    def test_fields_keep_tf_estimators_order(self):
        spec = Spec(
            ModeKeys.EVAL,
            loss=tf.constant(1.0),
            eval_metric_ops={"m": keras.metrics.Mean()},
        )
        assert spec._fields[:6] == (
            "mode",
            "predictions",
            "loss",
            "train_op",
            "eval_metric_ops",
            "export_outputs",
        )
        assert spec.training_hooks == []


class TestSignatures:
    def test_model_fn_needs_features(self):
        with pytest.raises(Error, match="must take a `features` argument"):
            model_fn_args(lambda x, labels: None, None)

    def test_model_fn_unknown_args_and_params(self):
        with pytest.raises(Error, match=r"unexpected arguments \['hidden'\]"):
            model_fn_args(lambda features, hidden: None, None)
        with pytest.raises(Error, match="takes no `params` argument"):
            model_fn_args(lambda features: None, {"a": 1})
        assert model_fn_args(lambda features, mode, config: None, None) == {
            "features",
            "mode",
            "config",
        }

    def test_input_fn_must_return_a_dataset(self):
        with pytest.raises(Error, match="must return a tf.data.Dataset"):
            call_input_fn(lambda: (1, 2), "train", {}, None, None)
        with pytest.raises(Error, match=r"unexpected required arguments \['batch'\]"):
            call_input_fn(lambda batch: None, "train", {}, None, None)


class TestRunConfig:
    def test_defaults_are_tf_estimators(self):
        config = tf_estimator.RunConfig()
        assert (config.save_checkpoints_secs, config.save_checkpoints_steps) == (
            600,
            None,
        )
        assert config.keep_checkpoint_max == 5
        assert config.save_summary_steps == config.log_step_count_steps == 100
        assert config.is_chief and config.num_worker_replicas == 1

    def test_one_checkpoint_schedule_only(self):
        with pytest.raises(Error, match="not both"):
            tf_estimator.RunConfig(save_checkpoints_steps=1, save_checkpoints_secs=1)
        changed = tf_estimator.RunConfig().replace(save_checkpoints_steps=5)
        assert (changed.save_checkpoints_secs, changed.save_checkpoints_steps) == (
            None,
            5,
        )
        with pytest.raises(Error, match="unknown arguments"):
            tf_estimator.RunConfig().replace(save_steps=3)


def test_model_dir_given_twice_must_agree(tmp_path):
    with pytest.raises(Error, match="both to Estimator"):
        tf_estimator.Estimator(
            lambda features: None,
            str(tmp_path / "a"),
            tf_estimator.RunConfig(model_dir=str(tmp_path / "b")),
        )


def test_importing_the_trainer_package_leaves_tensorflow_out():
    code = "import sys, components.trainer; print('tensorflow' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True
    )
    assert out.stdout.strip() == "False", out.stderr
