"""Run as a script by test_multi_worker.py: one worker of a 2-worker MWMS cluster.

``TF_CONFIG`` (set by the test) names the cluster and this task. The worker trains
the DNN of models.py through the Estimator under ``MultiWorkerMirroredStrategy``,
once per entry of ``spec["phases"]`` (``max_steps`` each, a new Estimator each time,
so every phase after the first restores from model_dir; with
``spec["train_and_evaluate"]`` those phases run ``train_and_evaluate``, evaluating
every 5 steps and exporting), then evaluates, and prints one JSON line: the
input_fn's InputContexts, the steps each phase ran, its live variables and the
(last) evaluation.

Spec keys: ``model_dir``, ``phases``, ``save_steps``, ``step_sleep`` (seconds a hook
sleeps per step), ``progress`` (a file the hook writes the global step to; ``{task}`` is replaced
by the task index),
``slow_chief_save`` (seconds the chief sleeps before its save at the end of the first
phase, so that a worker that does not wait would miss the checkpoint),
``heartbeat_timeout_ms`` (after how long without heartbeats a worker counts as
dead; TensorFlow's default is 10 s).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

START = time.monotonic()

import tensorflow as tf  # noqa: E402

from components.trainer import estimator as tf_estimator  # noqa: E402
from tests.components.trainer.models import (  # noqa: E402
    FEATURES,
    dnn_model_fn,
    linear_data,
)

GLOBAL_BATCH = 32
RECEIVER = tf_estimator.export.build_raw_serving_input_receiver_fn(
    {name: tf.TensorSpec([None, 1], tf.float32) for name in FEATURES}
)


def make_input_fn(calls: list, rows: int = 96, repeat: bool = True):
    """Batches of the global batch's per-replica size; each pipeline its own share."""

    def input_fn(input_context):
        batch = input_context.get_per_replica_batch_size(GLOBAL_BATCH)
        calls.append(
            [input_context.num_input_pipelines, input_context.input_pipeline_id, batch]
        )
        features, y = linear_data(rows)
        dataset = tf.data.Dataset.from_tensor_slices((features, y)).batch(batch)
        dataset = dataset.shard(
            input_context.num_input_pipelines, input_context.input_pipeline_id
        )
        return dataset.repeat() if repeat else dataset

    return input_fn


class Progress(tf_estimator.SessionRunHook):
    """Records the global steps it sees; writes the newest to a file; may sleep."""

    def __init__(self, path: str | None, sleep: float):
        self.path, self.sleep, self.steps = path, sleep, []

    def after_run(self, run_context, run_values):
        step = run_values.results["global_step"]
        self.steps.append(step)
        if self.path:
            with open(self.path + ".tmp", "w") as f:
                f.write(str(step))
            os.replace(self.path + ".tmp", self.path)
        if self.sleep:
            time.sleep(self.sleep)


class SlowSave(tf_estimator.CheckpointSaverListener):
    """Sleeps before saving the checkpoint of one step (on the chief)."""

    def __init__(self, step: int, seconds: float):
        self.step, self.seconds = step, seconds

    def before_save(self, session, global_step_value):
        if global_step_value == self.step:
            time.sleep(self.seconds)


def detect_dead_peers_after(milliseconds: int) -> None:
    """Configures MWMS's coordination service as it would, with a shorter heartbeat
    timeout (default 10 s): a dead peer then aborts the collectives sooner."""
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.eager import context

    workers = len(json.loads(os.environ["TF_CONFIG"])["cluster"]["worker"])
    context.context().configure_coordination_service(
        service_type="standalone",
        service_leader="/job:worker/replica:0/task:0",
        heartbeat_timeout_in_ms=milliseconds,
        coordinated_jobs=[
            coordination_config_pb2.CoordinatedJob(name="worker", num_tasks=workers)
        ],
    )


def main(spec: dict) -> dict:
    logging.basicConfig(format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("components.trainer.estimator").setLevel(logging.INFO)
    if spec.get("heartbeat_timeout_ms"):
        detect_dead_peers_after(spec["heartbeat_timeout_ms"])
    imported = time.monotonic()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    connected = time.monotonic()
    config = tf_estimator.RunConfig(
        tf_random_seed=11,
        train_distribute=strategy,
        save_checkpoints_steps=spec.get("save_steps", 5),
        save_summary_steps=5,
    )
    calls: list = []
    phases = []
    evaluation = None
    for number, max_steps in enumerate(spec["phases"]):
        estimator = tf_estimator.Estimator(
            dnn_model_fn, spec["model_dir"], config, params={"hidden_units": [8]}
        )
        progress_file = spec.get("progress", "").format(task=config.task_id)
        progress = Progress(progress_file, spec.get("step_sleep", 0))
        listeners = []
        if number == 0 and spec.get("slow_chief_save"):
            listeners.append(SlowSave(max_steps, spec["slow_chief_save"]))
        started = time.monotonic()
        if number and spec.get("train_and_evaluate"):
            evaluation, exports = tf_estimator.train_and_evaluate(
                estimator,
                tf_estimator.TrainSpec(
                    make_input_fn(calls), max_steps=max_steps, hooks=[progress]
                ),
                tf_estimator.EvalSpec(
                    make_input_fn(calls, rows=90, repeat=False),
                    steps=None,
                    throttle_secs=0,
                    exporters=[tf_estimator.LatestExporter("latest", RECEIVER)],
                ),
            )
        else:
            estimator.train(
                make_input_fn(calls),
                max_steps=max_steps,
                hooks=[progress],
                saving_listeners=listeners,
            )
            evaluation = None
        runtime = estimator._runtime(tf_estimator.ModeKeys.TRAIN)
        phases.append(
            {
                "steps": progress.steps,
                "seconds": time.monotonic() - started,
                "variables": {
                    name: variable.numpy().tolist()
                    for name, variable in runtime.store.checkpointed().items()
                },
            }
        )
    if evaluation is None:
        evaluation = estimator.evaluate(make_input_fn(calls, rows=90, repeat=False))
    return {
        "task": estimator.config.task_id,
        "is_chief": estimator.config.is_chief,
        "calls": calls,
        "phases": phases,
        "eval": {k: float(v) for k, v in evaluation.items()},
        "seconds": {
            "import": imported - START,
            "strategy": connected - imported,
            "total": time.monotonic() - START,
        },
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))), flush=True)
