"""The model_fn behind every premade estimator: a linear part, a DNN part, or both.

``LinearClassifier`` is this model_fn with only the linear part, ``DNNClassifier``
with only the DNN part, ``DNNLinearCombinedClassifier`` with both (their logits are
summed, and each part is trained by its own optimizer). A head turns the logits
into predictions, a loss, metrics and export signatures.

Variable names follow tf.estimator's:

* linear: ``linear/linear_model/<column name>/weights``,
  ``linear/linear_model/bias_weights``;
* DNN: ``dnn/input_from_feature_columns/<column name>/embedding_weights``,
  ``dnn/hiddenlayer_<i>/kernel`` and ``/bias``, ``dnn/batchnorm_<i>/...``,
  ``dnn/logits/kernel`` and ``/bias``.

Example:
    >>> import functools
    >>> import keras
    >>> from components.trainer.estimator import Estimator, feature_column as fc
    >>> from components.trainer.estimator.canned.heads import RegressionHead
    >>> linear = LinearPart([fc.numeric_column("x")],
    ...                     optimizer=lambda: keras.optimizers.SGD(0.1))
    >>> model_fn = functools.partial(wide_deep_model_fn, head=RegressionHead(),
    ...                              linear=linear)
    >>> def input_fn():
    ...     x = tf.constant([[1.0], [2.0], [3.0], [4.0]])
    ...     return tf.data.Dataset.from_tensor_slices(({"x": x}, 2 * x)).batch(4)
    >>> estimator = Estimator(model_fn).train(lambda: input_fn().repeat(), steps=200)
    >>> round(float(estimator.get_variable_value(
    ...     "linear/linear_model/x/weights")[0, 0]), 1)
    2.0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import tensorflow as tf

from components.trainer.estimator.errors import EstimatorSpecError
from components.trainer.estimator.model_fn import EstimatorSpec, ModeKeys


@dataclasses.dataclass(frozen=True)
class LinearPart:
    """The linear (wide) part: columns, a fresh-optimizer factory, the combiner."""

    feature_columns: Sequence
    optimizer: Callable[[], Any]
    sparse_combiner: str = "sum"


@dataclasses.dataclass(frozen=True)
class DNNPart:
    """The DNN (deep) part: columns, layer sizes and the training options."""

    feature_columns: Sequence
    hidden_units: Sequence[int]
    optimizer: Callable[[], Any]
    activation_fn: Any = "relu"
    dropout: float | None = None
    batch_norm: bool = False


def wide_deep_model_fn(
    features,
    labels,
    mode: str,
    *,
    head,
    linear: LinearPart | None = None,
    dnn: DNNPart | None = None,
) -> EstimatorSpec:
    """Logits from the linear and/or DNN part, turned into a spec by ``head``.

    Args:
        features: The dict of features the input_fn (or serving receiver) gives.
        labels: The labels (None in PREDICT).
        mode: A ``ModeKeys`` value.
        head: A head from ``canned.heads``.
        linear: The linear part, or None.
        dnn: The DNN part, or None.

    Returns:
        The head's ``EstimatorSpec``; in TRAIN its train_op is the one optimizer,
        or one ``(optimizer, var_list)`` pair per part.

    Raises:
        EstimatorSpecError: features is not a dict.
    """
    import keras

    if not isinstance(features, Mapping):
        raise EstimatorSpecError(
            "premade estimators take a dict of features keyed by the feature "
            f"columns' keys; the input_fn gave {type(features).__name__}. Return "
            "({'name': tensor, ...}, labels) from the input_fn."
        )
    training = mode == ModeKeys.TRAIN
    parts = []  # (logits, trainable variables, optimizer factory)
    if linear is not None:
        parts.append(_linear_logits(features, linear, head.logits_dimension))
    if dnn is not None:
        parts.append(_dnn_logits(features, dnn, head.logits_dimension, training))
    logits = parts[0][0] if len(parts) == 1 else keras.ops.add(*(p[0] for p in parts))
    train_op = None
    if training:
        if len(parts) == 1:
            train_op = parts[0][2]()
        else:
            train_op = [(make(), variables) for _, variables, make in parts]
    return head.create_estimator_spec(
        features=features, mode=mode, logits=logits, labels=labels, train_op=train_op
    )


def _linear_logits(features, linear: LinearPart, units: int):
    import keras

    from components.trainer.estimator.feature_column import LinearModel

    with keras.name_scope("linear"):
        layer = LinearModel(
            linear.feature_columns,
            units=units,
            sparse_combiner=linear.sparse_combiner,
            name="linear_model",
        )
        logits = layer(features)
    return logits, layer.trainable_variables, linear.optimizer


def _dnn_logits(features, dnn: DNNPart, units: int, training: bool):
    import keras

    from components.trainer.estimator.feature_column import DenseFeatures

    layers = []
    with keras.name_scope("dnn"):
        inputs = DenseFeatures(dnn.feature_columns, name="input_from_feature_columns")
        layers.append(inputs)
        net = inputs(features, training=training)
        for i, width in enumerate(dnn.hidden_units):
            hidden = keras.layers.Dense(
                width, activation=dnn.activation_fn, name=f"hiddenlayer_{i}"
            )
            layers.append(hidden)
            net = hidden(net)
            if dnn.dropout:
                # tf.nn.dropout, not keras Dropout: no seed-generator variable
                # for the Estimator to create, checkpoint and sync over replicas.
                net = _dropout(net, dnn.dropout, training)
            if dnn.batch_norm:
                norm = keras.layers.BatchNormalization(
                    momentum=0.999, name=f"batchnorm_{i}"
                )
                layers.append(norm)
                net = norm(net, training=training)
        head = keras.layers.Dense(units, name="logits")
        layers.append(head)
        logits = head(net)
    variables = [v for layer in layers for v in layer.trainable_variables]
    return logits, variables, dnn.optimizer


def _dropout(net, rate: float, training: bool):
    if not training:
        return net
    return tf.nn.dropout(net, rate=rate)
