"""Run as a script by test_in_estimator.py: the feature-column model_fn trained on 1
and on 2 replicas (MirroredStrategy over two logical CPUs); prints JSON."""

from __future__ import annotations

import json
import sys

import tensorflow as tf

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration()] * 2,
)

from components.trainer import estimator as tf_estimator  # noqa: E402
from tests.components.trainer.feature_column.models import (  # noqa: E402
    input_fn,
    model_fn,
)


def run(model_dir: str, strategy) -> dict:
    estimator = tf_estimator.Estimator(
        model_fn,
        model_dir,
        tf_estimator.RunConfig(tf_random_seed=7, train_distribute=strategy),
        params={"learning_rate": 0.05},
    )
    estimator.train(input_fn(128, repeat=True), steps=10)
    evaluation = estimator.evaluate(input_fn(90, repeat=False))
    predictions = [
        float(p["y"][0])
        for p in estimator.predict(input_fn(90, repeat=False, labels=False))
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
