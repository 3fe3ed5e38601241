"""Optimizers for premade estimators: by name, as an object, or as a factory.

A premade estimator is given its optimizer when it is constructed, but the
optimizer's variables (its step counter, learning rate and slots) must be created
inside the model_fn, where the Estimator owns every variable. So the argument is
checked at construction and a fresh Keras 3 optimizer is made inside each model_fn
call:

* a name (``"Adagrad"``, ``"Adam"``, ``"Ftrl"``, ``"RMSProp"``, ``"SGD"``, any case)
  gives that optimizer with the estimator's ``learning_rate``;
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

from components.trainer.estimator.errors import EstimatorSpecError

_BY_NAME = {
    "adagrad": "Adagrad",
    "adam": "Adam",
    "ftrl": "Ftrl",
    "rmsprop": "RMSprop",
    "sgd": "SGD",
}


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
    import keras

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
        cls = getattr(keras.optimizers, _BY_NAME[key])

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
