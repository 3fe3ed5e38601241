"""Hooks into the Estimator's loops: tf.estimator's method names, TF2 semantics.

There is no session: a *run* is one call of the traced training loop (``RunConfig.
steps_per_loop`` steps, 1 by default) or one evaluation or prediction batch. A hook
cannot fetch arbitrary graph tensors; ``after_run`` receives the loop's results::

    run_values.results == {"loss": float, "global_step": int}

Methods, all optional:

* ``begin()`` — before the first run; the model's variables exist and hold the
  checkpoint the call started from.
* ``after_create_session(session, coord)`` — right after ``begin``; both are None.
* ``before_run(run_context)`` — before each run; the return value is ignored.
* ``after_run(run_context, run_values)`` — after each run; call
  ``run_context.request_stop()`` to end the loop after this run.
* ``end(session)`` — after the last run (session is None).

``CheckpointSaverListener`` keeps its tf.estimator shape; ``after_save`` returning
True stops training.

Example:
    >>> hook = StopAtStepHook(last_step=10)
    >>> hook.begin()
    >>> context = SessionRunContext()
    >>> hook.after_run(context, SessionRunValues({"loss": 0.5, "global_step": 10}))
    >>> context.stop_requested
    True
"""

from __future__ import annotations

import dataclasses
from typing import Any

from components.trainer.estimator.errors import EstimatorSpecError


class SessionRunContext:
    """What a hook sees of a run; ``request_stop()`` ends the loop after it."""

    def __init__(self):
        self.stop_requested = False
        self.original_args = None
        self.session = None

    def request_stop(self) -> None:
        """Asks the loop to stop after the current run."""
        self.stop_requested = True


@dataclasses.dataclass
class SessionRunValues:
    """The results of a run: ``{"loss": float, "global_step": int}``."""

    results: dict[str, Any]
    options: Any = None
    run_metadata: Any = None


class SessionRunHook:
    """Base class of Estimator hooks; override the methods you need."""

    def begin(self) -> None:
        """Called before the first run."""

    def after_create_session(self, session, coord) -> None:
        """Called after ``begin``, with None for both (no sessions in TF2)."""

    def before_run(self, run_context: SessionRunContext) -> None:
        """Called before each run."""

    def after_run(
        self, run_context: SessionRunContext, run_values: SessionRunValues
    ) -> None:
        """Called after each run with its results."""

    def end(self, session) -> None:
        """Called after the last run (session is None)."""


class StopAtStepHook(SessionRunHook):
    """Stops training after ``num_steps`` more steps or at ``last_step``.

    Args:
        num_steps: Steps to run from the step training started at.
        last_step: The global step to stop at.

    Raises:
        EstimatorSpecError: Both or neither given.
    """

    def __init__(self, num_steps: int | None = None, last_step: int | None = None):
        if (num_steps is None) == (last_step is None):
            raise EstimatorSpecError(
                "StopAtStepHook: give exactly one of num_steps and last_step."
            )
        self._num_steps = num_steps
        self._last_step = last_step

    def after_run(self, run_context, run_values):
        step = run_values.results["global_step"]
        if self._last_step is None:
            self._last_step = (
                step - run_values.results.get("steps", 1) + self._num_steps
            )
        if step >= self._last_step:
            run_context.request_stop()


class CheckpointSaverListener:
    """Called around each checkpoint save during ``train``; tf.estimator's shape."""

    def begin(self) -> None:
        """Called before training starts."""

    def before_save(self, session, global_step_value: int) -> None:
        """Called before each save (session is None)."""

    def after_save(self, session, global_step_value: int) -> bool | None:
        """Called after each save; return True to stop training."""

    def end(self, session, global_step_value: int) -> None:
        """Called after the last save."""
