"""Estimator train / evaluate / predict / checkpoints on tiny real models."""

from __future__ import annotations

import glob
import os
import re
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from components.trainer import estimator as tf_estimator
from components.trainer.estimator import checkpoints
from tests.components.trainer.models import (
    dnn_model_fn,
    guide_model_fn,
    linear_data,
    linear_input_fn,
    stack,
)

PARAMS = {"hidden_units": [10, 10]}


def make(model_dir, model_fn=dnn_model_fn, params=PARAMS, **config):
    config.setdefault("tf_random_seed", 3)
    return tf_estimator.Estimator(
        model_fn,
        model_dir=str(model_dir),
        config=tf_estimator.RunConfig(**config),
        params=params if model_fn is dnn_model_fn else None,
    )


def variables(estimator) -> dict[str, np.ndarray]:
    return {
        name: estimator.get_variable_value(name)
        for name in estimator.get_variable_names()
    }


class TestTrain:
    def test_guide_style_model_fn_trains_and_counts_its_own_steps(self, tmp_path):
        estimator = make(tmp_path, guide_model_fn)
        before = estimator.evaluate(linear_input_fn())["loss"]
        estimator.train(linear_input_fn(repeat=True), steps=60)
        after = estimator.evaluate(linear_input_fn())
        assert after["global_step"] == 60
        assert after["loss"] < before / 5
        names = estimator.get_variable_names()
        assert "sequential/dense/kernel" in names
        assert any(n.startswith("adam/") for n in names)

    def test_second_train_call_continues_from_the_checkpoint(self, tmp_path):
        estimator = make(tmp_path)
        estimator.train(linear_input_fn(repeat=True), steps=30)
        estimator.train(linear_input_fn(repeat=True), steps=30)
        assert estimator.get_variable_value("global_step") == 60
        fresh = make(tmp_path)
        fresh.train(linear_input_fn(repeat=True), steps=10)
        assert fresh.get_variable_value("global_step") == 70
        assert fresh.get_variable_value("adam/iteration") == 70

    def test_restore_and_continue_equals_one_long_run(self, tmp_path):
        # 96 rows / 16 = 6 batches: both runs see the same batch at every step.
        split = make(tmp_path / "split")
        split.train(linear_input_fn(repeat=True), steps=24)
        make(tmp_path / "split").train(linear_input_fn(repeat=True), steps=24)
        whole = make(tmp_path / "whole")
        whole.train(linear_input_fn(repeat=True), steps=48)
        a, b = variables(split), variables(whole)
        assert sorted(a) == sorted(b)
        for name in a:
            np.testing.assert_allclose(a[name], b[name], rtol=1e-6, err_msg=name)

    def test_max_steps_stops_there_and_is_a_no_op_when_reached(self, tmp_path):
        estimator = make(tmp_path)
        estimator.train(linear_input_fn(repeat=True), max_steps=25)
        assert estimator.get_variable_value("global_step") == 25
        estimator.train(linear_input_fn(repeat=True), max_steps=25)
        assert estimator.latest_checkpoint().endswith("model.ckpt-25")

    def test_training_without_steps_ends_with_the_input(self, tmp_path):
        estimator = make(tmp_path)
        estimator.train(linear_input_fn(rows=96, batch=16))
        assert estimator.get_variable_value("global_step") == 6

    def test_model_dir_defaults_to_a_temporary_directory(self):
        estimator = tf_estimator.Estimator(dnn_model_fn, params=PARAMS)
        estimator.train(linear_input_fn(repeat=True), steps=2)
        assert os.path.isdir(estimator.model_dir)
        assert estimator.latest_checkpoint().startswith(estimator.model_dir)

    def test_steps_per_loop_runs_the_same_steps(self, tmp_path):
        looped = make(tmp_path / "looped", steps_per_loop=7)
        looped.train(linear_input_fn(repeat=True), steps=24)
        single = make(tmp_path / "single")
        single.train(linear_input_fn(repeat=True), steps=24)
        a, b = variables(looped), variables(single)
        for name in a:
            np.testing.assert_allclose(a[name], b[name], rtol=1e-6, err_msg=name)

    def test_nan_loss_stops_training(self, tmp_path):
        def model_fn(features, labels, mode):
            w = tf.Variable(lambda: tf.ones([3, 1]), name="w")
            loss = tf.reduce_mean(stack(features) @ w) * np.nan
            return tf_estimator.EstimatorSpec(
                mode, loss=loss, train_op=keras.optimizers.SGD(0.1)
            )

        estimator = make(tmp_path, model_fn)
        with pytest.raises(tf_estimator.NanLossDuringTrainingError, match="step 1"):
            estimator.train(linear_input_fn(repeat=True), steps=5)

    def test_stop_at_step_hook_and_spec_hooks_run(self, tmp_path):
        seen = []

        class Recorder(tf_estimator.SessionRunHook):
            def after_run(self, run_context, run_values):
                seen.append(run_values.results["global_step"])

        estimator = make(tmp_path)
        estimator.train(
            linear_input_fn(repeat=True),
            steps=50,
            hooks=[tf_estimator.StopAtStepHook(num_steps=7), Recorder()],
        )
        assert seen == list(range(1, 8))
        assert estimator.get_variable_value("global_step") == 7

    def test_input_fn_gets_params_mode_and_input_context(self, tmp_path):
        got = {}

        def input_fn(params, mode, input_context):
            got.update(params=params, mode=mode, context=input_context)
            return linear_input_fn(repeat=True)()

        make(tmp_path).train(input_fn, steps=1)
        assert got["params"]["hidden_units"] == [10, 10]
        assert got["mode"] == tf_estimator.ModeKeys.TRAIN
        assert got["context"].num_replicas_in_sync == 1


