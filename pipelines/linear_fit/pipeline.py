"""The linear_fit pipeline: a custom model_fn fits y = a·x + b by gradient descent.

generate_line_points (a custom component: points on the line ``slope·x +
intercept`` plus noise, written as gzip TFRecord shards of tf.Example in the Examples
layout) → SchemaGen (the checked-in ``schema.pbtxt``) → Trainer (``line_trainer.py``:
an ``Estimator`` whose ``model_fn`` has two variables) → Evaluator (rmse and mae,
against a bound).

By default the line is fitted to 8 points by plain gradient descent. With
``--points 8000000`` the generator writes 8 million points in chunks, and the Trainer
streams them once with stochastic gradient descent (batches of 1024); neither ever
holds them all in memory. The generator records the exact least-squares line of its
train points, and the Trainer's evaluation records the fitted slope and intercept, so
``mlpipe show`` puts the two side by side.

Run it with ``python pipelines/linear_fit/pipeline.py [--points 8000000]`` or
``mlpipe run pipelines/linear_fit/pipeline.py``; ``--help`` lists the knobs.
"""

from __future__ import annotations

import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
# Run as a script, this file's folder is sys.path[0] and this file would shadow the
# `pipeline` package: the repository root takes its place (and makes `pipelines`
# importable under `mlpipe run`, whose sys.path may not hold the repository).
if sys.path and os.path.abspath(sys.path[0] or ".") == HERE:
    sys.path[0] = REPO
if REPO not in sys.path:
    sys.path.append(REPO)

from components import SchemaGen, Trainer  # noqa: E402 - after the sys.path fix
from components.evaluator import Evaluator  # noqa: E402
from pipeline import (  # noqa: E402
    Examples,
    ExecutionContext,
    Output,
    Parameter,
    Pipeline,
    component,
)
from pipelines.examples import (  # noqa: E402
    default_root,
    main,
    resolve_root,
    store_url,
)

NAME = "linear_fit"
#: Points generated, serialized and written at a time.
CHUNK = 1_000_000


@component
def generate_line_points(
    examples: Output[Examples],
    context: ExecutionContext,
    points: Parameter[int] = 8,
    eval_points: Parameter[int] = 1000,
    slope: Parameter[float] = 3.0,
    intercept: Parameter[float] = -1.0,
    noise: Parameter[float] = 0.1,
    seed: Parameter[int] = 0,
    shards: Parameter[int] = 4,
):
    """Writes points ``(x, slope·x + intercept + noise)`` as train and eval Examples.

    ``x`` is uniform in [-1, 1], the noise normal with standard deviation ``noise``.
    Points are made a million at a time with numpy and written to gzip TFRecord
    shards, ``Split-<name>/data-<i>-of-<n>.tfrecord.gz``, as tf.Examples with float
    features ``x`` and ``y``: every record has the same layout, so one serialized
    Example is the template and the values are written into its bytes.

    Returns:
        The row counts and the least-squares line through the train points.
    """
    import struct

    import numpy as np
    import tensorflow as tf

    template = tf.train.Example(
        features=tf.train.Features(
            feature={
                "x": tf.train.Feature(float_list=tf.train.FloatList(value=[1.5])),
                "y": tf.train.Feature(float_list=tf.train.FloatList(value=[-2.25])),
            }
        )
    ).SerializeToString()
    at_x = template.find(struct.pack("<f", 1.5))
    at_y = template.find(struct.pack("<f", -2.25))
    size = len(template)
    rng = np.random.default_rng(seed)
    options = tf.io.TFRecordOptions(compression_type="GZIP", compression_level=1)
    fit = {}
    for split, count in (("train", points), ("eval", eval_points)):
        os.makedirs(examples.split_uri(split))
        n_shards = max(1, min(shards, count))
        sums = np.zeros(5)  # n, Σx, Σy, Σx², Σxy
        for shard in range(n_shards):
            path = os.path.join(
                examples.split_uri(split),
                f"data-{shard:05d}-of-{n_shards:05d}.tfrecord.gz",
            )
            todo = count // n_shards + (shard < count % n_shards)
            with tf.io.TFRecordWriter(path, options) as writer:
                while todo:
                    n = min(todo, CHUNK)
                    todo -= n
                    x = rng.uniform(-1.0, 1.0, n).astype("<f4")
                    y = (slope * x + intercept + rng.normal(0.0, noise, n)).astype(
                        "<f4"
                    )
                    sums += [n, x.sum(), y.sum(), (x * x).sum(), (x * y).sum()]
                    records = np.tile(np.frombuffer(template, np.uint8), (n, 1))
                    records[:, at_x : at_x + 4] = x.view(np.uint8).reshape(n, 4)
                    records[:, at_y : at_y + 4] = y.view(np.uint8).reshape(n, 4)
                    data = records.tobytes()
                    for i in range(n):
                        writer.write(data[i * size : (i + 1) * size])
        if split == "train":
            n, sx, sy, sxx, sxy = sums
            fitted = (n * sxy - sx * sy) / (n * sxx - sx * sx) if n > 1 else 0.0
            fit = {"slope": fitted, "intercept": (sy - fitted * sx) / max(n, 1)}
        context.log.info("Wrote %d %s points to %s", count, split, examples.uri)
    examples.split_names = ["train", "eval"]
    examples.row_counts = {"train": points, "eval": eval_points}
    return {"row_counts": examples.row_counts, "least_squares": fit}


def create_pipeline(
    root: str = default_root(NAME),
    store: str | None = None,
    *,
    points: int = 8,
    eval_points: int = 1000,
    slope: float = 3.0,
    intercept: float = -1.0,
    noise: float = 0.1,
    batch_size: int = 1024,
    train_steps: int | None = None,
    learning_rate: float = 0.1,
    max_rmse: float = 0.2,
    trainer_module: str = os.path.join(HERE, "line_trainer.py"),
) -> Pipeline:
    """The linear_fit pipeline.

    Args:
        root: The pipeline root: artifacts and the store.
        store: A metadata store URL; default: ``<root>/metadata.sqlite``.
        points: Train points (8 by default; 8000000 for the streaming run).
        eval_points: Eval points.
        slope: The line's slope ``a``.
        intercept: The line's intercept ``b``.
        noise: The standard deviation of the noise added to ``y``.
        batch_size: Points per step, at most ``points``.
        train_steps: Steps; default: 500, or one pass when the points need more.
        learning_rate: SGD's learning rate.
        max_rmse: The Evaluator blesses a fit whose rmse is at most this.
        trainer_module: The file with ``trainer_fn``.

    Returns:
        The ``Pipeline``.
    """
    root = resolve_root(root)
    batch_size = min(batch_size, points)
    if train_steps is None:
        train_steps = max(500, math.ceil(points / batch_size))
    gen = generate_line_points(
        points=points,
        eval_points=eval_points,
        slope=slope,
        intercept=intercept,
        noise=noise,
    )
    schema = SchemaGen(schema_file=os.path.join(HERE, "schema.pbtxt"))
    trainer = Trainer(
        module_file=trainer_module,
        examples=gen.outputs["examples"],
        schema=schema.outputs["schema"],
        label_key="y",
        train_steps=train_steps,
        batch_size=batch_size,
        hyperparameters={"learning_rate": learning_rate},
    )
    evaluator = Evaluator(
        examples=gen.outputs["examples"],
        model=trainer.outputs["model"],
        thresholds={"rmse": {"upper_bound": max_rmse}},
    )
    return Pipeline(
        NAME,
        [gen, schema, trainer, evaluator],
        root=root,
        store=store_url(root, store),
    )


if __name__ == "__main__":
    main(create_pipeline)
