"""Calling input_fns: their arguments, their datasets, distribution over replicas.

An input_fn returns a ``tf.data.Dataset`` of ``(features, labels)`` or of features
alone. It may take ``mode``, ``params``, ``config`` and ``input_context`` (a
``tf.distribute.InputContext``), detected by signature as tf.estimator did. Under a
strategy it is called once per input pipeline (once per worker) and must batch with
the *per-replica* batch size: each replica takes its own batch, so a step consumes
``num_replicas_in_sync`` batches (tf.estimator's semantics);
``input_context.get_per_replica_batch_size(global_batch_size)`` converts.

Example:
    >>> def input_fn(params):
    ...     return tf.data.Dataset.from_tensors(({"x": [[1.0]]}, [[2.0]]))
    >>> data = make_input(input_fn, "train", tf.distribute.get_strategy(), {"a": 1}, None)
    >>> features, labels = split_element(next(iter(data.dataset)))
    >>> sorted(features), labels.shape.as_list()
    (['x'], [1, 1])
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from components.trainer.estimator.distribution import PerWorkerInput
from components.trainer.estimator.errors import EstimatorSpecError
from components.trainer.estimator.model_fn import ModeKeys

_VALID_INPUT_FN_ARGS = {"mode", "params", "config", "input_context"}


@dataclasses.dataclass
class Input:
    """A dataset ready to iterate, and the structure one replica sees.

    Attributes:
        dataset: A ``tf.data.Dataset`` or a distributed dataset.
        element_spec: The per-replica element spec (for tracing the build).
    """

    dataset: Any
    element_spec: Any


def call_input_fn(
    input_fn: Callable,
    mode: str,
    params: dict,
    config: Any,
    input_context: tf.distribute.InputContext | None,
) -> tf.data.Dataset:
    """Calls input_fn with the arguments it takes and checks it returns a Dataset.

    Raises:
        EstimatorSpecError: input_fn takes unknown arguments or returns no Dataset.
    """
    if not callable(input_fn):
        raise EstimatorSpecError(
            f"input_fn must be callable; got {type(input_fn).__name__}."
        )
    signature = inspect.signature(input_fn)
    names = {
        p.name
        for p in signature.parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and p.default is inspect.Parameter.empty
    }
    where = getattr(input_fn, "__qualname__", None) or repr(input_fn)
    unexpected = sorted(names - _VALID_INPUT_FN_ARGS)
    if unexpected:
        raise EstimatorSpecError(
            f"input_fn {where}{signature} takes unexpected required arguments "
            f"{unexpected}; an input_fn may take {sorted(_VALID_INPUT_FN_ARGS)}. Bind "
            "others with functools.partial or a lambda."
        )
    accepted = {p.name for p in signature.parameters.values()}
    if any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values()):
        accepted |= _VALID_INPUT_FN_ARGS
    values = {
        "mode": mode,
        "params": params,
        "config": config,
        "input_context": input_context,
    }
    kwargs = {name: value for name, value in values.items() if name in accepted}
    dataset = input_fn(**kwargs)
    if not isinstance(dataset, tf.data.Dataset):
        raise EstimatorSpecError(
            f"input_fn {where} must return a tf.data.Dataset of (features, labels) or "
            f"of features; it returned {type(dataset).__name__}. Wrap tensors with "
            "tf.data.Dataset.from_tensor_slices((features, labels)).batch(n)."
        )
    return dataset


def make_input(
    input_fn: Callable,
    mode: str,
    strategy: tf.distribute.Strategy,
    params: dict,
    config: Any,
    coordinator: Any = None,
) -> Input:
    """Builds the (distributed) dataset of one train, evaluate or predict call.

    With a ``ClusterCoordinator`` (ParameterServerStrategy), training input is a
    dataset per worker (``distribution.PerWorkerInput``); evaluation and prediction
    read a dataset on the chief.
    """
    if coordinator is not None:
        if mode == ModeKeys.TRAIN:

            def make_dataset(input_context):
                return call_input_fn(input_fn, mode, params, config, input_context)

            per_worker = PerWorkerInput(coordinator, make_dataset)
            return Input(per_worker, per_worker.element_spec)
        context = tf.distribute.InputContext(1, 0, 1)
        dataset = call_input_fn(input_fn, mode, params, config, context)
        return Input(dataset, dataset.element_spec)
    if not tf.distribute.has_strategy() and strategy is tf.distribute.get_strategy():
        context = tf.distribute.InputContext(1, 0, 1)
        dataset = call_input_fn(input_fn, mode, params, config, context)
        return Input(dataset, dataset.element_spec)
    specs = []

    def dataset_fn(input_context):
        dataset = call_input_fn(input_fn, mode, params, config, input_context)
        specs.append(dataset.element_spec)
        return dataset

    distributed = strategy.distribute_datasets_from_function(dataset_fn)
    return Input(distributed, specs[0])


def split_element(element) -> tuple[Any, Any]:
    """(features, labels) of a dataset element; labels is None for features only."""
    if isinstance(element, tuple | list):
        if len(element) == 2:
            return element[0], element[1]
        if len(element) == 1:
            return element[0], None
        raise EstimatorSpecError(
            f"the input_fn's dataset yields tuples of {len(element)} items; it must "
            "yield (features, labels) or features."
        )
    return element, None


def batch_size(features, labels) -> tf.Tensor:
    """The number of examples in a batch, as a float32 scalar tensor."""
    for value in tf.nest.flatten((labels, features)):
        if isinstance(value, tf.SparseTensor):
            return tf.cast(value.dense_shape[0], tf.float32)
        if isinstance(value, tf.RaggedTensor):
            return tf.cast(value.nrows(), tf.float32)
        if tf.is_tensor(value) and value.shape.rank:
            return tf.cast(tf.shape(value)[0], tf.float32)
    return tf.constant(1.0)