class TestCheckpoints:
    def test_default_schedule_saves_at_start_and_end(self, tmp_path):
        estimator = make(tmp_path)
        assert estimator.config.save_checkpoints_secs == 600
        estimator.train(linear_input_fn(repeat=True), steps=12)
        saved = sorted(glob.glob(str(tmp_path / "model.ckpt-*.index")))
        assert [os.path.basename(p) for p in saved] == [
            "model.ckpt-0.index",
            "model.ckpt-12.index",
        ]

    def test_steps_schedule_keeps_the_newest(self, tmp_path):
        estimator = make(tmp_path, save_checkpoints_steps=10, keep_checkpoint_max=3)
        estimator.train(linear_input_fn(repeat=True), steps=35)
        state = tf.train.get_checkpoint_state(str(tmp_path))
        kept = [os.path.basename(p) for p in state.all_model_checkpoint_paths]
        assert kept == ["model.ckpt-20", "model.ckpt-30", "model.ckpt-35"]

    def test_files_beyond_keep_max_are_deleted_across_estimators(self, tmp_path):
        first = make(tmp_path, save_checkpoints_steps=10, keep_checkpoint_max=2)
        first.train(linear_input_fn(repeat=True), steps=20)
        # A new Estimator on the same model_dir continues the count from the
        # state file, as CheckpointManager did.
        second = make(tmp_path, save_checkpoints_steps=10, keep_checkpoint_max=2)
        second.train(linear_input_fn(repeat=True), steps=20)
        files = sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "model*")))
        assert {f.split(".")[1] for f in files} == {"ckpt-30", "ckpt-40"}
        assert any(f.endswith(".index") for f in files)
        state = tf.train.get_checkpoint_state(str(tmp_path))
        assert len(state.all_model_checkpoint_timestamps) == 2

    def test_state_file_paths_are_relative_so_a_moved_model_dir_resumes(self, tmp_path):
        make(tmp_path / "a").train(linear_input_fn(repeat=True), steps=3)
        os.rename(tmp_path / "a", tmp_path / "b")
        with open(tmp_path / "b" / "checkpoint") as f:
            assert str(tmp_path) not in f.read()
        moved = make(tmp_path / "b")
        assert moved.latest_checkpoint() == str(tmp_path / "b" / "model.ckpt-3")
        moved.train(linear_input_fn(repeat=True), steps=2)
        assert moved.get_variable_value("global_step") == 5

    def test_keep_every_n_hours_keeps_an_old_checkpoint_out_of_the_sweep(
        self, tmp_path
    ):
        saver = checkpoints.CheckpointSaver(
            _store_with_one_variable(), str(tmp_path), 1, 1 / 3600
        )
        time.sleep(1.1)
        saver.save(1)
        saver.save(2)  # swept: ckpt-1 is over a second newer than the start: kept
        saver.save(3)  # swept: ckpt-2 is not a second newer than ckpt-1: deleted
        on_disk = {
            os.path.basename(p)[: -len(".index")]
            for p in glob.glob(str(tmp_path / "*.index"))
        }
        assert on_disk == {"model.ckpt-1", "model.ckpt-3"}
        state = tf.train.get_checkpoint_state(str(tmp_path))
        assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == [
            "model.ckpt-3"
        ]

    def test_steps_per_loop_chunks_stop_at_checkpoint_steps(self, tmp_path):
        estimator = make(
            tmp_path, save_checkpoints_steps=10, steps_per_loop=7, keep_checkpoint_max=0
        )
        estimator.train(linear_input_fn(repeat=True), steps=25)
        state = tf.train.get_checkpoint_state(str(tmp_path))
        kept = [os.path.basename(p) for p in state.all_model_checkpoint_paths]
        assert kept == [f"model.ckpt-{s}" for s in (0, 10, 20, 25)]

    def test_checkpoint_reads_with_tf_train_checkpoint_under_its_names(self, tmp_path):
        estimator = make(tmp_path)
        estimator.train(linear_input_fn(repeat=True), steps=5)
        path = estimator.latest_checkpoint()
        shapes = dict(
            (checkpoints.name_from_key(key), shape)
            for key, shape in tf.train.list_variables(path)
            if checkpoints.name_from_key(key)
        )
        assert sorted(shapes) == estimator.get_variable_names()
        holders = {
            name: tf.Variable(
                tf.zeros(
                    shape,
                    tf.int64 if name.endswith(("step", "iteration")) else tf.float32,
                )
            )
            for name, shape in shapes.items()
        }
        tf.train.Checkpoint(variables=holders).read(
            path
        ).assert_existing_objects_matched()
        np.testing.assert_array_equal(
            holders["sequential/dense/kernel"].numpy(),
            estimator.get_variable_value("sequential/dense/kernel"),
        )
        assert int(holders["global_step"].numpy()) == 5

    def test_incompatible_checkpoint_fails_at_once_and_says_what_to_do(self, tmp_path):
        make(tmp_path, params={"hidden_units": [10, 10]}).train(
            linear_input_fn(repeat=True), steps=3
        )
        wider = make(tmp_path, params={"hidden_units": [20, 20]})
        path = str(tmp_path / "model.ckpt-3")
        with pytest.raises(tf_estimator.CheckpointMismatchError) as error:
            wider.train(linear_input_fn(repeat=True), steps=3)
        message = str(error.value)
        assert f"does not fit checkpoint {path}" in message
        assert (
            "sequential/dense/kernel: shape [3, 20] in the model, [3, 10] in the checkpoint"
            in message
        )
        assert "Use a new model_dir" in message
        assert wider.latest_checkpoint() == path
        with pytest.raises(
            tf_estimator.CheckpointMismatchError, match=re.escape("[20, 20]")
        ):
            wider.evaluate(linear_input_fn())

    def test_a_deeper_model_is_refused_too(self, tmp_path):
        make(tmp_path, params={"hidden_units": [10]}).train(
            linear_input_fn(repeat=True), steps=2
        )
        deeper = make(tmp_path, params={"hidden_units": [10, 10]})
        with pytest.raises(
            tf_estimator.CheckpointMismatchError, match="missing from the checkpoint"
        ):
            deeper.train(linear_input_fn(repeat=True), steps=2)

    def test_variable_names_and_values_need_a_checkpoint(self, tmp_path):
        estimator = make(tmp_path)
        with pytest.raises(tf_estimator.NoCheckpointError, match="train first"):
            estimator.get_variable_names()
        estimator.train(linear_input_fn(repeat=True), steps=1)
        with pytest.raises(KeyError, match="did you mean 'sequential/dense/kernel'"):
            estimator.get_variable_value("sequential/dense/kernal")

    def test_summaries_for_train_and_eval(self, tmp_path):
        estimator = make(tmp_path, save_summary_steps=5, log_step_count_steps=10)
        estimator.train(linear_input_fn(repeat=True), steps=20)
        estimator.evaluate(linear_input_fn())
        train = _scalars(str(tmp_path / "events.out.tfevents.*"))
        assert sorted(train["loss"]) == [5, 10, 15, 20]
        assert sorted(train["global_step/sec"]) == [10, 20]
        evaluation = _scalars(str(tmp_path / "eval" / "events.out.tfevents.*"))
        assert sorted(evaluation) == ["count", "loss", "mae"]
        assert evaluation["count"] == {20: 96.0}
        estimator.evaluate(linear_input_fn(rows=10), name="small")
        small = _scalars(str(tmp_path / "eval_small" / "events.out.tfevents.*"))
        assert small["count"] == {20: 10.0}


