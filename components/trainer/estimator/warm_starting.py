"""Warm start: initialize a new model's variables from another model's checkpoint.

It runs once, when ``train`` starts in a model_dir that has no checkpoint yet;
afterwards the model_dir's own checkpoints win. The source is a model_dir (its
newest checkpoint) or a checkpoint prefix written by this Estimator, or a TF1
name-based checkpoint (an old tf.estimator model_dir): names are looked up in this
Estimator's format first, then as plain TF1 names, after
``var_name_to_prev_var_name`` renames.

To fine-tune only part of a warm-started model, freeze the rest in the model_fn:
``train_op=(optimizer, model.get_layer("head").trainable_variables)``.

Example:
    >>> settings = WarmStartSettings("/models/base", vars_to_warm_start="dense/.*")
    >>> settings.vars_to_warm_start
    'dense/.*'
"""

from __future__ import annotations

import difflib
import logging
import re
from typing import Any, NamedTuple

import tensorflow as tf

from components.trainer.estimator import checkpoints
from components.trainer.estimator.errors import (
    CheckpointMismatchError,
    EstimatorSpecError,
)
from components.trainer.estimator.variables import VariableStore

logger = logging.getLogger(__name__)


class WarmStartSettings(NamedTuple):
    """Which checkpoint to warm-start from, which variables, and under which names.

    Args:
        ckpt_to_initialize_from: A model_dir or a checkpoint prefix.
        vars_to_warm_start: A regex (matched from the start of the name) over the
            *trainable* variables; or a list of regexes over all variables
            (optimizer slots and batch-norm statistics included); or None for none.
            Default ``".*"``: every trainable variable.
        var_name_to_vocab_info: Not supported (vocabulary remapping); must be empty.
        var_name_to_prev_var_name: Maps a variable's name in this model to its name
            in the source checkpoint.
    """

    ckpt_to_initialize_from: str
    vars_to_warm_start: Any = ".*"
    var_name_to_vocab_info: dict | None = None
    var_name_to_prev_var_name: dict | None = None


def settings_from(warm_start_from: Any) -> WarmStartSettings | None:
    """Normalizes Estimator(warm_start_from=...): a path or WarmStartSettings."""
    if warm_start_from is None:
        return None
    if isinstance(warm_start_from, WarmStartSettings):
        settings = warm_start_from
    elif isinstance(warm_start_from, str | bytes) or hasattr(
        warm_start_from, "__fspath__"
    ):
        settings = WarmStartSettings(str(warm_start_from))
    else:
        raise EstimatorSpecError(
            "Estimator(warm_start_from=...) must be a path or WarmStartSettings; got "
            f"{type(warm_start_from).__name__}."
        )
    if settings.var_name_to_vocab_info:
        raise EstimatorSpecError(
            "WarmStartSettings(var_name_to_vocab_info=...) (vocabulary remapping) is "
            "not supported; warm-start those variables in the model_fn instead."
        )
    return settings


def _source_checkpoint(path: str) -> str:
    if tf.io.gfile.isdir(path):
        latest = checkpoints.latest_checkpoint(path)
        if latest is None:
            raise CheckpointMismatchError(
                f"WarmStartSettings: {path} holds no checkpoint to warm-start from."
            )
        return latest
    if not tf.io.gfile.exists(path + ".index"):
        raise CheckpointMismatchError(
            f"WarmStartSettings: no checkpoint at {path} (expected a model_dir or a "
            "prefix such as <model_dir>/model.ckpt-100)."
        )
    return path


def _selected(store: VariableStore, vars_to_warm_start) -> list[str]:
    names = [n for n in store.checkpointed() if n != checkpoints.GLOBAL_STEP]
    if vars_to_warm_start is None:
        return []
    if isinstance(vars_to_warm_start, str):
        pattern = re.compile(vars_to_warm_start)
        return [
            n for n in names if store.get(n).trainable and pattern.match(n) is not None
        ]
    patterns = []
    for item in vars_to_warm_start:
        if isinstance(item, str):
            patterns.append(re.compile(item))
        else:
            name = store.name_of(item)
            if name is None:
                raise EstimatorSpecError(
                    f"WarmStartSettings: variable {item!r} is not one of the model's."
                )
            patterns.append(re.compile(re.escape(name) + "$"))
    return [n for n in names if any(p.match(n) for p in patterns)]


def warm_start(store: VariableStore, settings: WarmStartSettings) -> list[str]:
    """Assigns the selected variables from the source checkpoint.

    Returns:
        The names of the variables warm-started.

    Raises:
        CheckpointMismatchError: A selected variable is missing from the source, or
            its shape differs; nothing is assigned then.
    """
    source = _source_checkpoint(settings.ckpt_to_initialize_from)
    reader = tf.train.load_checkpoint(source)
    shapes = reader.get_variable_to_shape_map()
    renames = settings.var_name_to_prev_var_name or {}
    problems, assignments = [], []
    for name in _selected(store, settings.vars_to_warm_start):
        previous = renames.get(name, name)
        key = next(
            (
                k
                for k in (checkpoints.checkpoint_key(previous), previous)
                if k in shapes
            ),
            None,
        )
        variable = store.get(name)
        if key is None:
            known = [checkpoints.name_from_key(k) or k for k in shapes]
            close = difflib.get_close_matches(previous, known, n=1)
            hint = (
                f" (did you mean {close[0]!r}? map it with var_name_to_prev_var_name)"
            )
            problems.append(
                f"  {name}: looked for {previous!r}, not in the checkpoint"
                + (hint if close else "")
            )
        elif shapes[key] != variable.shape.as_list():
            problems.append(
                f"  {name}: shape {variable.shape.as_list()} in the model, "
                f"{shapes[key]} as {previous!r} in the checkpoint"
            )
        else:
            assignments.append((variable, key))
    if problems:
        raise CheckpointMismatchError(
            f"Cannot warm-start from {source}:\n"
            + "\n".join(problems)
            + "\nNarrow vars_to_warm_start or map names with var_name_to_prev_var_name."
        )
    for variable, key in assignments:
        variable.assign(reader.get_tensor(key))
    logger.info("Warm-started %d variables from %s", len(assignments), source)
    return [store.name_of(variable) for variable, _ in assignments]
