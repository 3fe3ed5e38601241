"""User-added metrics: plain functions in a module file.

Every public function defined in the module (its name does not start with ``_`` and
it is not imported from elsewhere) is a metric named after the function::

    import numpy as np

    def share_above_half(labels, predictions, weights):
        '''The weighted share of examples whose class-1 probability is over 0.5.'''
        return float(np.average(predictions[:, 1] > 0.5, weights=weights))

It is called once per model and slice (the overall slice included) with that slice's
whole arrays: ``labels`` ``[n]`` (class ids, or values for regression),
``predictions`` ``[n, classes]`` probabilities (classification) or ``[n]`` values
(regression), and ``weights`` ``[n]`` (ones when the model gives none); it returns a
number (None or NaN: undefined). The arrays of every slice are held in memory until
the end of the evaluation, so this suits evaluation sets of up to a few million
examples.

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "metrics.py"
    >>> _ = path.write_text(
    ...     "from math import sqrt\\n"
    ...     "def _helper(x):\\n    return x\\n"
    ...     "def label_sum(labels, predictions, weights):\\n"
    ...     "    return float(labels.sum())\\n")
    >>> sorted(load_metrics("Evaluator", str(path)))
    ['label_sum']
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from components.transform.user_module import import_user_module
from pipeline import DefinitionError

MetricFn = Callable[[np.ndarray, np.ndarray, np.ndarray], Any]


def load_metrics(
    owner: str, module_file: str, reserved: Sequence[str] = ()
) -> dict[str, MetricFn]:
    """Imports ``module_file`` and returns its metric functions by name.

    The module runs under a private name and is not left in ``sys.modules``; its
    folder is on ``sys.path`` while it is imported, so it may import its neighbours.

    Args:
        owner: Who is asking, for messages.
        module_file: A local path or URL of a Python file.
        reserved: Names a metric may not take (the built-in metrics).

    Raises:
        DefinitionError: The file is missing or fails to import, defines no public
            function, a function cannot take ``(labels, predictions, weights)``, or
            one is named after a reserved name.
    """
    module = import_user_module(
        owner,
        module_file,
        "metric functions def name(labels, predictions, weights)",
        argument="metrics_module",
    )
    found = {
        name: value
        for name, value in vars(module).items()
        if inspect.isfunction(value)
        and not name.startswith("_")
        and value.__module__ == module.__name__
    }
    if not found:
        raise DefinitionError(
            f"{owner}: metrics_module {module.__file__} defines no public function. "
            f"Define each metric as def name(labels, predictions, weights): return "
            f"a number (helpers start with '_')."
        )
    clashes = sorted(set(found) & set(reserved))
    if clashes:
        raise DefinitionError(
            f"{owner}: metrics_module {module.__file__} defines {clashes}, the name "
            f"of a built-in metric; rename the function (e.g. my_{clashes[0]})."
        )
    for name, fn in found.items():
        try:
            inspect.signature(fn).bind(None, None, None)
        except TypeError:
            line = fn.__code__.co_firstlineno
            raise DefinitionError(
                f"{owner}: metrics_module {module.__file__} line {line}: metric "
                f"{name}{inspect.signature(fn)} must take three arguments "
                f"(labels, predictions, weights); rename it to _{name} if it is a "
                f"helper."
            ) from None
    return found


def compute(
    metrics: dict[str, MetricFn],
    labels: np.ndarray,
    predictions: np.ndarray,
    weights: np.ndarray,
    where: str,
) -> dict[str, float]:
    """Every user metric on one slice's arrays; ``where`` names the slice in errors.

    Raises:
        RuntimeError: A metric raised (the original is the ``__cause__``) or
            returned something that is not a number.
    """
    values = {}
    for name, fn in metrics.items():
        try:
            value = fn(labels, predictions, weights)
        except Exception as exc:  # noqa: BLE001 - re-raised with the slice named
            raise RuntimeError(
                f"User metric {name!r} ({fn.__code__.co_filename}) failed on "
                f"{where}: {type(exc).__name__}: {exc}"
            ) from exc
        if value is None:
            value = math.nan
        try:
            values[name] = float(value)
        except (TypeError, ValueError):
            raise RuntimeError(
                f"User metric {name!r} ({fn.__code__.co_filename}) returned "
                f"{type(value).__name__} {value!r} on {where}; return a number "
                f"(None for undefined)."
            ) from None
    return values
