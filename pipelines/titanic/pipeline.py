"""The titanic pipeline: a LinearClassifier with feature columns on raw examples.

CsvExampleGen (titanic/train.csv without PassengerId and Name, split 2:1) →
StatisticsGen → SchemaGen → ExampleValidator → Trainer (``titanic_trainer.py``: a
``LinearClassifier`` of ``Survived`` with numeric, bucketized, vocabulary, hashed and
crossed columns; no Transform) → Evaluator (accuracy and AUC overall, per sex and
per class) → Pusher (``<root>/serving/titanic/<version>/``).

Run it with ``python pipelines/titanic/pipeline.py`` or
``mlpipe run pipelines/titanic/pipeline.py``; ``--help`` lists the knobs.
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
)
from components.evaluator import Evaluator  # noqa: E402
from components.pusher import Pusher  # noqa: E402
from pipeline import Pipeline  # noqa: E402
from pipelines.examples import (  # noqa: E402
    default_root,
    main,
    resolve_root,
    shared_data,
    store_url,
    under_root,
)

NAME = "titanic"


def create_pipeline(
    root: str = default_root(NAME),
    store: str | None = None,
    *,
    data: str | None = None,
    train_steps: int = 1000,
    learning_rate: float = 0.05,
    min_auc: float = 0.8,
    serving_dir: str | None = None,
    trainer_module: str = os.path.join(HERE, "titanic_trainer.py"),
) -> Pipeline:
    """The titanic pipeline.

    Args:
        root: The pipeline root: artifacts, the store and the serving folder.
        store: A metadata store URL; default: ``<root>/metadata.sqlite``.
        data: The passengers CSV (Kaggle's layout); default: the shared
            ``titanic/train.csv``.
        train_steps: Training steps (batches of 32).
        learning_rate: The Ftrl optimizer's learning rate.
        min_auc: The Evaluator blesses a model whose AUC is at least this.
        serving_dir: Where blessed models are pushed; default
            ``<root>/serving/titanic``.
        trainer_module: The file with ``trainer_fn``.

    Returns:
        The ``Pipeline``.
    """
    root = resolve_root(root)
    gen = CsvExampleGen(
        input_base=data or shared_data("titanic", "train.csv"),
        skip_columns=["PassengerId", "Name"],
        column_types={"Ticket": "string", "Cabin": "string"},
    )
    stats = StatisticsGen(examples=gen.outputs["examples"])
    schema = SchemaGen(statistics=stats.outputs["statistics"])
    validator = ExampleValidator(
        statistics=stats.outputs["statistics"], schema=schema.outputs["schema"]
    )
    trainer = Trainer(
        module_file=trainer_module,
        examples=gen.outputs["examples"],
        schema=schema.outputs["schema"],
        label_key="Survived",
        train_steps=train_steps,
        batch_size=32,
        hyperparameters={"learning_rate": learning_rate},
    )
    evaluator = Evaluator(
        examples=gen.outputs["examples"],
        model=trainer.outputs["model"],
        slicing_specs=[["Sex"], ["Pclass"]],
        thresholds={
            "auc": {
                "lower_bound": min_auc,
                "change_vs_baseline": {"min_absolute": -0.02},
            }
        },
    )
    pusher = Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=serving_dir or under_root(root, "serving", NAME),
        examples=gen.outputs["examples"],
    )
    return Pipeline(
        NAME,
        [gen, stats, schema, validator, trainer, evaluator, pusher],
        root=root,
        store=store_url(root, store),
    )


if __name__ == "__main__":
    main(create_pipeline)
