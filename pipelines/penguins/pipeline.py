"""The penguins pipeline: a three-class DNNClassifier on raw examples, no Transform.

CsvExampleGen (penguins_processed.csv, split 2:1) → StatisticsGen → SchemaGen →
ExampleValidator → Trainer (``penguins_trainer.py``: a ``DNNClassifier`` of
``species``, 0..2, on the raw examples parsed with the schema) → Evaluator (accuracy
overall and per species, against a threshold and the last blessed model) → Pusher
(``<root>/serving/penguins/<version>/``).

Run it with ``python pipelines/penguins/pipeline.py`` or
``mlpipe run pipelines/penguins/pipeline.py``; ``--help`` lists the knobs.
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

NAME = "penguins"


def create_pipeline(
    root: str = default_root(NAME),
    store: str | None = None,
    *,
    data: str | None = None,
    train_steps: int = 1000,
    hidden_units: list[int] | None = None,
    min_accuracy: float = 0.9,
    serving_dir: str | None = None,
    trainer_module: str = os.path.join(HERE, "penguins_trainer.py"),
) -> Pipeline:
    """The penguins pipeline.

    Args:
        root: The pipeline root: artifacts, the store and the serving folder.
        store: A metadata store URL; default: ``<root>/metadata.sqlite``.
        data: The penguins CSV; default: the shared
            ``penguins/penguins_processed.csv``.
        train_steps: Training steps (batches of 32).
        hidden_units: The network's layer sizes; default [8, 8].
        min_accuracy: The Evaluator blesses a model whose accuracy is at least this.
        serving_dir: Where blessed models are pushed; default
            ``<root>/serving/penguins``.
        trainer_module: The file with ``trainer_fn``.

    Returns:
        The ``Pipeline``.
    """
    root = resolve_root(root)
    gen = CsvExampleGen(
        input_base=data or shared_data("penguins", "penguins_processed.csv")
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
        label_key="species",
        train_steps=train_steps,
        batch_size=32,
        hyperparameters={"hidden_units": hidden_units} if hidden_units else None,
    )
    evaluator = Evaluator(
        examples=gen.outputs["examples"],
        model=trainer.outputs["model"],
        slicing_specs=[["species"]],
        thresholds={
            "accuracy": {
                "lower_bound": min_accuracy,
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