def _scalars(pattern: str) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for path in glob.glob(pattern):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                assert value.metadata.plugin_data.plugin_name == "scalars"
                out.setdefault(value.tag, {})[event.step] = float(
                    tf.make_ndarray(value.tensor)
                )
    return out


class TestEvaluateAndPredict:
    def test_evaluate_is_one_exact_pass_with_the_partial_batch(self, tmp_path):
        estimator = make(tmp_path)
        estimator.train(linear_input_fn(repeat=True), steps=10)
        result = estimator.evaluate(linear_input_fn(rows=90, batch=16))
        assert result["count"] == 90
        features, y = linear_data(90)
        predicted = np.concatenate(
            [
                p["y"][None]
                for p in estimator.predict(linear_input_fn(rows=90, labels=False))
            ]
        )
        np.testing.assert_allclose(
            result["loss"], np.mean((predicted - y) ** 2), rtol=1e-5
        )
        np.testing.assert_allclose(
            result["mae"], np.mean(np.abs(predicted - y)), rtol=1e-5
        )
        assert (
            estimator.evaluate(linear_input_fn(rows=90, batch=16), steps=2)["count"]
            == 32
        )

    def test_predict_yields_examples_or_batches_and_selects_keys(self, tmp_path):
        estimator = make(tmp_path)
        estimator.train(linear_input_fn(repeat=True), steps=2)
        examples = list(
            estimator.predict(linear_input_fn(rows=10, labels=False), predict_keys="y")
        )
        assert len(examples) == 10 and examples[0]["y"].shape == (1,)
        batches = list(
            estimator.predict(
                linear_input_fn(rows=10, batch=4), yield_single_examples=False
            )
        )
        assert [b["y"].shape[0] for b in batches] == [4, 4, 2]
        with pytest.raises(tf_estimator.EstimatorSpecError, match="'z'"):
            list(estimator.predict(linear_input_fn(rows=10), predict_keys=["z"]))

    def test_every_call_starts_from_the_newest_checkpoint(self, tmp_path):
        reader = make(tmp_path)
        reader.train(linear_input_fn(repeat=True), steps=2)
        first = reader.evaluate(linear_input_fn())
        make(tmp_path).train(linear_input_fn(repeat=True), steps=20)
        second = reader.evaluate(linear_input_fn())
        assert second["global_step"] == 22
        assert second["loss"] < first["loss"]
        old = reader.evaluate(
            linear_input_fn(), checkpoint_path=str(tmp_path / "model.ckpt-2")
        )
        assert old["loss"] == first["loss"]


