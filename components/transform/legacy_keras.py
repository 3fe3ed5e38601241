"""Importing tensorflow-transform without switching ``tf.keras`` to Keras 2.

``import tensorflow_transform`` sets ``TF_USE_LEGACY_KERAS=1`` and then touches
``tf.keras``; when nothing had touched ``tf.keras`` before, TensorFlow's lazy loader
binds it to Keras 2 (``tf_keras``) for the rest of the process, so a trainer that runs
after Transform in the same process would get Keras 2 from ``tf.keras`` but Keras 3
when run alone. ``import_tensorflow_transform`` binds ``tf.keras`` to Keras 3 first,
which tensorflow-transform supports (it then uses the ``tf_keras`` package for its
own layers), and takes the variable back out of the environment. A user who set
``TF_USE_LEGACY_KERAS`` themselves keeps what they asked for.

Example:
    >>> tft = import_tensorflow_transform()  # doctest: +SKIP
    >>> import tensorflow as tf  # doctest: +SKIP
    >>> tf.keras.version()  # doctest: +SKIP
    '3.15.1'
"""

from __future__ import annotations

import os
import sys
from typing import Any

_VARIABLE = "TF_USE_LEGACY_KERAS"


def import_tensorflow_transform() -> Any:
    """Imports and returns ``tensorflow_transform``, leaving ``tf.keras`` as it was.

    Returns:
        The ``tensorflow_transform`` module.
    """
    if "tensorflow_transform" in sys.modules or _VARIABLE in os.environ:
        import tensorflow_transform

        return tensorflow_transform
    import tensorflow as tf

    # Resolving the lazy tf.keras now binds it to Keras 3 before the import below
    # sets the variable that would make it Keras 2.
    getattr(tf.keras, "version", None)
    try:
        import tensorflow_transform
    finally:
        os.environ.pop(_VARIABLE, None)
    return tensorflow_transform
