"""The iris pipeline: a DNNClassifier with checkpoints on a schedule of its own.

CsvExampleGen (the input's own splits: iris_training.csv as ``train``,
iris_test.csv as ``eval``) → StatisticsGen → SchemaGen → Trainer
(``iris_trainer.py``: a ``DNNClassifier`` of ``Type``, a checkpoint every
``checkpoint_steps`` steps, the newest ``keep_checkpoints`` kept in the model_dir,
an evaluation after each) → Evaluator (accuracy) → Pusher
(``<root>/serving/iris/<version>/``).

Run it with ``python pipelines/iris/pipeline.py`` or
``mlpipe run pipelines/iris/pipeline.py``; ``--help`` lists the knobs.
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

NAME = "iris"


def create_pipeline(
    root: str = default_root(NAME),
    store: str | None = None,
    *,
    data: str | None = None,
    train_steps: int = 1000,
    checkpoint_steps: int = 200,
    keep_checkpoints: int = 3,
    min_accuracy: float = 0.9,
    serving_dir: str | None = None,
    trainer_module: str = os.path.join(HERE, "iris_trainer.py"),
) -> Pipeline:
    """The iris pipeline.

    Args:
        root: The pipeline root: artifacts, the store and the serving folder.
        store: A metadata store URL; default: ``<root>/metadata.sqlite``.
        data: A folder with ``iris_training.csv`` and ``iris_test.csv``; default:
            the shared ``iris`` folder.
        train_steps: Training steps (batches of 32).
        checkpoint_steps: A checkpoint (and an evaluation) every this many steps.
        keep_checkpoints: How many of the newest checkpoints the model_dir keeps.
        min_accuracy: The Evaluator blesses a model whose accuracy is at least this.
        serving_dir: Where blessed models are pushed; default
            ``<root>/serving/iris``.
        trainer_module: The file with ``trainer_fn``.

    Returns:
        The ``Pipeline``.
    """
    root = resolve_root(root)
    gen = CsvExampleGen(
        input_base=data or shared_data("iris"),
        input_splits={"train": "iris_training.csv", "eval": "iris_test.csv"},
    )
    stats = StatisticsGen(examples=gen.outputs["examples"])
    schema = SchemaGen(statistics=stats.outputs["statistics"])
    trainer = Trainer(
        module_file=trainer_module,
        examples=gen.outputs["examples"],
        schema=schema.outputs["schema"],
        label_key="Type",
        train_steps=train_steps,
        batch_size=32,
        custom_config={
            "save_checkpoints_steps": checkpoint_steps,
            "keep_checkpoint_max": keep_checkpoints,
        },
    )
    evaluator = Evaluator(
        examples=gen.outputs["examples"],
        model=trainer.outputs["model"],
        thresholds={"accuracy": {"lower_bound": min_accuracy}},
    )
    pusher = Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=serving_dir or under_root(root, "serving", NAME),
        examples=gen.outputs["examples"],
    )
    return Pipeline(
        NAME,
        [gen, stats, schema, trainer, evaluator, pusher],
        root=root,
        store=store_url(root, store),
    )


if __name__ == "__main__":
    main(create_pipeline)