class TestModelFnRules:
    def test_variables_created_outside_model_fn_are_refused(self, tmp_path):
        outside = keras.Sequential([keras.layers.Dense(1)])
        outside.build((None, 3))

        def model_fn(features, labels, mode):
            loss = tf.reduce_mean(tf.square(outside(stack(features)) - labels))
            return tf_estimator.EstimatorSpec(
                mode, loss=loss, train_op=keras.optimizers.SGD(0.1)
            )

        with pytest.raises(tf_estimator.EstimatorSpecError, match="created outside it"):
            make(tmp_path, model_fn).train(linear_input_fn(repeat=True), steps=1)

    def test_repeated_names_in_one_call_get_suffixes(self, tmp_path):
        def model_fn(features, labels, mode):
            a = tf.Variable(lambda: tf.ones([3, 1]), name="w")
            b = tf.Variable(lambda: tf.zeros([1]), name="w")
            loss = tf.reduce_mean(tf.square(stack(features) @ a + b - labels))
            return tf_estimator.EstimatorSpec(
                mode, loss=loss, train_op=keras.optimizers.SGD(0.01)
            )

        estimator = make(tmp_path, model_fn)
        estimator.train(linear_input_fn(repeat=True), steps=2)
        assert {"w", "w_1", "sgd/iteration"} <= set(estimator.get_variable_names())
        assert estimator.get_variable_value("w_1").shape == (1,)


