"""Run as a script by test_premade_strategies.py: wide & deep under one strategy.

``python -m tests.components.trainer.canned.strategy_run '<json spec>'`` with
``spec["strategy"]``:

* ``"mirrored"``: splits the CPU into two logical devices, trains the same
  ``DNNLinearCombinedClassifier`` under the default strategy (global batch 32) and
  under MirroredStrategy (2 replicas x 16), and prints both runs;
* ``"multi_worker"``: one worker of a MultiWorkerMirroredStrategy cluster
  (``TF_CONFIG`` set by the test);
* ``"parameter_server"``: the chief of a ParameterServerStrategy cluster, or (for a
  worker / ps task) a server that waits.

Every run prints one JSON line: the checkpointed variables, the evaluation, and a few
predictions. The data has dense, missing ('' / absent) and multi-valued sparse
features, so every kind of input crosses the strategy.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import tensorflow as tf

SPEC = json.loads(sys.argv[1]) if __name__ == "__main__" else {}
if SPEC.get("strategy") == "mirrored":
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0],
        [tf.config.LogicalDeviceConfiguration()] * 2,
    )

from components.trainer import estimator as tf_estimator  # noqa: E402
from components.trainer.estimator import checkpoints  # noqa: E402
from components.trainer.estimator import feature_column as fc  # noqa: E402

GLOBAL_BATCH = 32
COLORS = ["red", "green", "blue"]
TAGS = ["a", "b", "c", "d"]


def make_data(rows: int, seed: int = 0) -> tuple[dict, np.ndarray]:
    """Features (with missing values) and a label that depends on all of them."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=rows).astype(np.float32)
    x2 = rng.normal(size=rows).astype(np.float32)
    color = rng.choice(COLORS + [""], rows)  # '' is a missing value
    city = np.array([f"city_{i}" for i in rng.integers(0, 40, rows)])
    tags = rng.choice(TAGS + ["", ""], (rows, 2))  # '' entries are dropped
    score = (
        x1
        - 0.5 * x2
        + (color == "red")
        - (color == "blue")
        + 0.8 * np.char.endswith(city, "7")
        + 0.7 * (tags == "a").any(1)
    )
    features = {"x1": x1, "x2": x2, "color": color, "city": city, "tags": tags}
    return features, (score > 0.3).astype(np.int64)[:, None]


def input_fn(rows: int, repeat: bool, seed: int = 0):
    def fn(input_context=None):
        features, labels = make_data(rows, seed)
        batch = GLOBAL_BATCH
        dataset = tf.data.Dataset.from_tensor_slices((features, labels))
        if input_context is not None:
            batch = input_context.get_per_replica_batch_size(GLOBAL_BATCH)
            dataset = dataset.shard(
                input_context.num_input_pipelines, input_context.input_pipeline_id
            )

        def sparse_tags(features, labels):
            features = dict(features)
            features["tags"] = tf.sparse.from_dense(features["tags"])
            return features, labels

        dataset = dataset.batch(batch).map(sparse_tags)
        return dataset.repeat() if repeat else dataset

    return fn


def columns():
    x2_buckets = fc.bucketized_column(fc.numeric_column("x2"), [-1.0, 0.0, 1.0])
    color = fc.categorical_column_with_vocabulary_list("color", COLORS)
    city = fc.categorical_column_with_hash_bucket("city", 20)
    tags = fc.categorical_column_with_vocabulary_list("tags", TAGS, num_oov_buckets=1)
    linear = [
        fc.numeric_column("x1"),
        x2_buckets,
        color,
        city,
        tags,
        fc.crossed_column([color, x2_buckets], 30),
    ]
    dnn = [
        fc.numeric_column("x1"),
        fc.numeric_column("x2"),
        fc.indicator_column(color),
        fc.embedding_column(city, 4),
        fc.embedding_column(tags, 3, combiner="sqrtn"),
    ]
    return linear, dnn


def make_estimator(model_dir: str, strategy) -> tf_estimator.Estimator:
    linear, dnn = columns()
    return tf_estimator.DNNLinearCombinedClassifier(
        model_dir=model_dir,
        linear_feature_columns=linear,
        dnn_feature_columns=dnn,
        dnn_hidden_units=[8, 4],
        config=tf_estimator.RunConfig(
            tf_random_seed=7, train_distribute=strategy, save_checkpoints_steps=50
        ),
    )


def run(model_dir: str, strategy, steps: int = 40) -> dict:
    estimator = make_estimator(model_dir, strategy)
    estimator.train(input_fn(512, True), max_steps=steps)
    evaluation = estimator.evaluate(input_fn(256, False, seed=1))
    predictions = [
        float(p["logistic"][0])
        for _, p in zip(range(8), estimator.predict(input_fn(8, False, seed=2)))
    ]
    path = estimator.latest_checkpoint()
    return {
        "variables": {
            name: checkpoints.read_value(path, name).tolist()
            for name in estimator.get_variable_names()
        },
        "eval": {k: float(v) for k, v in evaluation.items()},
        "predictions": predictions,
        "is_chief": estimator.config.is_chief,
    }


def main(spec: dict) -> dict:
    kind = spec["strategy"]
    if kind == "mirrored":
        mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        return {
            "single": run(os.path.join(spec["model_dir"], "single"), None),
            "mirrored": run(os.path.join(spec["model_dir"], "mirrored"), mirrored),
            "replicas": mirrored.num_replicas_in_sync,
        }
    if kind == "multi_worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        return run(spec["model_dir"], strategy)
    if kind == "parameter_server":
        tf_config = json.loads(os.environ["TF_CONFIG"])
        if tf_config["task"]["type"] in ("worker", "ps"):
            servers = [tf_estimator.start_server(tf_config)]
            for task_type, index in spec.get("also", []):
                task = {"type": task_type, "index": index}
                servers.append(tf_estimator.start_server({**tf_config, "task": task}))
            print("serving", flush=True)
            servers[0].join()
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        return run(spec["model_dir"], tf.distribute.ParameterServerStrategy(resolver))
    raise SystemExit(f"unknown strategy {kind!r}")


if __name__ == "__main__":
    print(json.dumps(main(SPEC)), flush=True)
