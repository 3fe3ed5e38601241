"""Optimizers for premade estimators: by name, as an object, or as a factory.

A premade estimator is given its optimizer when it is constructed, but the
optimizer's variables (its step counter, learning rate and slots) must be created
inside the model_fn, where the Estimator owns every variable. So the argument is
checked at construction and a fresh Keras 3 optimizer is made inside each model_fn
call:

* a name (``"Adagrad"``, ``"Adam"``, ``"Ftrl"``, ``"RMSProp"``, ``"SGD"``, any case)
  gives that optimizer with the estimator's ``learning_rate`` (``"Ftrl"``, the
  linear models' default, gives ``Ftrl`` below: Keras' Ftrl with fused updates);
* a Keras optimizer object is copied from its config (same class and settings,
  fresh state), as tf.estimator did with optimizer instances;
* a callable returning an optimizer is called (``lambda: keras.optimizers.Adam(
  keras.optimizers.schedules.ExponentialDecay(0.1, 1000, 0.9))``).

Example:
    >>> make = optimizer_factory("adagrad", learning_rate=0.05, where="DNNClassifier")
    >>> optimizer = make()
    >>> type(optimizer).__name__, round(float(optimizer.learning_rate), 3)
    ('Adagrad', 0.05)
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf
from tensorflow.python.ops import resource_variable_ops

from components.trainer.estimator.errors import EstimatorSpecError

_BY_NAME = {
    "adagrad": "Adagrad",
    "adam": "Adam",
    "ftrl": "Ftrl",
    "rmsprop": "RMSprop",
    "sgd": "SGD",
}


class Ftrl(keras.optimizers.Ftrl):
    """``keras.optimizers.Ftrl`` updating each variable with one fused op.

    A linear model has a variable per feature column, and Keras' Ftrl builds
    about 35 small ops per variable and step; TensorFlow's ``ResourceApplyFtrlV2``
    and ``ResourceSparseApplyFtrlV2`` kernels (the updates of tf.estimator's Ftrl)
    compute the same update in one, with the learning-rate terms computed once
    per step for all variables. Same arguments, variables and names as Keras'.

    Dense gradients give Keras' values. A sparse gradient (a categorical column's
    rows) updates only its rows, after summing duplicate rows, as tf.estimator's
    Ftrl did: where a batch holds a row twice, the accumulator grows by the square
    of the row's summed gradient (Keras 3 adds the sum of the squares instead), and
    ``l2_shrinkage`` shrinks only the rows in the batch. Under a distribution
    strategy, or for a variable that is not a plain resource variable, the update
    is Keras' own, of the summed rows (with ``l2_shrinkage``, Keras' update also
    shrinks the rows outside the batch).

    Example:
        >>> variable = tf.Variable([1.0, 2.0])
        >>> _ = Ftrl(0.1).apply_gradients([(tf.constant([0.5, -0.5]), variable)])
        >>> [round(float(v), 4) for v in variable]
        [0.381, 1.0155]
    """

    _fused_terms: dict | None = None

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        if tf.distribute.has_strategy():
            return super()._backend_update_step(
                grads, trainable_variables, learning_rate
            )
        self._fused_terms = {}
        try:
            for grad, variable in zip(grads, trainable_variables):
                self.update_step(grad, variable, learning_rate)
        finally:
            self._fused_terms = None

    def _terms(self, learning_rate, dtype) -> dict:
        # The kernels' scalar arguments; one set per dtype and step.
        cache = self._fused_terms if self._fused_terms is not None else {}
        if dtype not in cache:
            lr = tf.cast(learning_rate, dtype)
            # Keras adds beta to the L2 strength as beta / (2 lr).
            l2 = self.l2_regularization_strength + self.beta / (2.0 * lr)
            cache[dtype] = {
                "lr": lr,
                "l1": tf.constant(self.l1_regularization_strength, dtype),
                "l2": tf.cast(l2, dtype),
                "l2_shrinkage": tf.constant(
                    self.l2_shrinkage_regularization_strength, dtype
                ),
                "lr_power": tf.constant(self.learning_rate_power, dtype),
            }
        return cache[dtype]

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        accum = _resource(self._accumulators[index])
        linear = _resource(self._linears[index])
        if (
            tf.distribute.has_strategy()
            or accum is None
            or linear is None
            or _resource(variable) is None
        ):
            if isinstance(gradient, tf.IndexedSlices):
                # The same model under every strategy: duplicate rows summed first.
                rows, summed = _sum_duplicate_rows(
                    gradient, variable.shape[0], gradient.values.dtype
                )
                gradient = tf.IndexedSlices(summed, rows, gradient.dense_shape)
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        handles = {
            "var": variable.handle,
            "accum": accum.handle,
            "linear": linear.handle,
        }
        terms = self._terms(learning_rate, dtype)
        if isinstance(gradient, tf.IndexedSlices):
            rows, summed = _sum_duplicate_rows(gradient, variable.shape[0], dtype)
            tf.raw_ops.ResourceSparseApplyFtrlV2(
                grad=summed, indices=rows, **handles, **terms
            )
            return
        tf.raw_ops.ResourceApplyFtrlV2(
            grad=tf.cast(gradient, dtype), **handles, **terms
        )


# Up to this many rows, duplicate rows are summed through a dense [rows] scratch
# (two segment sums and a where: about 8 us for 512 ids) rather than tf.unique
# (about 13 us); beyond it the scratch would cost more than the hash table.
_DENSE_DEDUPE_ROWS = 4096


def _sum_duplicate_rows(gradient: tf.IndexedSlices, num_rows, dtype):
    """(unique rows, each row's summed gradient) of a sparse gradient."""
    values = tf.cast(gradient.values, dtype)
    indices = gradient.indices
    if num_rows is not None and num_rows <= _DENSE_DEDUPE_ROWS:
        summed = tf.math.unsorted_segment_sum(values, indices, num_rows)
        counts = tf.math.unsorted_segment_sum(
            tf.ones_like(indices, tf.int32), indices, num_rows
        )
        rows = tf.cast(tf.where(counts > 0)[:, 0], indices.dtype)
        return rows, tf.gather(summed, rows)
    rows, positions = tf.unique(indices)
    return rows, tf.math.unsorted_segment_sum(values, positions, tf.size(rows))


def _resource(variable) -> tf.Variable | None:
    """The plain resource variable behind a (Keras) variable, else None."""
    if isinstance(variable, keras.Variable):
        variable = variable.value
    if isinstance(variable, resource_variable_ops.BaseResourceVariable):
        return variable
    return None


def linear_learning_rate(num_feature_columns: int) -> float:
    """tf.estimator's default Ftrl rate for a linear model: min(0.2, 1/sqrt(n))."""
    return min(0.2, 1.0 / math.sqrt(max(num_feature_columns, 1)))


def optimizer_factory(
    optimizer: Any,
    learning_rate: float | None,
    where: str,
    name: str | None = None,
) -> Callable[[], Any]:
    """Checks an optimizer argument now and returns a function making a fresh one.

    Args:
        optimizer: A name, a Keras optimizer, or a callable returning one.
        learning_rate: The rate for an optimizer given by name (ignored otherwise,
            as in tf.estimator).
        where: The estimator and argument, for error messages.
        name: The Keras name to give the optimizer (its variables' prefix); None
            keeps the optimizer's own.

    Returns:
        A no-argument function to call inside the model_fn.

    Raises:
        EstimatorSpecError: An unknown name or an object that is not an optimizer.
    """
    if isinstance(optimizer, str):
        key = optimizer.lower()
        if key not in _BY_NAME:
            close = difflib.get_close_matches(key, list(_BY_NAME), n=1)
            hint = f" Did you mean {_BY_NAME[close[0]]!r}?" if close else ""
            raise EstimatorSpecError(
                f"{where}: unknown optimizer name {optimizer!r}; use one of "
                f"{sorted(_BY_NAME.values())}, a Keras optimizer, or a callable "
                f"returning one.{hint}"
            )
        cls = Ftrl if key == "ftrl" else getattr(keras.optimizers, _BY_NAME[key])

        def by_name():
            kwargs = {} if learning_rate is None else {"learning_rate": learning_rate}
            if name:
                kwargs["name"] = name
            return cls(**kwargs)

        return by_name
    if isinstance(optimizer, keras.optimizers.Optimizer):
        config = optimizer.get_config()
        if name:
            config["name"] = name
        cls = type(optimizer)
        return lambda: cls.from_config(dict(config))
    if _is_legacy_optimizer(optimizer):
        raise EstimatorSpecError(
            f"{where}: {type(optimizer).__name__} is a TF1 / tf_keras optimizer; "
            "premade estimators train with Keras 3 optimizers. Pass a name "
            "('Adagrad', 'Adam', 'Ftrl', 'RMSProp', 'SGD') or keras.optimizers.*."
        )
    if callable(optimizer):

        def from_callable():
            made = optimizer()
            if not isinstance(made, keras.optimizers.Optimizer):
                raise EstimatorSpecError(
                    f"{where}: the optimizer callable returned "
                    f"{type(made).__name__}, not a keras.optimizers.Optimizer."
                )
            return made

        return from_callable
    raise EstimatorSpecError(
        f"{where}: optimizer must be a name ('Adagrad', 'Adam', 'Ftrl', 'RMSProp', "
        "'SGD'), a keras.optimizers.Optimizer, or a callable returning one; got "
        f"{type(optimizer).__name__}."
    )


def _is_legacy_optimizer(value) -> bool:
    module = type(value).__module__
    return hasattr(value, "apply_gradients") and (
        module.startswith("tf_keras") or "tensorflow.python" in module
    )