@pytest.mark.slow
def test_tf_keras_model_fn_in_a_legacy_keras_process(tmp_path):
    """tensorflow-transform sets TF_USE_LEGACY_KERAS=1: tf.keras is then Keras 2."""
    script = f"""
import os
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import tensorflow as tf
from components.trainer import estimator as tf_estimator
from tests.components.trainer.models import linear_input_fn, stack

assert tf.keras.__name__.startswith("tf_keras"), tf.keras.__name__

def model_fn(features, labels, mode):
    model = tf.keras.Sequential([tf.keras.layers.Dense(8, "relu"), tf.keras.layers.Dense(1)])
    predictions = model(stack(features))
    loss = tf.keras.losses.MeanSquaredError()(labels, predictions)
    mae = tf.keras.metrics.MeanAbsoluteError()
    mae.update_state(labels, predictions)
    return tf_estimator.EstimatorSpec(mode, predictions=predictions, loss=loss,
        train_op=tf.keras.optimizers.Adam(0.05), eval_metric_ops={{"mae": mae}})

first = tf_estimator.Estimator(model_fn, {str(tmp_path)!r})
first.train(linear_input_fn(repeat=True), steps=40)
again = tf_estimator.Estimator(model_fn, {str(tmp_path)!r})
again.train(linear_input_fn(repeat=True), steps=10)
result = again.evaluate(linear_input_fn())
assert result["global_step"] == 50 and result["mae"] < 0.5, result
print(sorted(again.get_variable_names()))
"""
    import subprocess
    import sys

    from tests.components.trainer.models import REPO

    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "'dense/kernel'" in out.stdout


def test_model_fn_summaries_follow_the_summary_schedule(tmp_path):
    def model_fn(features, labels, mode):
        predictions = keras.Sequential([keras.layers.Dense(1)])(stack(features))
        loss = tf.compat.v1.losses.mean_squared_error(labels, predictions)
        tf.summary.write("mean_prediction", tf.reduce_mean(predictions))
        return tf_estimator.EstimatorSpec(
            mode, loss=loss, train_op=keras.optimizers.SGD(0.1)
        )

    estimator = make(tmp_path, model_fn, save_summary_steps=4)
    estimator.train(lambda **kwargs: linear_input_fn(repeat=True)(), steps=9)
    steps: dict[str, list[int]] = {}
    for path in glob.glob(str(tmp_path / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                steps.setdefault(value.tag, []).append(event.step)
    assert steps["mean_prediction"] == steps["loss"] == [4, 8]


def two_optimizer_model_fn(features, labels, mode, params):
    """Wide & deep's shape: one optimizer per part of the model."""
    wide = keras.layers.Dense(1, name="wide")
    deep = keras.Sequential(
        [keras.layers.Dense(4, "relu"), keras.layers.Dense(1)], name="deep"
    )
    x = stack(features)
    predictions = wide(x) + deep(x)
    if mode == tf_estimator.ModeKeys.PREDICT:
        return tf_estimator.EstimatorSpec(mode, predictions=predictions)
    loss = keras.losses.MeanSquaredError()(labels, predictions)
    pairs = [
        (keras.optimizers.SGD(params["wide_rate"]), wide.trainable_variables),
        (keras.optimizers.SGD(params["deep_rate"]), deep.trainable_variables),
    ]
    if params.get("overlap"):
        pairs[1] = (pairs[1][0], deep.trainable_variables + wide.trainable_variables)
    return tf_estimator.EstimatorSpec(mode, loss=loss, train_op=pairs)


class TestSeveralOptimizers:
    def test_each_optimizer_updates_only_its_own_variables(self, tmp_path):
        def train(name, wide_rate, deep_rate):
            estimator = tf_estimator.Estimator(
                two_optimizer_model_fn,
                str(tmp_path / name),
                tf_estimator.RunConfig(tf_random_seed=5),
                params={"wide_rate": wide_rate, "deep_rate": deep_rate},
            )
            estimator.train(linear_input_fn(repeat=True), steps=5)
            return variables(estimator)

        frozen_deep = train("frozen_deep", 0.05, 0.0)
        frozen_wide = train("frozen_wide", 0.0, 0.05)
        start = train("start", 0.0, 0.0)
        for name, value in start.items():
            if name.startswith("deep/") and "iteration" not in name:
                np.testing.assert_array_equal(frozen_deep[name], value, name)
                assert not np.array_equal(frozen_wide[name], value), name
            if name.startswith("wide/"):
                np.testing.assert_array_equal(frozen_wide[name], value, name)
                assert not np.array_equal(frozen_deep[name], value), name

    def test_a_variable_in_two_pairs_is_refused(self, tmp_path):
        estimator = tf_estimator.Estimator(
            two_optimizer_model_fn,
            str(tmp_path),
            params={"wide_rate": 0.1, "deep_rate": 0.1, "overlap": True},
        )
        with pytest.raises(tf_estimator.EstimatorSpecError, match="two train_op pairs"):
            estimator.train(linear_input_fn(repeat=True), steps=1)


def _store_with_one_variable():
    from components.trainer.estimator.variables import VariableStore

    store = VariableStore(tf.distribute.get_strategy())
    store.add("w", tf.Variable([1.0, 2.0]))
    return store
