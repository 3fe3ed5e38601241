"""train_and_evaluate: evaluation every K steps, in place, exact; exporters."""

from __future__ import annotations

import os

import pytest
import tensorflow as tf

from components.trainer import estimator as tf_estimator
from components.trainer.estimator import checkpoints
from tests.components.trainer.models import FEATURES, dnn_model_fn, linear_input_fn


class Recorder(tf_estimator.SessionRunHook):
    def __init__(self):
        self.results = []

    def after_run(self, run_context, run_values):
        self.results.append(dict(run_values.results))


def test_evaluates_every_k_steps_in_place_and_exactly(tmp_path, monkeypatch):
    estimator = tf_estimator.Estimator(
        dnn_model_fn,
        str(tmp_path),
        tf_estimator.RunConfig(
            tf_random_seed=5, save_checkpoints_steps=10, keep_checkpoint_max=None
        ),
        params={"hidden_units": [8]},
    )
    restored = []
    real_restore = checkpoints.restore
    monkeypatch.setattr(
        checkpoints,
        "restore",
        lambda store, path, **kw: (
            restored.append(store),
            real_restore(store, path, **kw),
        ),
    )
    recorder = Recorder()
    result, exports = tf_estimator.train_and_evaluate(
        estimator,
        tf_estimator.TrainSpec(linear_input_fn(repeat=True), max_steps=30),
        tf_estimator.EvalSpec(
            linear_input_fn(rows=90, batch=16, seed=1),
            steps=None,
            hooks=[recorder],
            throttle_secs=0,
        ),
    )
    assert [r["global_step"] for r in recorder.results] == [10, 20, 30]
    assert all(r["count"] == 90 and r["steps"] == 6 for r in recorder.results)
    assert result["global_step"] == 30 and exports == []
    assert restored == []  # no reload between evaluations
    monkeypatch.undo()
    for recorded in recorder.results:
        again = estimator.evaluate(
            linear_input_fn(rows=90, batch=16, seed=1),
            checkpoint_path=str(tmp_path / f"model.ckpt-{recorded['global_step']}"),
        )
        for key in ("loss", "mae", "count", "global_step"):
            assert again[key] == recorded[key], key
    fresh = tf_estimator.Estimator(
        dnn_model_fn, str(tmp_path), params={"hidden_units": [8]}
    )
    assert fresh.evaluate(linear_input_fn(rows=90, batch=16, seed=1)) == {
        k: recorder.results[-1][k] for k in ("loss", "mae", "count", "global_step")
    }


def test_throttle_skips_evaluations_and_the_final_one_always_runs(tmp_path):
    estimator = tf_estimator.Estimator(
        dnn_model_fn,
        str(tmp_path),
        tf_estimator.RunConfig(save_checkpoints_steps=5),
        params={"hidden_units": [4]},
    )
    recorder = Recorder()
    tf_estimator.train_and_evaluate(
        estimator,
        tf_estimator.TrainSpec(linear_input_fn(repeat=True), max_steps=20),
        tf_estimator.EvalSpec(
            linear_input_fn(), steps=2, hooks=[recorder], throttle_secs=3600
        ),
    )
    assert [r["global_step"] for r in recorder.results] == [5, 20]
    assert recorder.results[-1]["count"] == 32


@pytest.mark.slow
def test_exporters_run_at_evaluation_time(tmp_path):
    estimator = tf_estimator.Estimator(
        dnn_model_fn,
        str(tmp_path),
        tf_estimator.RunConfig(tf_random_seed=1, save_checkpoints_steps=10),
        params={"hidden_units": [4], "learning_rate": 0.05},
    )
    receiver = tf_estimator.export.build_raw_serving_input_receiver_fn(
        {name: tf.TensorSpec([None, 1], tf.float32) for name in FEATURES}
    )
    _, exports = tf_estimator.train_and_evaluate(
        estimator,
        tf_estimator.TrainSpec(linear_input_fn(repeat=True), max_steps=30),
        tf_estimator.EvalSpec(
            linear_input_fn(),
            steps=None,
            throttle_secs=0,
            exporters=[
                tf_estimator.LatestExporter("latest", receiver, exports_to_keep=2),
                tf_estimator.BestExporter("best", receiver),
                tf_estimator.FinalExporter("final", receiver),
            ],
        ),
    )
    exported = {
        name: sorted(os.listdir(tmp_path / "export" / name))
        for name in ("latest", "best", "final")
    }
    assert len(exported["latest"]) == 2
    assert 1 <= len(exported["best"]) <= 3
    assert len(exported["final"]) == 1
    assert exports[2].decode().endswith(exported["final"][0])
    with pytest.raises(tf_estimator.EstimatorSpecError, match="unique"):
        tf_estimator.train_and_evaluate(
            estimator,
            tf_estimator.TrainSpec(linear_input_fn(repeat=True), max_steps=30),
            tf_estimator.EvalSpec(
                linear_input_fn(),
                exporters=[
                    tf_estimator.LatestExporter("x", receiver),
                    tf_estimator.FinalExporter("x", receiver),
                ],
            ),
        )
