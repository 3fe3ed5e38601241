"""Run as a script by test_parameter_server.py: a task of a ParameterServerStrategy cluster.

``TF_CONFIG`` (set by the test) names the cluster and this task.

* A ``worker`` or ``ps`` task starts its server (``start_server``) and waits; with
  ``spec["also"]``, a list of ``[type, index]``, it also serves those tasks from this
  process (in-process servers start faster than one process each).
* The ``chief`` trains the DNN of models.py through the Estimator under
  ``ParameterServerStrategy`` to ``spec["max_steps"]`` and evaluates on the chief
  (with ``spec["train_and_evaluate"]``: ``train_and_evaluate``, evaluating after
  each checkpoint and exporting the final model), and prints one JSON line: the
  InputContexts the input_fn got, the global steps, losses and step counts the
  hooks saw, the evaluation, the exports and timings.

Spec keys (chief): ``model_dir``, ``max_steps``, ``save_steps``, ``steps_per_loop``,
``step_sleep`` (seconds each training step sleeps, on the worker), ``progress`` (a
file the hook writes the global step to), ``coordinator_logs`` (log TensorFlow's
INFO messages, the ClusterCoordinator's among them).
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
from components.trainer.estimator.distribution import start_server  # noqa: E402
from tests.components.trainer.models import (  # noqa: E402
    FEATURES,
    dnn_model_fn,
    linear_data,
)

BATCH = 16
RECEIVER = tf_estimator.export.build_raw_serving_input_receiver_fn(
    {name: tf.TensorSpec([None, 1], tf.float32) for name in FEATURES}
)


def make_input_fn(calls: list, rows: int = 96, repeat: bool = True, sleep=0.0):
    """Each worker reads its own shard of the rows, in order."""

    def input_fn(input_context):
        batch = input_context.get_per_replica_batch_size(BATCH)
        calls.append(
            [input_context.num_input_pipelines, input_context.input_pipeline_id, batch]
        )
        features, y = linear_data(rows)
        dataset = tf.data.Dataset.from_tensor_slices((features, y))
        dataset = dataset.shard(
            input_context.num_input_pipelines, input_context.input_pipeline_id
        ).batch(batch)
        if sleep:
            # A graph-only delay (the dataset runs in the worker's server).
            from tensorflow.python.data.experimental.ops import testing

            dataset = dataset.apply(testing.sleep(int(sleep * 1e6)))
        return dataset.repeat() if repeat else dataset

    return input_fn


class Progress(tf_estimator.SessionRunHook):
    """Records (global step, loss) after each run; writes the step to a file."""

    def __init__(self, path: str | None):
        self.path, self.runs = path, []

    def after_run(self, run_context, run_values):
        results = run_values.results
        self.runs.append([results["global_step"], results["loss"], results["steps"]])
        if self.path:
            with open(self.path + ".tmp", "w") as f:
                f.write(str(results["global_step"]))
            os.replace(self.path + ".tmp", self.path)


def serve(spec: dict) -> None:
    tf_config = json.loads(os.environ["TF_CONFIG"])
    servers = [start_server(tf_config)]
    for task_type, index in spec.get("also", []):
        task = {"type": task_type, "index": index}
        servers.append(start_server({**tf_config, "task": task}))
    print("serving", flush=True)
    servers[0].join()


def train(spec: dict) -> dict:
    logging.basicConfig(format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("components.trainer.estimator").setLevel(logging.INFO)
    if spec.get("coordinator_logs"):
        tf.get_logger().setLevel(logging.INFO)
    imported = time.monotonic()
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    strategy = tf.distribute.ParameterServerStrategy(resolver)
    connected = time.monotonic()
    config = tf_estimator.RunConfig(
        tf_random_seed=3,
        train_distribute=strategy,
        save_checkpoints_steps=spec.get("save_steps", 20),
        steps_per_loop=spec.get("steps_per_loop", 1),
        log_step_count_steps=20,
    )
    estimator = tf_estimator.Estimator(
        dnn_model_fn, spec["model_dir"], config, params={"hidden_units": [8]}
    )
    calls: list = []
    eval_calls: list = []
    progress = Progress(spec.get("progress"))
    latest = estimator.latest_checkpoint()
    train_input_fn = make_input_fn(calls, sleep=spec.get("step_sleep", 0))
    eval_input_fn = make_input_fn(eval_calls, rows=90, repeat=False)
    exports = []
    if spec.get("train_and_evaluate"):
        # Evaluates on the chief after each checkpoint; exports the last one.
        evaluation, exports = tf_estimator.train_and_evaluate(
            estimator,
            tf_estimator.TrainSpec(
                train_input_fn, max_steps=spec["max_steps"], hooks=[progress]
            ),
            tf_estimator.EvalSpec(
                eval_input_fn,
                steps=None,
                throttle_secs=0,
                exporters=tf_estimator.FinalExporter("final", RECEIVER),
            ),
        )
    else:
        estimator.train(train_input_fn, max_steps=spec["max_steps"], hooks=[progress])
        evaluation = estimator.evaluate(eval_input_fn)
    trained = time.monotonic()
    return {
        "exports": [export.decode() for export in exports if export],
        "is_chief": config.is_chief,
        "started_from": latest and os.path.basename(latest),
        "calls": calls,
        "eval_calls": eval_calls,
        "runs": progress.runs,
        "eval": {k: float(v) for k, v in evaluation.items()},
        "optimizer_iterations": int(estimator.get_variable_value("adam/iteration")),
        "seconds": {
            "import": imported - START,
            "connect": connected - imported,
            "train_and_evaluate": trained - connected,
            "total": time.monotonic() - START,
        },
    }


if __name__ == "__main__":
    task_spec = json.loads(sys.argv[1])
    task_type = json.loads(os.environ["TF_CONFIG"])["task"]["type"]
    if task_type in ("worker", "ps"):
        serve(task_spec)
    else:
        print(json.dumps(train(task_spec)), flush=True)
