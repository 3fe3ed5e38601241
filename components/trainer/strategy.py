"""The Trainer's distribution strategies, by name or from ``TF_CONFIG``.

Example:
    >>> check_distribution("Trainer 't'", "mirrored")
    'mirrored'
    >>> check_distribution("Trainer 't'", "mirorred")
    Traceback (most recent call last):
    ...
    pipeline.errors.DefinitionError: Trainer 't': distribution 'mirorred' is not one of ['default', 'mirrored', 'multi_worker_mirrored', 'parameter_server', 'tf_config']. Did you mean 'mirrored'?
"""

from __future__ import annotations

import json
import os
from typing import Any

from pipeline import DefinitionError, did_you_mean

DISTRIBUTIONS = (
    "default",
    "mirrored",
    "multi_worker_mirrored",
    "parameter_server",
    "tf_config",
)


def check_distribution(owner: str, name: str) -> str:
    """Returns ``name`` if it names a strategy, else raises ``DefinitionError``."""
    if name not in DISTRIBUTIONS:
        raise DefinitionError(
            f"{owner}: distribution {name!r} is not one of {list(DISTRIBUTIONS)}."
            f"{did_you_mean(name, DISTRIBUTIONS)}"
        )
    return name


def kind_from_tf_config(tf_config: dict[str, Any]) -> str:
    """The strategy a ``TF_CONFIG`` cluster calls for.

    Example:
        >>> kind_from_tf_config({})
        'default'
        >>> kind_from_tf_config({"cluster": {"worker": ["a:1", "b:2"]}})
        'multi_worker_mirrored'
        >>> kind_from_tf_config({"cluster": {"chief": ["a:1"], "worker": ["b:2"],
        ...                                  "ps": ["c:3"]}})
        'parameter_server'
    """
    cluster = tf_config.get("cluster") or {}
    if cluster.get("ps"):
        return "parameter_server"
    if len(cluster.get("worker", [])) + len(cluster.get("chief", [])) > 1:
        return "multi_worker_mirrored"
    return "default"


def make_strategy(owner: str, name: str) -> tuple[Any, str]:
    """The ``tf.distribute.Strategy`` for ``name`` (None for the default one).

    Returns:
        ``(strategy or None, the kind chosen)``; ``tf_config`` becomes the kind its
        cluster calls for.

    Raises:
        DefinitionError: ``parameter_server`` without a ``TF_CONFIG`` cluster that
            has ``ps`` tasks.
    """
    import tensorflow as tf

    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    kind = kind_from_tf_config(tf_config) if name == "tf_config" else name
    if kind == "default":
        return None, kind
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy(), kind
    if kind == "multi_worker_mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy(), kind
    if not (tf_config.get("cluster") or {}).get("ps"):
        raise DefinitionError(
            f"{owner}: distribution 'parameter_server' needs a TF_CONFIG whose "
            f"cluster has 'ps' (and 'worker') tasks; TF_CONFIG is "
            f"{os.environ.get('TF_CONFIG')!r}. Start the workers and parameter "
            f"servers (see docs/trainer.md) and set TF_CONFIG for this task."
        )
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    return tf.distribute.ParameterServerStrategy(resolver), kind
