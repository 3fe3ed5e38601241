"""The taxi pipeline with a component of your own in the middle.

CsvExampleGen → drop_fare_outliers (a function component defined below: it reads
the Examples shards, keeps the trips whose fare is within [min_fare, max_fare] and
writes them as Examples again) → the rest of the taxi pipeline, unchanged
(``pipelines.taxi.pipeline.taxi_components``: statistics, schema, validation,
Transform, Trainer, Evaluator and Pusher, all on the kept trips).

The component is a plain decorated function: its signature is its spec, and its
source is part of the cache key, so editing it runs it (and what follows) again.

Run it with ``python pipelines/taxi_filtered/pipeline.py`` or
``mlpipe run pipelines/taxi_filtered/pipeline.py``; ``--help`` lists the knobs.
"""

from __future__ import annotations

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

from components import CsvExampleGen  # noqa: E402 - after the sys.path fix above
from pipeline import (  # noqa: E402
    Examples,
    ExecutionContext,
    Input,
    Output,
    Pipeline,
    component,
)
from pipelines.examples import (  # noqa: E402
    default_root,
    main,
    resolve_root,
    shared_data,
    store_url,
    under_root,
)
from pipelines.taxi.pipeline import (  # noqa: E402
    TRAINER_MODULE,
    TRANSFORM_MODULE,
    taxi_components,
)

NAME = "taxi_filtered"


@component
def drop_fare_outliers(
    examples: Input[Examples],
    kept: Output[Examples],
    context: ExecutionContext,
    min_fare: float = 3.25,
    max_fare: float = 100.0,
    column: str = "fare",
):
    """Copies the examples whose ``column`` is within [min_fare, max_fare].

    Each split's gzip TFRecord shards are read in batches of serialized
    tf.Examples; only ``column`` is parsed, and the records kept are written as they
    are to shards of the same names. An example without the feature is dropped.

    Returns:
        ``{"kept": {split: n}, "dropped": {split: n}}``.
    """
    import tensorflow as tf

    spec = {column: tf.io.FixedLenFeature([], tf.float32, default_value=float("nan"))}
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    counts = {"kept": {}, "dropped": {}}
    for split in examples.split_names:
        tf.io.gfile.makedirs(kept.split_uri(split))
        counts["kept"][split] = counts["dropped"][split] = 0
        for path in sorted(
            tf.io.gfile.glob(f"{examples.split_uri(split)}/data-*.tfrecord.gz")
        ):
            target = f"{kept.split_uri(split)}/{os.path.basename(path)}"
            with tf.io.TFRecordWriter(target, options) as writer:
                for batch in tf.data.TFRecordDataset(path, "GZIP").batch(4096):
                    values = tf.io.parse_example(batch, spec)[column]
                    keep = ((values >= min_fare) & (values <= max_fare)).numpy()
                    for record in batch.numpy()[keep]:
                        writer.write(record)
                    counts["kept"][split] += int(keep.sum())
                    counts["dropped"][split] += int((~keep).sum())
    context.log.info("Kept %s, dropped %s", counts["kept"], counts["dropped"])
    kept.split_names = list(examples.split_names)
    kept.row_counts = counts["kept"]
    return counts


def create_pipeline(
    root: str = default_root(NAME),
    store: str | None = None,
    *,
    data: str | None = None,
    min_fare: float = 3.25,
    max_fare: float = 100.0,
    train_steps: int = 1000,
    eval_steps: int = 150,
    hidden_units: list[int] | None = None,
    min_auc: float = 0.7,
    serving_dir: str | None = None,
    transform_module: str = TRANSFORM_MODULE,
    trainer_module: str = TRAINER_MODULE,
) -> Pipeline:
    """The taxi pipeline on the trips whose fare is within [min_fare, max_fare].

    Args:
        root: The pipeline root: artifacts, the store and the serving folder.
        store: A metadata store URL; default: ``<root>/metadata.sqlite``.
        data: The taxi CSV; default: the shared ``chicago_taxi/data.csv``.
        min_fare: Trips with a lower fare are dropped (3.25 is Chicago's flag-drop
            fare: anything less is a data error).
        max_fare: Trips with a higher fare are dropped.
        train_steps: Training steps (batches of 128).
        eval_steps: Evaluation batches in the Trainer.
        hidden_units: The deep part's layer sizes; default [64, 32, 16].
        min_auc: The Evaluator blesses a model whose AUC is at least this.
        serving_dir: Where blessed models are pushed; default
            ``<root>/serving/taxi_filtered``.
        transform_module: The file with ``preprocessing_fn`` (the taxi pipeline's).
        trainer_module: The file with ``trainer_fn`` (the taxi pipeline's).

    Returns:
        The ``Pipeline``.
    """
    root = resolve_root(root)
    gen = CsvExampleGen(input_base=data or shared_data("chicago_taxi", "data.csv"))
    cleaned = drop_fare_outliers(
        examples=gen.outputs["examples"], min_fare=min_fare, max_fare=max_fare
    )
    return Pipeline(
        NAME,
        [
            gen,
            cleaned,
            *taxi_components(
                cleaned.outputs["kept"],
                train_steps=train_steps,
                eval_steps=eval_steps,
                hidden_units=hidden_units,
                min_auc=min_auc,
                serving_dir=serving_dir or under_root(root, "serving", NAME),
                transform_module=transform_module,
                trainer_module=trainer_module,
            ),
        ],
        root=root,
        store=store_url(root, store),
    )


if __name__ == "__main__":
    main(create_pipeline)
