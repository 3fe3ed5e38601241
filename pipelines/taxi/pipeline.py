"""The Chicago taxi pipeline: raw trips to a blessed, served big-tipper classifier.

CsvExampleGen (the taxi CSV, split 2:1) → StatisticsGen → SchemaGen →
ExampleValidator → Transform (``taxi_transform.py``: z-scores, vocabularies,
buckets, the label ``big_tipper``) → Trainer (``taxi_trainer.py``: a wide & deep
``DNNLinearCombinedClassifier``) → Evaluator (AUC overall and per
``trip_start_hour``, against a threshold and the last blessed model) → Pusher
(``<root>/serving/taxi/<version>/``).

Run it with ``python pipelines/taxi/pipeline.py`` or
``mlpipe run pipelines/taxi/pipeline.py``; ``--help`` lists the knobs. The store is
an SQLite file in the pipeline root. See docs/pipelines.md.
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

from components import (  # noqa: E402 - after the sys.path fix above
    CsvExampleGen,
    ExampleValidator,
    SchemaGen,
    StatisticsGen,
    Trainer,
    Transform,
)
from components.evaluator import Evaluator  # noqa: E402
from components.pusher import Pusher  # noqa: E402
from pipeline import Channel, Component, Pipeline  # noqa: E402
from pipelines.examples import (  # noqa: E402
    default_root,
    main,
    resolve_root,
    shared_data,
    store_url,
    under_root,
)

NAME = "taxi"
TRANSFORM_MODULE = os.path.join(HERE, "taxi_transform.py")
TRAINER_MODULE = os.path.join(HERE, "taxi_trainer.py")


def create_pipeline(
    root: str = default_root(NAME),
    store: str | None = None,
    *,
    data: str | None = None,
    train_steps: int = 1000,
    eval_steps: int = 150,
    hidden_units: list[int] | None = None,
    min_auc: float = 0.7,
    serving_dir: str | None = None,
    transform_module: str = TRANSFORM_MODULE,
    trainer_module: str = TRAINER_MODULE,
) -> Pipeline:
    """The taxi pipeline.

    Args:
        root: The pipeline root: artifacts, the store and the serving folder.
        store: A metadata store URL; default: ``<root>/metadata.sqlite``.
        data: The taxi CSV; default: the shared ``chicago_taxi/data.csv``.
        train_steps: Training steps (batches of 128).
        eval_steps: Evaluation batches in the Trainer.
        hidden_units: The deep part's layer sizes; default [64, 32, 16].
        min_auc: The Evaluator blesses a model whose AUC is at least this.
        serving_dir: Where blessed models are pushed; default
            ``<root>/serving/taxi``.
        transform_module: The file with ``preprocessing_fn``.
        trainer_module: The file with ``trainer_fn``.

    Returns:
        The ``Pipeline``.
    """
    root = resolve_root(root)
    gen = CsvExampleGen(input_base=data or shared_data("chicago_taxi", "data.csv"))
    return Pipeline(
        NAME,
        [
            gen,
            *taxi_components(
                gen.outputs["examples"],
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


def taxi_components(
    examples: Channel,
    *,
    train_steps: int,
    eval_steps: int,
    hidden_units: list[int] | None,
    min_auc: float,
    serving_dir: str,
    transform_module: str = TRANSFORM_MODULE,
    trainer_module: str = TRAINER_MODULE,
) -> list[Component]:
    """Everything after the ExampleGen: statistics to push, over raw taxi Examples.

    ``pipelines/taxi_filtered`` puts a component of its own between the ExampleGen
    and these.

    Args:
        examples: A channel of raw taxi Examples with ``train`` and ``eval`` splits.
        train_steps, eval_steps, hidden_units, min_auc, serving_dir,
        transform_module, trainer_module: As for ``create_pipeline``.

    Returns:
        StatisticsGen, SchemaGen, ExampleValidator, Transform, Trainer, Evaluator
        and Pusher, wired.
    """
    stats = StatisticsGen(examples=examples)
    # Some features are present in every train row but missing in a few eval rows;
    # without fixed shapes every feature reaches preprocessing_fn as a SparseTensor
    # and fill_in_missing fills the gaps (TFX's taxi example does the same).
    schema = SchemaGen(
        statistics=stats.outputs["statistics"], infer_feature_shape=False
    )
    validator = ExampleValidator(
        statistics=stats.outputs["statistics"], schema=schema.outputs["schema"]
    )
    transform = Transform(
        examples=examples,
        schema=schema.outputs["schema"],
        module_file=transform_module,
    )
    trainer = Trainer(
        module_file=trainer_module,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        label_key="big_tipper",
        raw_label_keys=["tips"],
        train_steps=train_steps,
        eval_steps=eval_steps,
        hyperparameters={"hidden_units": hidden_units} if hidden_units else None,
    )
    # The baseline is the last model this pipeline blessed (the Evaluator looks it up
    # in the store); a new model must be good enough on its own and no worse than it.
    evaluator = Evaluator(
        examples=examples,
        model=trainer.outputs["model"],
        slicing_specs=[["trip_start_hour"]],
        thresholds={
            "auc": {
                "lower_bound": min_auc,
                "change_vs_baseline": {"min_absolute": -0.01},
            }
        },
    )
    pusher = Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=serving_dir,
        examples=examples,
    )
    return [stats, schema, validator, transform, trainer, evaluator, pusher]


if __name__ == "__main__":
    main(create_pipeline)
