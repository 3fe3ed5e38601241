"""TrainSpec, EvalSpec and train_and_evaluate: train, evaluating as checkpoints land.

Locally (one process, as TFX's Trainer runs it) ``train_and_evaluate`` trains to
``TrainSpec.max_steps`` and, after each checkpoint save, evaluates the model being
trained *in place* — the same variables, no reload from disk — when
``EvalSpec.throttle_secs`` have passed since the last evaluation; then evaluates
the final checkpoint. Each evaluation runs the exporters. To evaluate every K
steps: ``RunConfig(save_checkpoints_steps=K)`` and ``EvalSpec(throttle_secs=0)``.

Example:
    >>> TrainSpec(input_fn=lambda: None, max_steps=10).max_steps
    10
    >>> EvalSpec(input_fn=lambda: None).steps
    100
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from components.trainer.estimator import checkpoints
from components.trainer.estimator.errors import EstimatorSpecError
from components.trainer.estimator.exporters import Exporter
from components.trainer.estimator.model_fn import ModeKeys

logger = logging.getLogger(__name__)


class TrainSpec(NamedTuple):
    """What ``train_and_evaluate`` trains on and for how long.

    Args:
        input_fn: The training input_fn.
        max_steps: The global step to stop at; None trains until input ends.
        hooks: ``SessionRunHook``s for training.
        saving_listeners: ``CheckpointSaverListener``s.
    """

    input_fn: Callable
    max_steps: int | None = None
    hooks: Sequence = ()
    saving_listeners: Sequence = ()


class EvalSpec(NamedTuple):
    """What ``train_and_evaluate`` evaluates on, how often, and what it exports.

    Args:
        input_fn: The evaluation input_fn.
        steps: Batches per evaluation; None evaluates the whole dataset once.
        name: Names the evaluation (summaries go to ``eval_<name>``).
        hooks: ``SessionRunHook``s for evaluation.
        exporters: An ``Exporter`` or a list of them, run after each evaluation.
        start_delay_secs: Ignored in a local run (as in tf.estimator).
        throttle_secs: Evaluate a new checkpoint only if this many seconds passed
            since the last evaluation.
    """

    input_fn: Callable
    steps: int | None = 100
    name: str | None = None
    hooks: Sequence = ()
    exporters: Any = ()
    start_delay_secs: float = 120
    throttle_secs: float = 600


def _exporters(eval_spec: EvalSpec) -> list[Exporter]:
    exporters = eval_spec.exporters
    if exporters is None:
        return []
    if isinstance(exporters, Exporter):
        exporters = [exporters]
    exporters = list(exporters)
    names = [e.name for e in exporters]
    for exporter in exporters:
        if not isinstance(exporter, Exporter):
            raise EstimatorSpecError(
                f"EvalSpec(exporters=...) must hold Exporters; got {exporter!r}."
            )
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise EstimatorSpecError(
            f"EvalSpec(exporters=...) has several exporters named {duplicates}; "
            "exporter names must be unique."
        )
    return exporters


class _Evaluator:
    def __init__(self, estimator, eval_spec: EvalSpec):
        self.estimator = estimator
        self.spec = eval_spec
        self.exporters = _exporters(eval_spec)
        self.last_time: float | None = None
        self.last_step: int | None = None
        self.result: dict | None = None
        self.export_results: list = []

    def maybe_evaluate(
        self, checkpoint_path: str, step: int, start_step: int, max_steps: int | None
    ) -> bool:
        if step <= start_step:
            return False
        final = max_steps is not None and step >= max_steps
        throttle = self.spec.throttle_secs or 0
        due = (
            final
            or self.last_time is None
            or time.monotonic() - self.last_time >= throttle
        )
        # On a multi-worker cluster every worker evaluates, when the chief's clock
        # says so.
        if self.estimator._agree_with_chief(int(due)):
            self.evaluate(checkpoint_path, final=final)
        return False

    def evaluate(self, checkpoint_path: str, final: bool) -> None:
        self.last_time = time.monotonic()
        self.result = self.estimator.evaluate(
            self.spec.input_fn,
            steps=self.spec.steps,
            hooks=list(self.spec.hooks),
            checkpoint_path=checkpoint_path,
            name=self.spec.name,
        )
        self.last_step = self.result["global_step"]
        self.export_results = []
        if not self.estimator._writes_outputs(self.estimator._runtime(ModeKeys.TRAIN)):
            return
        for exporter in self.exporters:
            path = os.path.join(self.estimator.model_dir, "export", exporter.name)
            self.export_results.append(
                exporter.export(
                    self.estimator, path, checkpoint_path, self.result, final
                )
            )


def train_and_evaluate(estimator, train_spec: TrainSpec, eval_spec: EvalSpec):
    """Trains ``estimator`` and evaluates it as checkpoints are saved, then at the end.

    Args:
        estimator: An ``Estimator``.
        train_spec: A ``TrainSpec``.
        eval_spec: An ``EvalSpec``.

    Returns:
        ``(eval_result, export_results)`` of the final evaluation.

    Raises:
        EstimatorSpecError: The specs are of the wrong types.
    """
    if not isinstance(train_spec, TrainSpec):
        raise EstimatorSpecError(
            f"train_and_evaluate: train_spec must be a TrainSpec; got {train_spec!r}."
        )
    if not isinstance(eval_spec, EvalSpec):
        raise EstimatorSpecError(
            f"train_and_evaluate: eval_spec must be an EvalSpec; got {eval_spec!r}."
        )
    if train_spec.max_steps is not None and train_spec.max_steps <= 0:
        raise EstimatorSpecError(
            f"TrainSpec(max_steps={train_spec.max_steps}): must be > 0 or None."
        )
    evaluator = _Evaluator(estimator, eval_spec)
    latest = estimator._latest_for(ModeKeys.TRAIN)
    start_step = checkpoints.checkpoint_step(latest) if latest else 0
    if train_spec.max_steps is None or start_step < train_spec.max_steps:
        estimator._train(
            train_spec.input_fn,
            list(train_spec.hooks),
            None,
            train_spec.max_steps,
            list(train_spec.saving_listeners),
            latest,
            on_save=lambda path, step: evaluator.maybe_evaluate(
                path, step, start_step, train_spec.max_steps
            ),
        )
    final = estimator._latest_for(ModeKeys.TRAIN)
    if evaluator.last_step != checkpoints.checkpoint_step(final):
        evaluator.evaluate(final, final=True)
    return evaluator.result, evaluator.export_results
