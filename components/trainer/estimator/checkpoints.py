"""Object-based checkpoints of the variable store, their names, and the save schedule.

A checkpoint is ``tf.train.Checkpoint(variables={name: variable, ...})`` written by a
``tf.train.CheckpointManager`` as ``<model_dir>/model.ckpt-<global step>``, so it
reads back outside the Estimator with the same structure::

    values = {name: tf.Variable(tf.zeros(shape, dtype)) for ...}
    tf.train.Checkpoint(variables=values).read(path).assert_existing_objects_matched()

and ``tf.train.load_checkpoint(path).get_tensor(checkpoint_key(name))`` reads one.

Example:
    >>> checkpoint_key("sequential/dense/kernel")
    'variables/sequential.Sdense.Skernel/.ATTRIBUTES/VARIABLE_VALUE'
    >>> name_from_key(checkpoint_key("a.b/c"))
    'a.b/c'
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf
from tensorflow.python.checkpoint import checkpoint_management

from components.trainer.estimator.errors import CheckpointMismatchError, EstimatorError
from components.trainer.estimator.variables import VariableStore

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "model.ckpt"
GLOBAL_STEP = "global_step"
_PREFIX = "variables/"
_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"


def checkpoint_key(name: str) -> str:
    """The key of variable ``name`` in a checkpoint file."""
    escaped = name.replace(".", "..").replace("/", ".S")
    return f"{_PREFIX}{escaped}{_SUFFIX}"


def name_from_key(key: str) -> str | None:
    """The variable name behind a checkpoint key, or None for other entries."""
    if not (key.startswith(_PREFIX) and key.endswith(_SUFFIX)):
        return None
    escaped = key[len(_PREFIX) : -len(_SUFFIX)]
    out, i = [], 0
    while i < len(escaped):
        if escaped[i] == "." and i + 1 < len(escaped):
            out.append("/" if escaped[i + 1] == "S" else escaped[i + 1])
            i += 2
        else:
            out.append(escaped[i])
            i += 1
    return "".join(out)


def latest_checkpoint(model_dir: str) -> str | None:
    """The newest checkpoint in ``model_dir``, or None."""
    return tf.train.latest_checkpoint(model_dir)


def variable_shapes(checkpoint_path: str) -> dict[str, list[int]]:
    """Maps each variable name in a checkpoint to its shape."""
    reader = tf.train.load_checkpoint(checkpoint_path)
    shapes = {}
    for key, shape in reader.get_variable_to_shape_map().items():
        name = name_from_key(key)
        if name is not None:
            shapes[name] = shape
    return shapes


def read_value(checkpoint_path: str, name: str) -> np.ndarray:
    """The value of variable ``name`` in a checkpoint.

    Raises:
        KeyError: The checkpoint has no such variable (the message lists close names).
    """
    reader = tf.train.load_checkpoint(checkpoint_path)
    key = checkpoint_key(name)
    if not reader.has_tensor(key):
        import difflib

        close = difflib.get_close_matches(
            name, sorted(variable_shapes(checkpoint_path))
        )
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"checkpoint {checkpoint_path} has no variable {name!r}{hint}")
    return reader.get_tensor(key)


def checkpoint_step(checkpoint_path: str) -> int:
    """The global step a checkpoint was saved at (0 when it has none)."""
    reader = tf.train.load_checkpoint(checkpoint_path)
    key = checkpoint_key(GLOBAL_STEP)
    return int(reader.get_tensor(key)) if reader.has_tensor(key) else 0


def restore(
    store: VariableStore,
    checkpoint_path: str,
    *,
    names: list[str] | None = None,
    strict_extras: bool = False,
) -> None:
    """Assigns the store's variables from a checkpoint, after checking they all fit.

    Nothing is assigned unless every variable fits: a partial restore never happens.
    A variable that is trainable or was created by a TRAIN build must be in the
    checkpoint; others (variables of evaluation-only code) keep their initial values
    with a warning.

    Args:
        store: The variables to restore.
        checkpoint_path: A checkpoint prefix, e.g. ``<model_dir>/model.ckpt-100``.
        names: Restore only these variables (default: all checkpointed ones).
        strict_extras: Also fail when the checkpoint has variables the store lacks
            (used after a TRAIN build, where the store holds the whole model).

    Raises:
        CheckpointMismatchError: A shape or dtype differs, or a variable is missing,
            naming each variable, both shapes, the checkpoint and the fix.
    """
    reader = tf.train.load_checkpoint(checkpoint_path)
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
    wanted = store.checkpointed(names)
    problems, assignments = [], []
    for name, variable in wanted.items():
        key = checkpoint_key(name)
        model_shape = variable.shape.as_list()
        if key not in shapes:
            if variable.trainable or store.created_in.get(name) in ("train", ""):
                problems.append(
                    f"  {name}: shape {model_shape} in the model, missing from the "
                    "checkpoint"
                )
            else:
                logger.warning(
                    "Variable %s is not in checkpoint %s; it keeps its initial value.",
                    name,
                    checkpoint_path,
                )
            continue
        if shapes[key] != model_shape:
            problems.append(
                f"  {name}: shape {model_shape} in the model, {shapes[key]} in the "
                "checkpoint"
            )
            continue
        if dtypes[key] != variable.dtype.base_dtype:
            problems.append(
                f"  {name}: dtype {variable.dtype.base_dtype.name} in the model, "
                f"{dtypes[key].name} in the checkpoint"
            )
            continue
        assignments.append((variable, key))
    if strict_extras:
        known = {checkpoint_key(name) for name in store.checkpointed()}
        for key in sorted(shapes):
            name = name_from_key(key)
            if name is not None and key not in known:
                problems.append(
                    f"  {name}: shape {shapes[key]} in the checkpoint, not created by "
                    "the model"
                )
    if problems:
        model_dir = checkpoint_path.rsplit("/", 1)[0]
        raise CheckpointMismatchError(
            f"The model built by model_fn does not fit checkpoint {checkpoint_path}:\n"
            + "\n".join(problems)
            + f"\nmodel_dir {model_dir} holds checkpoints of a different model. Use a "
            "new model_dir for this model (or warm-start it from this one with "
            "WarmStartSettings, which maps and skips variables)."
        )
    for variable, key in assignments:
        variable.assign(reader.get_tensor(key))


class CheckpointSaver:
    """Writes checkpoints of a store into model_dir and keeps the newest ones.

    The files and the ``checkpoint`` state file are ``tf.train.CheckpointManager``'s
    (relative paths, timestamps, ``keep_checkpoint_every_n_hours``), so
    ``tf.train.latest_checkpoint`` and a later CheckpointManager read them. Without
    a distribution strategy the write is one traced function (every variable read
    and the save in one call): an ``Estimator.train`` call ends with a save, and the
    eager write, reading the variables one by one, cost 10-15 ms of it.

    Args:
        store: The variables to save (its checkpointed ones, re-read at every save).
        model_dir: Where to write.
        max_to_keep: Checkpoints to keep; 0 or None keeps all.
        keep_checkpoint_every_n_hours: Also keep one per this many hours.
    """

    def __init__(
        self,
        store: VariableStore,
        model_dir: str,
        max_to_keep: int | None = 5,
        keep_checkpoint_every_n_hours: float | None = None,
    ):
        self._store = store
        self._model_dir = model_dir
        self._max_to_keep = max_to_keep or None
        self._every_n_hours = keep_checkpoint_every_n_hours
        self._names: tuple[str, ...] = ()
        self._write: Callable[[str], None] | None = None
        # (path, time written) of the checkpoints kept, oldest first; read from
        # the state file at the first save, as CheckpointManager does.
        self._kept: list[tuple[str, float]] | None = None
        self._last_preserved = time.time()

    def save(self, step: int) -> str:
        """Writes ``model.ckpt-<step>`` and returns its path."""
        variables = self._store.checkpointed()
        if self._write is None or tuple(variables) != self._names:
            self._names = tuple(variables)
            self._write = _writer(
                tf.train.Checkpoint(variables=dict(variables)), self._store.strategy
            )
        if self._kept is None:
            self._kept = self._recover()
        path = path_for_step(self._model_dir, step)
        tf.io.gfile.makedirs(self._model_dir)
        self._write(path)
        self._kept = [(p, t) for p, t in self._kept if p != path]
        self._kept.append((path, time.time()))
        self._sweep()
        checkpoint_management.update_checkpoint_state_internal(
            save_dir=self._model_dir,
            model_checkpoint_path=path,
            all_model_checkpoint_paths=[p for p, _ in self._kept],
            all_model_checkpoint_timestamps=[t for _, t in self._kept],
            last_preserved_timestamp=self._last_preserved,
            save_relative_paths=True,
        )
        logger.info("Saved checkpoint for step %s: %s", step, path)
        return path

    def _recover(self) -> list[tuple[str, float]]:
        state = tf.train.get_checkpoint_state(self._model_dir)
        if state is None:
            return []
        if state.last_preserved_timestamp:
            self._last_preserved = state.last_preserved_timestamp
        paths = [
            p if os.path.isabs(p) else os.path.join(self._model_dir, p)
            for p in state.all_model_checkpoint_paths
        ]
        stamps = list(state.all_model_checkpoint_timestamps)
        if len(stamps) != len(paths):
            stamps = [self._last_preserved] * len(paths)
        return list(zip(paths, stamps))

    def _sweep(self) -> None:
        # CheckpointManager's rule: drop the oldest beyond max_to_keep, but keep
        # (and forget) one every keep_checkpoint_every_n_hours.
        if self._max_to_keep is None:
            return
        while len(self._kept) > self._max_to_keep:
            path, stamp = self._kept.pop(0)
            if (
                self._every_n_hours is not None
                and stamp - self._last_preserved >= self._every_n_hours * 3600
            ):
                self._last_preserved = stamp
                continue
            for name in tf.io.gfile.glob(glob.escape(path) + ".*"):
                tf.io.gfile.remove(name)


def _writer(checkpoint: tf.train.Checkpoint, strategy) -> Callable[[str], None]:
    """``checkpoint.write(path)``, traced once when there is no strategy."""
    if strategy is not tf.distribute.get_strategy() or tf.distribute.has_strategy():
        # Under a strategy, workers may have to read variables together; the
        # eager write is the one every worker runs the same way.
        return lambda path: checkpoint.write(path)
    write = tf.function(lambda prefix: checkpoint.write(prefix), autograph=False)
    return lambda path: write(tf.constant(path))


def path_for_step(model_dir: str, step: int) -> str:
    """The path ``CheckpointSaver`` gives the checkpoint of ``step`` in model_dir."""
    return os.path.join(model_dir, f"{CHECKPOINT_NAME}-{step}")


def write_and_discard(store: VariableStore, step: int) -> None:
    """Writes a checkpoint to a temporary directory and deletes it (non-chief workers).

    Under MultiWorkerMirroredStrategy every worker must take part in each save
    (reading a variable may be a collective operation); only the chief's copy is
    kept.
    """
    directory = tempfile.mkdtemp(prefix=f"estimator-worker-ckpt-{step}-")
    try:
        tf.train.Checkpoint(variables=store.checkpointed()).write(
            os.path.join(directory, CHECKPOINT_NAME)
        )
        logger.info(
            "Wrote the step %s checkpoint to %s (not the chief: deleted)",
            step,
            directory,
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def wait_for_checkpoint(
    model_dir: str, step: int, timeout_secs: float, poll_secs: float = 0.05
) -> str:
    """Waits until the chief's checkpoint of ``step`` can be read; returns its path.

    Raises:
        EstimatorError: It did not appear within ``timeout_secs``.
    """
    path = path_for_step(model_dir, step)
    deadline = time.monotonic() + timeout_secs
    logged = False
    while True:
        latest = latest_checkpoint(model_dir)
        if latest is not None and os.path.basename(latest) == os.path.basename(path):
            return latest
        if tf.io.gfile.exists(path + ".index"):
            return path
        if time.monotonic() > deadline:
            raise EstimatorError(
                f"Waited {timeout_secs:.0f} s for the chief's checkpoint {path}, which "
                "did not appear. Every worker needs model_dir on storage they all see "
                "(RunConfig(session_creation_timeout_secs=...) sets the wait)."
            )
        if not logged:
            logger.info("Waiting for the chief's checkpoint %s", path)
            logged = True
        time.sleep(poll_secs)


class SaveSchedule:
    """When to save: every N seconds or every N steps (RunConfig semantics).

    Args:
        secs: Save when this many seconds passed since the last save.
        steps: Save when the global step is this many past the last save.
    """

    def __init__(self, secs: float | None, steps: int | None):
        self.secs = secs or None
        self.steps = steps or None
        self._last_time = time.monotonic()
        self._last_step: int | None = None

    def saved(self, step: int) -> None:
        """Records a save at ``step`` now."""
        self._last_time = time.monotonic()
        self._last_step = step

    def due(self, step: int) -> bool:
        """Whether a save is due at ``step``."""
        if step == self._last_step:
            return False
        if self.steps is not None:
            return self._last_step is None or step >= self._last_step + self.steps
        if self.secs is not None:
            return time.monotonic() - self._last_time >= self.secs
        return False

    def steps_until_due(self, step: int) -> int | None:
        """Steps until the next step-based save (None for time-based schedules)."""
        if self.steps is None or self._last_step is None:
            return None
        return max(1, self._last_step + self.steps - step)
