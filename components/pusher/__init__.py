"""Pusher: a blessed model, smoke-tested, copied to where TF Serving watches.

Each push adds ``<push_destination>/<version>/`` (TF Serving's layout), the next
whole number, and the folder appears whole: the model is copied aside into a hidden
folder, then renamed. Before that the model must pass a smoke test in a fresh
process (``components.pusher.smoke``): it loads, its ``serving_default`` signature
takes serialized tf.Examples, and a few examples give one finite row each. See
docs/pusher.md.

Importing this package is cheap: TensorFlow loads only in the smoke test's process
(and here only for URLs such as gs://).

Example:
    >>> from pipeline import Model, Output, component
    >>> @component
    ... def train_taxi_model(model: Output[Model]): ...
    >>> pusher = Pusher(
    ...     model=train_taxi_model().outputs["model"], push_destination="serving/taxi"
    ... )
    >>> sorted(pusher.outputs), pusher.parameters["smoke_test_examples"]
    (['pushed_model'], 8)
"""

from components.pusher.component import Pusher, next_version, push_saved_model
from components.pusher.smoke import SmokeTestError, smoke_test

__all__ = ["Pusher", "SmokeTestError", "next_version", "push_saved_model", "smoke_test"]
