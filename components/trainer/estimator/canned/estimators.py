"""Premade estimators: linear, DNN and wide & deep, as classifiers and regressors.

Their arguments and defaults are tf.estimator's; each is an ``Estimator`` whose
model_fn is ``wide_deep_model_fn`` with one or both parts, so everything an
Estimator does (``train``, ``evaluate``, ``predict``, ``export_saved_model``,
``train_and_evaluate``, every distribution strategy) works the same. Beyond
tf.estimator: ``learning_rate`` (and ``linear_learning_rate`` /
``dnn_learning_rate``) set the rate of an optimizer given by name.

Example:
    >>> import tensorflow as tf
    >>> from components.trainer.estimator import feature_column as fc
    >>> def input_fn():
    ...     x = tf.constant([[-2.0], [-1.0], [1.0], [2.0]])
    ...     y = tf.constant([[0], [0], [1], [1]])
    ...     return tf.data.Dataset.from_tensor_slices(({"x": x}, y)).batch(4)
    >>> classifier = LinearClassifier([fc.numeric_column("x")], optimizer="SGD",
    ...                               learning_rate=0.5)
    >>> classifier = classifier.train(lambda: input_fn().repeat(), steps=50)
    >>> float(classifier.evaluate(input_fn)["accuracy"])
    1.0
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from components.trainer.estimator.canned import heads
from components.trainer.estimator.canned.optimizers import (
    linear_learning_rate,
    optimizer_factory,
)
from components.trainer.estimator.canned.wide_deep import (
    DNNPart,
    LinearPart,
    wide_deep_model_fn,
)
from components.trainer.estimator.errors import EstimatorSpecError
from components.trainer.estimator.estimator import Estimator

_DNN_LEARNING_RATE = 0.05
_SUM_OVER_BATCH_SIZE = "sum_over_batch_size"
_COMBINERS = ("sum", "mean", "sqrtn")


def _classifier_head(
    n_classes, weight_column, label_vocabulary, loss_reduction, where: str
):
    if not isinstance(n_classes, int) or isinstance(n_classes, bool) or n_classes < 2:
        raise EstimatorSpecError(
            f"{where}(n_classes={n_classes!r}): n_classes must be an int >= 2 "
            "(2 for a binary classifier)."
        )
    if n_classes == 2:
        return heads.BinaryClassHead(
            weight_column=weight_column,
            label_vocabulary=label_vocabulary,
            loss_reduction=loss_reduction,
        )
    return heads.MultiClassHead(
        n_classes,
        weight_column=weight_column,
        label_vocabulary=label_vocabulary,
        loss_reduction=loss_reduction,
    )


def _regression_head(label_dimension, weight_column, loss_reduction):
    return heads.RegressionHead(
        label_dimension=label_dimension,
        weight_column=weight_column,
        loss_reduction=loss_reduction,
    )


def _columns(columns, where: str, argument: str) -> tuple:
    """The feature columns as a tuple, checked now rather than at the first call."""
    from components.trainer.estimator.feature_column import as_feature_columns

    if columns is None or isinstance(columns, (str, bytes)):
        raise EstimatorSpecError(
            f"{where}({argument}=...) must be a list of feature columns; got "
            f"{columns!r}."
        )
    if not isinstance(columns, (list, tuple, set, frozenset)):
        columns = [columns]
    columns = list(columns)
    if not columns:
        raise EstimatorSpecError(
            f"{where}({argument}=[]) needs at least one feature column."
        )
    try:
        return tuple(as_feature_columns(columns))
    except EstimatorSpecError as error:
        raise EstimatorSpecError(f"{where}({argument}=...): {error}") from None


def _dense_only(columns: tuple, where: str, argument: str) -> tuple:
    from components.trainer.estimator.feature_column import DenseColumn

    for column in columns:
        if not isinstance(column, DenseColumn):
            raise EstimatorSpecError(
                f"{where}({argument}=...): column {column.name!r} is categorical; a "
                "DNN reads dense values: wrap it in indicator_column(...) or "
                "embedding_column(..., dimension)."
            )
    return columns


def _hidden_units(hidden_units, where: str, argument: str) -> tuple[int, ...]:
    if (
        not isinstance(hidden_units, Sequence)
        or isinstance(hidden_units, str)
        or not hidden_units
        or not all(
            isinstance(u, int) and not isinstance(u, bool) and u > 0
            for u in hidden_units
        )
    ):
        raise EstimatorSpecError(
            f"{where}({argument}={hidden_units!r}) must be a non-empty list of "
            "positive ints, the width of each hidden layer, e.g. [64, 32]."
        )
    return tuple(hidden_units)


def _dropout(dropout, where: str, argument: str) -> float | None:
    if dropout is None:
        return None
    if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise EstimatorSpecError(
            f"{where}({argument}={dropout!r}) must be None or a probability in "
            "[0, 1): the fraction of units dropped in training."
        )
    return float(dropout) or None


def _combiner(combiner, where: str, argument: str) -> str:
    if combiner not in _COMBINERS:
        raise EstimatorSpecError(
            f"{where}({argument}={combiner!r}) must be one of {list(_COMBINERS)}."
        )
    return combiner


def _linear_part(columns, optimizer, learning_rate, combiner, where, prefix=""):
    columns = _columns(columns, where, f"{prefix}feature_columns")
    rate = (
        linear_learning_rate(len(columns)) if learning_rate is None else learning_rate
    )
    return LinearPart(
        feature_columns=columns,
        optimizer=optimizer_factory(
            optimizer,
            rate,
            f"{where}({prefix}optimizer=...)",
            name="linear_optimizer" if prefix else None,
        ),
        sparse_combiner=_combiner(combiner, where, f"{prefix}sparse_combiner"),
    )


def _dnn_part(
    columns,
    hidden_units,
    optimizer,
    learning_rate,
    activation_fn,
    dropout,
    batch_norm,
    where,
    prefix="",
):
    return DNNPart(
        feature_columns=_dense_only(
            _columns(columns, where, f"{prefix}feature_columns"),
            where,
            f"{prefix}feature_columns",
        ),
        hidden_units=_hidden_units(hidden_units, where, f"{prefix}hidden_units"),
        optimizer=optimizer_factory(
            optimizer,
            _DNN_LEARNING_RATE if learning_rate is None else learning_rate,
            f"{where}({prefix}optimizer=...)",
            name="dnn_optimizer" if prefix else None,
        ),
        activation_fn=activation_fn or "relu",
        dropout=_dropout(dropout, where, f"{prefix}dropout"),
        batch_norm=bool(batch_norm),
    )


class _Premade(Estimator):
    """An Estimator whose model_fn is wide_deep_model_fn with a head and parts."""

    def __init__(
        self,
        head,
        linear: LinearPart | None,
        dnn: DNNPart | None,
        model_dir,
        config,
        warm_start_from,
    ):
        self._head = head
        model_fn = functools.partial(
            wide_deep_model_fn, head=head, linear=linear, dnn=dnn
        )
        super().__init__(
            model_fn,
            model_dir=model_dir,
            config=config,
            warm_start_from=warm_start_from,
        )

    head = property(lambda self: self._head, doc="The head (loss, metrics, outputs).")


# ---------------------------------------------------------------- linear


class LinearEstimator(_Premade):
    """A linear model with any head.

    Args:
        head: A head from ``canned.heads`` (``BinaryClassHead`` ...).
        feature_columns: The columns the model reads: numeric, bucketized,
            categorical (used directly), crossed, weighted; tf.feature_column
            objects work as they are.
        model_dir: Where checkpoints go.
        optimizer: A name, a Keras optimizer or a callable returning one; default
            Ftrl at min(0.2, 1/sqrt(number of columns)).
        config: A ``RunConfig``.
        sparse_combiner: How a row's several categories combine: "sum", "mean",
            "sqrtn".
        warm_start_from: See ``Estimator``.
        learning_rate: The rate of an optimizer given by name.
    """

    def __init__(
        self,
        head,
        feature_columns,
        model_dir=None,
        optimizer: Any = "Ftrl",
        config=None,
        sparse_combiner: str = "sum",
        warm_start_from=None,
        learning_rate: float | None = None,
    ):
        where = type(self).__name__
        linear = _linear_part(
            feature_columns, optimizer, learning_rate, sparse_combiner, where
        )
        super().__init__(head, linear, None, model_dir, config, warm_start_from)


class LinearClassifier(_Premade):
    """A linear classifier (logistic regression for 2 classes, softmax for more).

    Args:
        feature_columns: See ``LinearEstimator``.
        model_dir: Where checkpoints go.
        n_classes: Number of label classes (2: binary).
        weight_column: A feature key (or numeric_column) holding example weights.
        label_vocabulary: The string labels, in class-id order (None: integer
            labels 0..n_classes-1).
        optimizer: See ``LinearEstimator``.
        config: A ``RunConfig``.
        warm_start_from: See ``Estimator``.
        loss_reduction: "sum_over_batch_size" (default) or "sum".
        sparse_combiner: "sum", "mean" or "sqrtn".
        learning_rate: The rate of an optimizer given by name.
    """

    def __init__(
        self,
        feature_columns,
        model_dir=None,
        n_classes: int = 2,
        weight_column=None,
        label_vocabulary=None,
        optimizer: Any = "Ftrl",
        config=None,
        warm_start_from=None,
        loss_reduction: str = _SUM_OVER_BATCH_SIZE,
        sparse_combiner: str = "sum",
        learning_rate: float | None = None,
    ):
        where = type(self).__name__
        head = _classifier_head(
            n_classes, weight_column, label_vocabulary, loss_reduction, where
        )
        linear = _linear_part(
            feature_columns, optimizer, learning_rate, sparse_combiner, where
        )
        super().__init__(head, linear, None, model_dir, config, warm_start_from)


class LinearRegressor(_Premade):
    """A linear regressor (mean squared error).

    Args:
        feature_columns: See ``LinearEstimator``.
        model_dir: Where checkpoints go.
        label_dimension: Values per label.
        weight_column: A feature key (or numeric_column) holding example weights.
        optimizer: See ``LinearEstimator``.
        config: A ``RunConfig``.
        warm_start_from: See ``Estimator``.
        loss_reduction: "sum_over_batch_size" (default) or "sum".
        sparse_combiner: "sum", "mean" or "sqrtn".
        learning_rate: The rate of an optimizer given by name.
    """

    def __init__(
        self,
        feature_columns,
        model_dir=None,
        label_dimension: int = 1,
        weight_column=None,
        optimizer: Any = "Ftrl",
        config=None,
        warm_start_from=None,
        loss_reduction: str = _SUM_OVER_BATCH_SIZE,
        sparse_combiner: str = "sum",
        learning_rate: float | None = None,
    ):
        where = type(self).__name__
        head = _regression_head(label_dimension, weight_column, loss_reduction)
        linear = _linear_part(
            feature_columns, optimizer, learning_rate, sparse_combiner, where
        )
        super().__init__(head, linear, None, model_dir, config, warm_start_from)


# ---------------------------------------------------------------- DNN


class DNNEstimator(_Premade):
    """A feed-forward network with any head.

    Args:
        head: A head from ``canned.heads``.
        hidden_units: Widths of the hidden layers, e.g. ``[64, 32]``.
        feature_columns: Dense columns: numeric, bucketized, indicator, embedding
            (a categorical column must be wrapped in one of the last two).
        model_dir: Where checkpoints go.
        optimizer: A name, a Keras optimizer or a callable returning one; default
            Adagrad at 0.05.
        activation_fn: The hidden layers' activation (default relu).
        dropout: The probability of dropping a unit in training (None: none).
        config: A ``RunConfig``.
        warm_start_from: See ``Estimator``.
        batch_norm: Batch-normalize after each hidden layer.
        learning_rate: The rate of an optimizer given by name.
    """

    def __init__(
        self,
        head,
        hidden_units,
        feature_columns,
        model_dir=None,
        optimizer: Any = "Adagrad",
        activation_fn=None,
        dropout: float | None = None,
        config=None,
        warm_start_from=None,
        batch_norm: bool = False,
        learning_rate: float | None = None,
    ):
        where = type(self).__name__
        dnn = _dnn_part(
            feature_columns,
            hidden_units,
            optimizer,
            learning_rate,
            activation_fn,
            dropout,
            batch_norm,
            where,
        )
        super().__init__(head, None, dnn, model_dir, config, warm_start_from)


class DNNClassifier(_Premade):
    """A feed-forward classifier.

    Args:
        hidden_units: Widths of the hidden layers, e.g. ``[64, 32]``.
        feature_columns: See ``DNNEstimator``.
        model_dir: Where checkpoints go.
        n_classes: Number of label classes (2: binary).
        weight_column: A feature key (or numeric_column) holding example weights.
        label_vocabulary: The string labels, in class-id order.
        optimizer: See ``DNNEstimator``.
        activation_fn: The hidden layers' activation (default relu).
        dropout: The probability of dropping a unit in training (None: none).
        config: A ``RunConfig``.
        warm_start_from: See ``Estimator``.
        loss_reduction: "sum_over_batch_size" (default) or "sum".
        batch_norm: Batch-normalize after each hidden layer.
        learning_rate: The rate of an optimizer given by name.
    """

    def __init__(
        self,
        hidden_units,
        feature_columns,
        model_dir=None,
        n_classes: int = 2,
        weight_column=None,
        label_vocabulary=None,
        optimizer: Any = "Adagrad",
        activation_fn=None,
        dropout: float | None = None,
        config=None,
        warm_start_from=None,
        loss_reduction: str = _SUM_OVER_BATCH_SIZE,
        batch_norm: bool = False,
        learning_rate: float | None = None,
    ):
        where = type(self).__name__
        head = _classifier_head(
            n_classes, weight_column, label_vocabulary, loss_reduction, where
        )
        dnn = _dnn_part(
            feature_columns,
            hidden_units,
            optimizer,
            learning_rate,
            activation_fn,
            dropout,
            batch_norm,
            where,
        )
        super().__init__(head, None, dnn, model_dir, config, warm_start_from)


class DNNRegressor(_Premade):
    """A feed-forward regressor (mean squared error).

    Args:
        hidden_units: Widths of the hidden layers, e.g. ``[64, 32]``.
        feature_columns: See ``DNNEstimator``.
        model_dir: Where checkpoints go.
        label_dimension: Values per label.
        weight_column: A feature key (or numeric_column) holding example weights.
        optimizer: See ``DNNEstimator``.
        activation_fn: The hidden layers' activation (default relu).
        dropout: The probability of dropping a unit in training (None: none).
        config: A ``RunConfig``.
        warm_start_from: See ``Estimator``.
        loss_reduction: "sum_over_batch_size" (default) or "sum".
        batch_norm: Batch-normalize after each hidden layer.
        learning_rate: The rate of an optimizer given by name.
    """

    def __init__(
        self,
        hidden_units,
        feature_columns,
        model_dir=None,
        label_dimension: int = 1,
        weight_column=None,
        optimizer: Any = "Adagrad",
        activation_fn=None,
        dropout: float | None = None,
        config=None,
        warm_start_from=None,
        loss_reduction: str = _SUM_OVER_BATCH_SIZE,
        batch_norm: bool = False,
        learning_rate: float | None = None,
    ):
        where = type(self).__name__
        head = _regression_head(label_dimension, weight_column, loss_reduction)
        dnn = _dnn_part(
            feature_columns,
            hidden_units,
            optimizer,
            learning_rate,
            activation_fn,
            dropout,
            batch_norm,
            where,
        )
        super().__init__(head, None, dnn, model_dir, config, warm_start_from)


# ---------------------------------------------------------------- wide & deep


def _combined_parts(
    where,
    linear_feature_columns,
    linear_optimizer,
    linear_learning_rate_,
    linear_sparse_combiner,
    dnn_feature_columns,
    dnn_optimizer,
    dnn_learning_rate,
    dnn_hidden_units,
    dnn_activation_fn,
    dnn_dropout,
    batch_norm,
):
    if not linear_feature_columns and not dnn_feature_columns:
        raise EstimatorSpecError(
            f"{where}: give linear_feature_columns, dnn_feature_columns or both; "
            "both are empty."
        )
    linear = dnn = None
    if linear_feature_columns:
        linear = _linear_part(
            linear_feature_columns,
            linear_optimizer,
            linear_learning_rate_,
            linear_sparse_combiner,
            where,
            prefix="linear_",
        )
    if dnn_feature_columns:
        if dnn_hidden_units is None:
            raise EstimatorSpecError(
                f"{where}: dnn_feature_columns were given without dnn_hidden_units; "
                "pass the hidden layers' widths, e.g. dnn_hidden_units=[64, 32]."
            )
        dnn = _dnn_part(
            dnn_feature_columns,
            dnn_hidden_units,
            dnn_optimizer,
            dnn_learning_rate,
            dnn_activation_fn,
            dnn_dropout,
            batch_norm,
            where,
            prefix="dnn_",
        )
    return linear, dnn


class DNNLinearCombinedEstimator(_Premade):
    """Wide & deep with any head: a linear and a DNN part, each with its optimizer.

    Args:
        head: A head from ``canned.heads``.
        model_dir: Where checkpoints go.
        linear_feature_columns: Columns of the linear (wide) part.
        linear_optimizer: Its optimizer (default Ftrl).
        dnn_feature_columns: Columns of the DNN (deep) part.
        dnn_optimizer: Its optimizer (default Adagrad at 0.05).
        dnn_hidden_units: Widths of the hidden layers.
        dnn_activation_fn: The hidden layers' activation (default relu).
        dnn_dropout: The probability of dropping a unit in training.
        config: A ``RunConfig``.
        batch_norm: Batch-normalize after each hidden layer.
        linear_sparse_combiner: "sum", "mean" or "sqrtn".
        warm_start_from: See ``Estimator``.
        linear_learning_rate: The rate of a linear optimizer given by name.
        dnn_learning_rate: The rate of a DNN optimizer given by name.
    """

    def __init__(
        self,
        head,
        model_dir=None,
        linear_feature_columns=None,
        linear_optimizer: Any = "Ftrl",
        dnn_feature_columns=None,
        dnn_optimizer: Any = "Adagrad",
        dnn_hidden_units=None,
        dnn_activation_fn=None,
        dnn_dropout: float | None = None,
        config=None,
        batch_norm: bool = False,
        linear_sparse_combiner: str = "sum",
        warm_start_from=None,
        linear_learning_rate: float | None = None,
        dnn_learning_rate: float | None = None,
    ):
        linear, dnn = _combined_parts(
            type(self).__name__,
            linear_feature_columns,
            linear_optimizer,
            linear_learning_rate,
            linear_sparse_combiner,
            dnn_feature_columns,
            dnn_optimizer,
            dnn_learning_rate,
            dnn_hidden_units,
            dnn_activation_fn,
            dnn_dropout,
            batch_norm,
        )
        super().__init__(head, linear, dnn, model_dir, config, warm_start_from)


class DNNLinearCombinedClassifier(_Premade):
    """A wide & deep classifier.

    Args:
        model_dir: Where checkpoints go.
        linear_feature_columns: Columns of the linear (wide) part.
        linear_optimizer: Its optimizer (default Ftrl).
        dnn_feature_columns: Columns of the DNN (deep) part.
        dnn_optimizer: Its optimizer (default Adagrad at 0.05).
        dnn_hidden_units: Widths of the hidden layers.
        dnn_activation_fn: The hidden layers' activation (default relu).
        dnn_dropout: The probability of dropping a unit in training.
        n_classes: Number of label classes (2: binary).
        weight_column: A feature key (or numeric_column) holding example weights.
        label_vocabulary: The string labels, in class-id order.
        config: A ``RunConfig``.
        warm_start_from: See ``Estimator``.
        loss_reduction: "sum_over_batch_size" (default) or "sum".
        batch_norm: Batch-normalize after each hidden layer.
        linear_sparse_combiner: "sum", "mean" or "sqrtn".
        linear_learning_rate: The rate of a linear optimizer given by name.
        dnn_learning_rate: The rate of a DNN optimizer given by name.
    """

    def __init__(
        self,
        model_dir=None,
        linear_feature_columns=None,
        linear_optimizer: Any = "Ftrl",
        dnn_feature_columns=None,
        dnn_optimizer: Any = "Adagrad",
        dnn_hidden_units=None,
        dnn_activation_fn=None,
        dnn_dropout: float | None = None,
        n_classes: int = 2,
        weight_column=None,
        label_vocabulary=None,
        config=None,
        warm_start_from=None,
        loss_reduction: str = _SUM_OVER_BATCH_SIZE,
        batch_norm: bool = False,
        linear_sparse_combiner: str = "sum",
        linear_learning_rate: float | None = None,
        dnn_learning_rate: float | None = None,
    ):
        where = type(self).__name__
        head = _classifier_head(
            n_classes, weight_column, label_vocabulary, loss_reduction, where
        )
        linear, dnn = _combined_parts(
            where,
            linear_feature_columns,
            linear_optimizer,
            linear_learning_rate,
            linear_sparse_combiner,
            dnn_feature_columns,
            dnn_optimizer,
            dnn_learning_rate,
            dnn_hidden_units,
            dnn_activation_fn,
            dnn_dropout,
            batch_norm,
        )
        super().__init__(head, linear, dnn, model_dir, config, warm_start_from)


class DNNLinearCombinedRegressor(_Premade):
    """A wide & deep regressor.

    Args:
        model_dir: Where checkpoints go.
        linear_feature_columns: Columns of the linear (wide) part.
        linear_optimizer: Its optimizer (default Ftrl).
        dnn_feature_columns: Columns of the DNN (deep) part.
        dnn_optimizer: Its optimizer (default Adagrad at 0.05).
        dnn_hidden_units: Widths of the hidden layers.
        dnn_activation_fn: The hidden layers' activation (default relu).
        dnn_dropout: The probability of dropping a unit in training.
        label_dimension: Values per label.
        weight_column: A feature key (or numeric_column) holding example weights.
        config: A ``RunConfig``.
        warm_start_from: See ``Estimator``.
        loss_reduction: "sum_over_batch_size" (default) or "sum".
        batch_norm: Batch-normalize after each hidden layer.
        linear_sparse_combiner: "sum", "mean" or "sqrtn".
        linear_learning_rate: The rate of a linear optimizer given by name.
        dnn_learning_rate: The rate of a DNN optimizer given by name.
    """

    def __init__(
        self,
        model_dir=None,
        linear_feature_columns=None,
        linear_optimizer: Any = "Ftrl",
        dnn_feature_columns=None,
        dnn_optimizer: Any = "Adagrad",
        dnn_hidden_units=None,
        dnn_activation_fn=None,
        dnn_dropout: float | None = None,
        label_dimension: int = 1,
        weight_column=None,
        config=None,
        warm_start_from=None,
        loss_reduction: str = _SUM_OVER_BATCH_SIZE,
        batch_norm: bool = False,
        linear_sparse_combiner: str = "sum",
        linear_learning_rate: float | None = None,
        dnn_learning_rate: float | None = None,
    ):
        head = _regression_head(label_dimension, weight_column, loss_reduction)
        linear, dnn = _combined_parts(
            type(self).__name__,
            linear_feature_columns,
            linear_optimizer,
            linear_learning_rate,
            linear_sparse_combiner,
            dnn_feature_columns,
            dnn_optimizer,
            dnn_learning_rate,
            dnn_hidden_units,
            dnn_activation_fn,
            dnn_dropout,
            batch_norm,
        )
        super().__init__(head, linear, dnn, model_dir, config, warm_start_from)
