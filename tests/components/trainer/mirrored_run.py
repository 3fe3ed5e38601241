"""Run as a script by test_distribute.py: the same training on 1 and 2 replicas.

Splits the CPU into two logical devices before TensorFlow starts, trains the DNN
once under the default strategy (global batch 32) and once under MirroredStrategy
(2 replicas x 16), evaluates and predicts both ways, and prints JSON.
"""

from __future__ import annotations

import json
import sys

import tensorflow as tf

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration()] * 2,
)

from components.trainer import estimator as tf_estimator  # noqa: E402
from tests.components.trainer.models import dnn_model_fn, linear_data  # noqa: E402

GLOBAL_BATCH = 32


def input_fn(rows, repeat, labels=True):
    def fn(input_context):
        features, y = linear_data(rows)
        batch = input_context.get_per_replica_batch_size(GLOBAL_BATCH)
        dataset = tf.data.Dataset.from_tensor_slices(
            (features, y) if labels else features
        )
        dataset = dataset.batch(batch)
        return dataset.repeat() if repeat else dataset

    return fn


def run(model_dir: str, strategy) -> dict:
    estimator = tf_estimator.Estimator(
        dnn_model_fn,
        model_dir,
        tf_estimator.RunConfig(tf_random_seed=11, train_distribute=strategy),
        params={"hidden_units": [8]},
    )
    estimator.train(input_fn(96, True), steps=12)
    evaluation = estimator.evaluate(input_fn(90, False))
    predictions = [
        float(p["y"][0]) for p in estimator.predict(input_fn(90, False, labels=False))
    ]
    return {
        "variables": {
            name: estimator.get_variable_value(name).tolist()
            for name in estimator.get_variable_names()
        },
        "eval": {k: float(v) for k, v in evaluation.items()},
        "predictions": predictions,
        "replicas": strategy.num_replicas_in_sync if strategy else 1,
    }


if __name__ == "__main__":
    base = sys.argv[1]
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    print(
        json.dumps(
            {
                "single": run(base + "/single", None),
                "mirrored": run(base + "/mirrored", mirrored),
            }
        )
    )
