"""RunConfig: where the model lives, how often it is saved, how it is distributed.

The argument names and defaults are tf.estimator's. Arguments with no TF2 meaning
(``session_config``, ``device_fn``, ``protocol``, ``experimental_*``,
``checkpoint_save_graph_def``) are accepted and ignored, so that configs move
unchanged. ``TF_CONFIG`` is read for the task (``task_type``, ``task_id``,
``is_chief``) as tf.estimator read it; the strategy reads it for the cluster. One addition: ``steps_per_loop``, the
number of training steps run inside one ``tf.function`` call (like Keras'
``steps_per_execution``).

Example:
    >>> config = RunConfig(save_checkpoints_steps=50, keep_checkpoint_max=2)
    >>> config.save_checkpoints_steps, config.save_checkpoints_secs
    (50, None)
    >>> RunConfig().save_checkpoints_secs
    600
    >>> config.replace(tf_random_seed=7).tf_random_seed
    7
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from components.trainer.estimator.errors import EstimatorSpecError

_USE_DEFAULT = object()
_DEFAULT_CHECKPOINT_SECS = 600

_FIELDS = (
    "model_dir",
    "tf_random_seed",
    "save_summary_steps",
    "save_checkpoints_steps",
    "save_checkpoints_secs",
    "session_config",
    "keep_checkpoint_max",
    "keep_checkpoint_every_n_hours",
    "log_step_count_steps",
    "train_distribute",
    "device_fn",
    "protocol",
    "eval_distribute",
    "experimental_distribute",
    "experimental_max_worker_delay_secs",
    "session_creation_timeout_secs",
    "checkpoint_save_graph_def",
    "steps_per_loop",
)


class RunConfig:
    """How an Estimator runs: model_dir, checkpoint and summary schedule, strategies.

    Args:
        model_dir: Where checkpoints and event files go; the Estimator's
            ``model_dir`` argument wins when both are given and equal.
        tf_random_seed: Seeds TensorFlow, Keras, NumPy and Python's ``random``
            before the model's variables are created, for repeatable runs.
        save_summary_steps: Write the loss (and the model_fn's ``tf.summary``
            calls) every this many steps.
        save_checkpoints_steps: Save a checkpoint every this many steps.
        save_checkpoints_secs: Save a checkpoint every this many seconds; the
            default is 600 when neither this nor ``save_checkpoints_steps`` is given.
            Checkpoints are also saved when ``train`` starts and ends.
        keep_checkpoint_max: How many newest checkpoints to keep; 0 or None keeps all.
        keep_checkpoint_every_n_hours: Also keep one checkpoint per this many hours.
        log_step_count_steps: Log the loss and write ``global_step/sec`` every this
            many steps.
        train_distribute: A ``tf.distribute.Strategy`` for training (and, unless
            ``eval_distribute`` is given, evaluation and prediction).
        eval_distribute: A ``tf.distribute.Strategy`` for evaluation and prediction.
        steps_per_loop: Training steps per ``tf.function`` call (hooks, logs,
            checkpoints and the NaN check run between calls).
        session_config: Ignored (TF1 sessions).
        device_fn: Ignored.
        protocol: Ignored.
        experimental_distribute: Ignored.
        experimental_max_worker_delay_secs: Ignored.
        session_creation_timeout_secs: How long a non-chief worker of a
            MultiWorkerMirroredStrategy cluster waits for the chief's checkpoint
            to become readable before it fails (tf.estimator's wait for a session).
        checkpoint_save_graph_def: Ignored (object-based checkpoints hold no graph).

    Raises:
        EstimatorSpecError: Both checkpoint schedules, or a non-positive count, given.
    """

    def __init__(
        self,
        model_dir: str | None = None,
        tf_random_seed: int | None = None,
        save_summary_steps: int = 100,
        save_checkpoints_steps: Any = _USE_DEFAULT,
        save_checkpoints_secs: Any = _USE_DEFAULT,
        session_config: Any = None,
        keep_checkpoint_max: int | None = 5,
        keep_checkpoint_every_n_hours: float = 10000,
        log_step_count_steps: int = 100,
        train_distribute: Any = None,
        device_fn: Any = None,
        protocol: Any = None,
        eval_distribute: Any = None,
        experimental_distribute: Any = None,
        experimental_max_worker_delay_secs: Any = None,
        session_creation_timeout_secs: int = 7200,
        checkpoint_save_graph_def: bool = True,
        steps_per_loop: int = 1,
    ):
        steps_given = save_checkpoints_steps is not _USE_DEFAULT
        secs_given = save_checkpoints_secs is not _USE_DEFAULT
        if steps_given and secs_given:
            if save_checkpoints_steps is not None and save_checkpoints_secs is not None:
                raise EstimatorSpecError(
                    "RunConfig: give save_checkpoints_steps or save_checkpoints_secs, "
                    f"not both (got {save_checkpoints_steps} and "
                    f"{save_checkpoints_secs})."
                )
        if not steps_given and not secs_given:
            save_checkpoints_steps, save_checkpoints_secs = (
                None,
                _DEFAULT_CHECKPOINT_SECS,
            )
        elif steps_given and not secs_given:
            save_checkpoints_secs = None
        elif secs_given and not steps_given:
            save_checkpoints_steps = None
        for name, value in (
            ("save_checkpoints_steps", save_checkpoints_steps),
            ("save_checkpoints_secs", save_checkpoints_secs),
            ("save_summary_steps", save_summary_steps),
            ("log_step_count_steps", log_step_count_steps),
        ):
            if value is not None and value < 0:
                raise EstimatorSpecError(
                    f"RunConfig({name}={value}): must be positive, or 0/None to turn "
                    "it off."
                )
        if not isinstance(steps_per_loop, int) or steps_per_loop < 1:
            raise EstimatorSpecError(
                f"RunConfig(steps_per_loop={steps_per_loop!r}): must be an int >= 1."
            )
        self._model_dir = os.fspath(model_dir) if model_dir else None
        self._tf_random_seed = tf_random_seed
        self._save_summary_steps = save_summary_steps
        self._save_checkpoints_steps = save_checkpoints_steps
        self._save_checkpoints_secs = save_checkpoints_secs
        self._session_config = session_config
        self._keep_checkpoint_max = keep_checkpoint_max
        self._keep_checkpoint_every_n_hours = keep_checkpoint_every_n_hours
        self._log_step_count_steps = log_step_count_steps
        self._train_distribute = train_distribute
        self._device_fn = device_fn
        self._protocol = protocol
        self._eval_distribute = eval_distribute
        self._experimental_distribute = experimental_distribute
        self._experimental_max_worker_delay_secs = experimental_max_worker_delay_secs
        self._session_creation_timeout_secs = session_creation_timeout_secs
        self._checkpoint_save_graph_def = checkpoint_save_graph_def
        self._steps_per_loop = steps_per_loop
        self._init_cluster()

    def _init_cluster(self):
        tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
        cluster = tf_config.get("cluster") or {}
        task = tf_config.get("task") or {}
        self._cluster_spec = cluster
        self._task_type = task.get("type", "worker")
        self._task_id = int(task.get("index", 0))
        if "chief" in cluster:
            self._is_chief = self._task_type == "chief"
        else:
            self._is_chief = self._task_type == "worker" and self._task_id == 0
        self._num_worker_replicas = (
            len(cluster.get("worker", [])) + len(cluster.get("chief", [])) or 1
        )
        self._num_ps_replicas = len(cluster.get("ps", []))

    def replace(self, **kwargs) -> RunConfig:
        """Returns a copy with the given arguments changed.

        Raises:
            EstimatorSpecError: An argument RunConfig does not have.
        """
        unknown = sorted(set(kwargs) - set(_FIELDS))
        if unknown:
            raise EstimatorSpecError(
                f"RunConfig.replace() got unknown arguments {unknown}; RunConfig has "
                f"{list(_FIELDS)}."
            )
        values = {name: getattr(self, "_" + name) for name in _FIELDS}
        if kwargs.get("save_checkpoints_steps") is not None:
            values["save_checkpoints_secs"] = None
        if kwargs.get("save_checkpoints_secs") is not None:
            values["save_checkpoints_steps"] = None
        values.update(kwargs)
        return RunConfig(**values)

    def __deepcopy__(self, memo):
        # Strategies cannot be deep-copied; a RunConfig is immutable anyway.
        return copy.copy(self)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, '_' + name)!r}" for name in _FIELDS)
        return f"RunConfig({shown})"

    model_dir = property(lambda self: self._model_dir)
    tf_random_seed = property(lambda self: self._tf_random_seed)
    save_summary_steps = property(lambda self: self._save_summary_steps)
    save_checkpoints_steps = property(lambda self: self._save_checkpoints_steps)
    save_checkpoints_secs = property(lambda self: self._save_checkpoints_secs)
    session_config = property(lambda self: self._session_config)
    keep_checkpoint_max = property(lambda self: self._keep_checkpoint_max)
    keep_checkpoint_every_n_hours = property(
        lambda self: self._keep_checkpoint_every_n_hours
    )
    log_step_count_steps = property(lambda self: self._log_step_count_steps)
    train_distribute = property(lambda self: self._train_distribute)
    eval_distribute = property(lambda self: self._eval_distribute)
    device_fn = property(lambda self: self._device_fn)
    protocol = property(lambda self: self._protocol)
    experimental_distribute = property(lambda self: self._experimental_distribute)
    experimental_max_worker_delay_secs = property(
        lambda self: self._experimental_max_worker_delay_secs
    )
    session_creation_timeout_secs = property(
        lambda self: self._session_creation_timeout_secs
    )
    checkpoint_save_graph_def = property(lambda self: self._checkpoint_save_graph_def)
    steps_per_loop = property(lambda self: self._steps_per_loop)
    cluster_spec = property(lambda self: self._cluster_spec)
    task_type = property(lambda self: self._task_type)
    task_id = property(lambda self: self._task_id)
    is_chief = property(lambda self: self._is_chief)
    num_worker_replicas = property(lambda self: self._num_worker_replicas)
    num_ps_replicas = property(lambda self: self._num_ps_replicas)
    master = property(lambda self: "")
    evaluation_master = property(lambda self: "")
    global_id_in_cluster = property(lambda self: 0 if self._is_chief else None)
