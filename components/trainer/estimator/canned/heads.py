"""Heads: the loss, predictions, metrics and export outputs of a premade estimator.

A head turns a model's logits into an ``EstimatorSpec``, as tf.estimator's heads did
(``tf.estimator.BinaryClassHead``, ``MultiClassHead``, ``RegressionHead``): the
model_fn computes ``logits`` of shape ``[batch_size, head.logits_dimension]`` and
returns ``head.create_estimator_spec(features, mode, logits, labels, train_op=...)``.
Names, keys and numbers are tf.estimator's.

What TF2 changes: a head is called inside the Estimator's traced model_fn (once per
replica under a strategy) and creates no TensorFlow resources — a label vocabulary
is matched against a constant, not a lookup table — so it runs on remote workers and
exports with variables only. Evaluation metrics are Keras metric objects created
and updated in the call; the Estimator resets and reads them. The loss is the
replica's loss; the Estimator scales it for replicas.

Example:
    >>> head = BinaryClassHead(label_vocabulary=["ham", "spam"])
    >>> spec = head.create_estimator_spec(
    ...     features={}, mode=ModeKeys.PREDICT, logits=tf.constant([[-1.0], [2.0]])
    ... )
    >>> spec.predictions["classes"].numpy().tolist()
    [[b'ham'], [b'spam']]
    >>> sorted(spec.export_outputs)
    ['classification', 'predict', 'regression', 'serving_default']
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import tensorflow as tf

from components.trainer.estimator import export
from components.trainer.estimator.errors import EstimatorSpecError
from components.trainer.estimator.model_fn import EstimatorSpec, ModeKeys

DEFAULT_SERVING_KEY = export.DEFAULT_SERVING_SIGNATURE_DEF_KEY
CLASSIFY_SERVING_KEY = "classification"
REGRESS_SERVING_KEY = "regression"
PREDICT_SERVING_KEY = export.PREDICT_SIGNATURE_KEY

_AUC_THRESHOLDS = 200


class PredictionKeys:
    """The keys of a head's predictions dict (tf.estimator's)."""

    LOGITS = "logits"
    LOGISTIC = "logistic"
    PROBABILITIES = "probabilities"
    CLASS_IDS = "class_ids"
    CLASSES = "classes"
    ALL_CLASS_IDS = "all_class_ids"
    ALL_CLASSES = "all_classes"
    PREDICTIONS = "predictions"


class MetricKeys:
    """The keys of a head's evaluation metrics (tf.estimator's).

    A head with a ``name`` suffixes each key: ``"accuracy/<name>"``. The three
    ``*_AT_THRESHOLD`` keys are ``%``-formatted with the threshold.
    """

    LOSS = "loss"
    LOSS_MEAN = "average_loss"
    LOSS_REGULARIZATION = "regularization_loss"
    ACCURACY = "accuracy"
    ACCURACY_BASELINE = "accuracy_baseline"
    AUC = "auc"
    AUC_PR = "auc_precision_recall"
    PRECISION = "precision"
    RECALL = "recall"
    LABEL_MEAN = "label/mean"
    PREDICTION_MEAN = "prediction/mean"
    ACCURACY_AT_THRESHOLD = "accuracy/positive_threshold_%g"
    PRECISION_AT_THRESHOLD = "precision/positive_threshold_%g"
    RECALL_AT_THRESHOLD = "recall/positive_threshold_%g"


class LossReduction:
    """How a head reduces the weighted per-example losses of a batch to one loss.

    ``SUM_OVER_BATCH_SIZE`` (the default) divides the weighted sum by the number of
    loss elements (batch size × label dimension); ``SUM`` is the weighted sum.
    """

    SUM_OVER_BATCH_SIZE = "sum_over_batch_size"
    SUM = "sum"

    @classmethod
    def all(cls) -> tuple[str, str]:
        """The valid values."""
        return (cls.SUM_OVER_BATCH_SIZE, cls.SUM)


class AccuracyBaseline(keras.metrics.Mean):
    """The accuracy of always predicting the majority class: max(p, 1 - p).

    ``p`` is the weighted mean of the 0/1 labels; update it with the labels (and
    weights) as a ``keras.metrics.Mean``.

    Example:
        >>> metric = AccuracyBaseline()
        >>> metric.update_state([0.0, 1.0, 1.0, 1.0])
        >>> float(metric.result())
        0.75
    """

    def __init__(self, name: str = MetricKeys.ACCURACY_BASELINE, dtype=None):
        super().__init__(name=name, dtype=dtype)

    def result(self):
        """max(label mean, 1 - label mean); 0 before any update."""
        majority = keras.ops.maximum(self.total, self.count - self.total)
        return keras.ops.divide_no_nan(majority, self.count)


class Head:
    """What premade estimators ask of a head; subclasses fill in one problem type.

    A head is configuration only; every method builds TensorFlow ops from its
    arguments, so one head may be called in every mode, trace and replica.

    Args:
        weight_column: A feature key (string), or an object with ``.key`` (e.g. a
            numeric column; its ``normalizer_fn``, if any, is applied), whose
            feature weighs each example. Shape ``[batch_size]`` or
            ``[batch_size, 1]``; cast to float32.
        loss_reduction: A ``LossReduction`` value.
        name: Suffixes the metric keys (``"auc/<name>"``); None for none.

    Raises:
        EstimatorSpecError: An argument is invalid.
    """

    def __init__(self, weight_column=None, loss_reduction=None, name=None):
        self._name = _check_name(type(self).__name__, name)
        self._weight_column = _check_weight_column(self._where, weight_column)
        self._loss_reduction = _check_loss_reduction(self._where, loss_reduction)

    @property
    def _where(self) -> str:
        kind = type(self).__name__
        return f"{kind}(name={self._name!r})" if self._name else kind

    def __repr__(self) -> str:
        return self._where

    @property
    def name(self) -> str | None:
        """The head's name (the metric key suffix), or None."""
        return self._name

    @property
    def logits_dimension(self) -> int:
        """The size of the last dimension of the logits this head takes."""
        raise NotImplementedError

    @property
    def loss_reduction(self) -> str:
        """The ``LossReduction`` of the training loss."""
        return self._loss_reduction

    @property
    def weight_column(self):
        """The weight column as given (a key or an object with ``.key``), or None."""
        return self._weight_column

    def create_estimator_spec(
        self,
        features,
        mode: str,
        logits,
        labels=None,
        train_op=None,
        regularization_losses=None,
    ) -> EstimatorSpec:
        """The EstimatorSpec of one model_fn call: what a premade model_fn returns.

        Args:
            features: The model_fn's features (a dict); the weight column is read
                from it.
            mode: A ``ModeKeys`` value.
            logits: A float tensor ``[batch_size, logits_dimension]`` (``[batch_size]``
                when ``logits_dimension`` is 1).
            labels: The model_fn's labels; required in TRAIN and EVAL (see the
                subclass for shapes and types); ignored in PREDICT.
            train_op: What ``EstimatorSpec(train_op=...)`` takes, passed through
                unchanged: a Keras optimizer, ``(optimizer, var_list)``, or the
                result of the model_fn's own ``apply_gradients``. Required in TRAIN.
            regularization_losses: Scalar tensors added to the loss (e.g. a Keras
                model's ``losses``); reported as ``regularization_loss`` in EVAL.

        Returns:
            An ``EstimatorSpec``: predictions in every mode; the loss in TRAIN and
            EVAL; ``train_op`` in TRAIN; ``eval_metric_ops`` (fresh Keras metrics,
            updated with this batch) in EVAL; ``export_outputs`` in PREDICT.

        Raises:
            EstimatorSpecError: The mode, logits, labels or weights are unusable, or
                ``train_op`` is missing in TRAIN.
            tf.errors.InvalidArgumentError: At run time, a label is out of range.

        Example:
            >>> head = RegressionHead()
            >>> logits, labels = tf.constant([[1.0], [2.0]]), tf.constant([1.0, 4.0])
            >>> spec = head.create_estimator_spec({}, ModeKeys.EVAL, logits, labels)
            >>> float(spec.loss), float(spec.eval_metric_ops["label/mean"].result())
            (2.0, 2.5)
        """
        if mode not in (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT):
            raise EstimatorSpecError(
                f"{self._where}.create_estimator_spec(mode={mode!r}): mode must be "
                "ModeKeys.TRAIN, ModeKeys.EVAL or ModeKeys.PREDICT; pass the `mode` "
                "the model_fn got."
            )
        logits = self._check_logits(logits)
        predictions = self._predictions(logits)
        if mode == ModeKeys.PREDICT:
            return EstimatorSpec(
                mode,
                predictions=predictions,
                export_outputs=self._export_outputs(predictions),
            )
        if mode == ModeKeys.TRAIN and train_op is None:
            raise EstimatorSpecError(
                f"{self._where}.create_estimator_spec in TRAIN mode needs train_op=: "
                "a Keras optimizer (the Estimator then applies the gradients of the "
                "head's loss), (optimizer, var_list), or the result of the model_fn's "
                "own optimizer.apply_gradients(...)."
            )
        labels = self._processed_labels(labels, logits)
        unweighted, weights = self._unweighted_loss_and_weights(
            features, logits, labels
        )
        loss = self._reduce(unweighted, weights)
        regularization = _sum_losses(regularization_losses)
        if regularization is not None:
            loss += regularization
        if mode == ModeKeys.TRAIN:
            return EstimatorSpec(
                mode, predictions=predictions, loss=loss, train_op=train_op
            )
        metrics = self.metrics(regularization_losses)
        self._update_metrics(
            metrics, labels, predictions, unweighted, weights, regularization
        )
        return EstimatorSpec(
            mode, predictions=predictions, loss=loss, eval_metric_ops=metrics
        )

    def loss(
        self, labels, logits, features=None, mode=None, regularization_losses=None
    ) -> tf.Tensor:
        """The reduced, weighted training loss plus the regularization losses.

        Args:
            labels: The labels (as in ``create_estimator_spec``).
            logits: The logits.
            features: The features, needed when the head has a weight column.
            mode: Unused (tf.estimator's signature).
            regularization_losses: Scalar tensors added to the loss.

        Returns:
            A float32 scalar.

        Example:
            >>> loss = BinaryClassHead().loss(tf.constant([1]), tf.constant([[0.0]]))
            >>> round(float(loss), 4)
            0.6931
        """
        del mode
        logits = self._check_logits(logits)
        labels = self._processed_labels(labels, logits)
        unweighted, weights = self._unweighted_loss_and_weights(
            features, logits, labels
        )
        loss = self._reduce(unweighted, weights)
        regularization = _sum_losses(regularization_losses)
        return loss if regularization is None else loss + regularization

    def predictions(self, logits, keys=None) -> dict[str, tf.Tensor]:
        """The predictions dict for logits, or only its ``keys``.

        Args:
            logits: The logits.
            keys: ``PredictionKeys`` values to return; None for all.

        Returns:
            A dict of tensors by ``PredictionKeys`` value.

        Raises:
            EstimatorSpecError: A key is not one of this head's predictions.

        Example:
            >>> head = MultiClassHead(3)
            >>> logits = tf.constant([[0.0, 2.0, 1.0]])
            >>> predictions = head.predictions(logits, ["class_ids"])
            >>> {key: value.numpy().tolist() for key, value in predictions.items()}
            {'class_ids': [[1]]}
        """
        predictions = self._predictions(self._check_logits(logits))
        if keys is None:
            return predictions
        keys = [keys] if isinstance(keys, str) else list(keys)
        unknown = [key for key in keys if key not in predictions]
        if unknown:
            raise EstimatorSpecError(
                f"{self._where}.predictions(keys={keys!r}): {unknown} are not among "
                f"this head's predictions {sorted(predictions)}."
            )
        return {key: predictions[key] for key in keys}

    def metrics(self, regularization_losses=None) -> dict[str, Any]:
        """New (not yet updated) evaluation metrics, by ``MetricKeys`` key.

        Create them inside the model_fn, as the Estimator owns their variables.

        Args:
            regularization_losses: When given, a ``regularization_loss`` metric is
                included.

        Returns:
            A dict of Keras metric objects.
        """
        raise NotImplementedError

    def update_metrics(
        self, eval_metrics, features, logits, labels, regularization_losses=None
    ) -> dict[str, Any]:
        """Updates metrics made by ``metrics()`` with one batch; returns them.

        Args:
            eval_metrics: The dict ``metrics()`` returned.
            features: The features (for the weight column).
            logits: The logits.
            labels: The labels.
            regularization_losses: As given to ``metrics()``.

        Returns:
            ``eval_metrics``, updated.

        Example:
            >>> head = MultiClassHead(3)
            >>> metrics = head.update_metrics(
            ...     head.metrics(), {}, tf.constant([[0.0, 2.0, 1.0]]), tf.constant([1])
            ... )
            >>> float(metrics["accuracy"].result())
            1.0
        """
        logits = self._check_logits(logits)
        labels = self._processed_labels(labels, logits)
        unweighted, weights = self._unweighted_loss_and_weights(
            features, logits, labels
        )
        self._update_metrics(
            eval_metrics,
            labels,
            self._predictions(logits),
            unweighted,
            weights,
            _sum_losses(regularization_losses),
        )
        return eval_metrics

    # ------------------------------------------------------------ for subclasses

    def _predictions(self, logits) -> dict[str, tf.Tensor]:
        raise NotImplementedError

    def _processed_labels(self, labels, logits) -> tf.Tensor:
        raise NotImplementedError

    def _unweighted_loss(self, labels, logits) -> tf.Tensor:
        raise NotImplementedError

    def _update_metrics(
        self, metrics, labels, predictions, unweighted, weights, regularization
    ) -> None:
        raise NotImplementedError

    def _export_outputs(self, predictions) -> dict[str, export.ExportOutput]:
        raise NotImplementedError

    _weight_dimensions: tuple[int, ...] = (1,)

    # ------------------------------------------------------------ shared

    def _key(self, key: str) -> str:
        return f"{key}/{self._name}" if self._name else key

    def _check_logits(self, logits) -> tf.Tensor:
        if isinstance(logits, Mapping):
            raise EstimatorSpecError(
                f"{self._where}: logits must be one tensor [batch_size, "
                f"{self.logits_dimension}]; got a dict with keys {sorted(logits)}."
            )
        logits = tf.cast(tf.convert_to_tensor(logits), tf.float32)
        dimension = self.logits_dimension
        shape = logits.shape
        if shape.rank is None:
            return tf.reshape(logits, [-1, dimension])
        if shape.rank == 1 and dimension == 1:
            return logits[:, tf.newaxis]
        if shape.rank == 2 and shape[1] == dimension:
            return logits
        if shape.rank == 2 and shape[1] is None:
            return tf.ensure_shape(logits, [None, dimension])
        raise EstimatorSpecError(
            f"{self._where}: logits must have shape [batch_size, {dimension}]; got "
            f"shape {shape.as_list()}. Give the model's last layer "
            "head.logits_dimension units, e.g. "
            "keras.layers.Dense(head.logits_dimension)."
        )

    def _dense_labels(self, labels, logits, dimension: int) -> tf.Tensor:
        """Labels as a dense tensor [batch_size, dimension], checked against logits."""
        if labels is None:
            raise EstimatorSpecError(
                f"{self._where}: labels are required in TRAIN and EVAL mode; got None. "
                "The input_fn's dataset must yield (features, labels)."
            )
        if isinstance(labels, Mapping):
            first = next(iter(labels), "label")
            raise EstimatorSpecError(
                f"{self._where}: labels is a dict with keys {sorted(labels)}; a head "
                "takes one label tensor. Yield the label alone from the input_fn, "
                f"e.g. dataset.map(lambda features, labels: (features, "
                f"labels[{first!r}]))."
            )
        if isinstance(labels, tf.RaggedTensor):
            labels = labels.to_tensor()
        if isinstance(labels, tf.SparseTensor):
            default = "" if labels.dtype == tf.string else 0
            labels = tf.sparse.to_dense(labels, default_value=default)
        labels = tf.convert_to_tensor(labels)
        shape = labels.shape
        if shape.rank is None:
            labels = tf.reshape(labels, [-1, dimension])
        elif shape.rank == 1 and dimension == 1:
            labels = labels[:, tf.newaxis]
        elif not (shape.rank == 2 and shape[1] in (dimension, None)):
            raise EstimatorSpecError(
                f"{self._where}: labels must have shape "
                f"{_shape_words(dimension)}; got shape {shape.as_list()}."
                + self._label_shape_hint(shape)
            )
        if labels.shape[1] is None:
            labels = tf.ensure_shape(labels, [None, dimension])
        return self._same_batch(labels, logits, "labels")

    def _label_shape_hint(self, shape) -> str:
        return ""

    def _same_batch(self, tensor, logits, what: str) -> tf.Tensor:
        rows, expected = tensor.shape[0], logits.shape[0]
        if rows is not None and expected is not None:
            if rows != expected:
                raise EstimatorSpecError(
                    f"{self._where}: {what} have {rows} rows but logits have "
                    f"{expected}; both must hold one row per example of the batch."
                )
            return tensor
        check = tf.debugging.assert_equal(
            tf.shape(tensor)[0],
            tf.shape(logits)[0],
            message=f"{self._where}: {what} and logits must have the same batch size",
        )
        with tf.control_dependencies([check]):
            return tf.identity(tensor)

    def _weights(self, features, logits) -> tf.Tensor | None:
        """The example weights, float32 [batch_size, 1] (or per logit), or None."""
        if self._weight_column is None:
            return None
        column = self._weight_column
        key = column if isinstance(column, str) else column.key
        if not isinstance(features, Mapping) or key not in features:
            names = sorted(features) if isinstance(features, Mapping) else []
            close = difflib.get_close_matches(key, [str(n) for n in names], n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise EstimatorSpecError(
                f"{self._where}: weight_column {key!r} is not among the features "
                f"{names}.{hint} The input_fn must yield the weight as a feature."
            )
        weights = features[key]
        if isinstance(weights, tf.SparseTensor | tf.RaggedTensor):
            raise EstimatorSpecError(
                f"{self._where}: weight_column {key!r} is a {type(weights).__name__}; "
                "it must be dense, one weight per example (parse it with "
                "tf.io.FixedLenFeature([1], tf.float32))."
            )
        weights = tf.convert_to_tensor(weights)
        if not (weights.dtype.is_floating or weights.dtype.is_integer):
            raise EstimatorSpecError(
                f"{self._where}: weight_column {key!r} must be numeric; got dtype "
                f"{weights.dtype.name}."
            )
        normalizer = getattr(column, "normalizer_fn", None)
        if normalizer is not None:
            weights = normalizer(weights)
        weights = tf.cast(weights, tf.float32)
        shape = weights.shape
        if shape.rank == 1:
            weights = weights[:, tf.newaxis]
        elif not (shape.rank == 2 and shape[1] in (*self._weight_dimensions, None)):
            allowed = " or ".join(
                f"[batch_size, {d}]" for d in dict.fromkeys(self._weight_dimensions)
            )
            raise EstimatorSpecError(
                f"{self._where}: weight_column {key!r} must have shape [batch_size] "
                f"or {allowed}; got shape {shape.as_list()}."
            )
        return self._same_batch(weights, logits, f"weights {key!r}")

    def _unweighted_loss_and_weights(self, features, logits, labels):
        return self._unweighted_loss(labels, logits), self._weights(features, logits)

    def _reduce(self, unweighted, weights) -> tf.Tensor:
        weighted = unweighted if weights is None else unweighted * weights
        total = tf.reduce_sum(weighted)
        if self._loss_reduction == LossReduction.SUM:
            return total
        return tf.math.divide_no_nan(total, tf.cast(tf.size(weighted), tf.float32))

    def _mean_metric(self, key: str):
        return keras.metrics.Mean(name=self._key(key))

    def _regularization_metric(self, metrics, regularization) -> None:
        if regularization is not None:
            metrics[self._key(MetricKeys.LOSS_REGULARIZATION)].update_state(
                regularization
            )


class _ClassHead(Head):
    """What the binary and multi-class heads share: class ids, names, exports."""

    _n_classes: int
    _label_vocabulary: tuple[str, ...] | None

    def _class_names(self, class_ids) -> tf.Tensor:
        if self._label_vocabulary is None:
            return tf.strings.as_string(class_ids)
        return tf.gather(tf.constant(self._label_vocabulary), class_ids)

    def _all_classes(self, logits):
        batch = tf.shape(logits)[0]
        ids = tf.tile(tf.range(self._n_classes)[tf.newaxis, :], [batch, 1])
        return ids, self._class_names(ids)

    def _label_ids(self, labels) -> tf.Tensor:
        """int64 class ids [batch_size, 1] from labels [batch_size, 1], checked."""
        if self._label_vocabulary is not None:
            return self._ids_from_vocabulary(labels)
        if labels.dtype == tf.string:
            raise EstimatorSpecError(
                f"{self._where}: labels are strings; pass label_vocabulary=[...] (the "
                f"{self._n_classes} class names, in class-id order) to map them to "
                "class ids."
            )
        if labels.dtype == tf.bool:
            return tf.cast(labels, tf.int64)
        if not (labels.dtype.is_integer or labels.dtype.is_floating):
            raise EstimatorSpecError(
                f"{self._where}: labels must be integer class ids (or strings with "
                f"label_vocabulary); got dtype {labels.dtype.name}."
            )
        valid = tf.logical_and(
            tf.greater_equal(labels, tf.cast(0, labels.dtype)),
            tf.less(labels, tf.cast(self._n_classes, labels.dtype)),
        )
        if labels.dtype.is_floating:
            valid = tf.logical_and(valid, tf.equal(labels, tf.round(labels)))
        check = _assert_all(
            valid,
            f"{self._where}: labels must be class ids in "
            f"{self._valid_ids_words()}; got labels outside it:",
            lambda: tf.boolean_mask(labels, tf.logical_not(valid)),
        )
        with tf.control_dependencies([check]):
            return tf.cast(labels, tf.int64)

    def _valid_ids_words(self) -> str:
        return f"[0, {self._n_classes}) (integers 0 to {self._n_classes - 1})"

    def _ids_from_vocabulary(self, labels) -> tf.Tensor:
        if labels.dtype != tf.string:
            raise EstimatorSpecError(
                f"{self._where}: labels must be strings when label_vocabulary is "
                f"given; got dtype {labels.dtype.name}. Drop label_vocabulary to use "
                "integer class ids."
            )
        vocabulary = tf.constant(self._label_vocabulary)
        matches = tf.equal(labels, vocabulary)  # [batch_size, 1] vs [n] -> [batch, n]
        found = tf.reduce_any(matches, axis=-1)
        check = _assert_all(
            found,
            f"{self._where}: labels must be in label_vocabulary "
            f"{list(self._label_vocabulary)}; got labels not in it:",
            lambda: tf.boolean_mask(labels[:, 0], tf.logical_not(found)),
        )
        with tf.control_dependencies([check]):
            ids = tf.argmax(tf.cast(matches, tf.int32), axis=-1, output_type=tf.int64)
        return ids[:, tf.newaxis]

    def _classification_exports(self, predictions) -> dict[str, export.ExportOutput]:
        classification = export.ClassificationOutput(
            scores=predictions[PredictionKeys.PROBABILITIES],
            classes=predictions[PredictionKeys.ALL_CLASSES],
        )
        return {
            DEFAULT_SERVING_KEY: classification,
            CLASSIFY_SERVING_KEY: classification,
            PREDICT_SERVING_KEY: export.PredictOutput(predictions),
        }


class BinaryClassHead(_ClassHead):
    """A head for two classes: sigmoid cross-entropy on one logit per example.

    Labels are ``[batch_size]`` or ``[batch_size, 1]``: 0/1 (ints, floats or bools),
    or strings when ``label_vocabulary`` is given. A label outside {0, 1} or the
    vocabulary fails at run time (``tf.errors.InvalidArgumentError``).

    Predictions: ``logits`` [batch, 1], ``logistic`` (the sigmoid) [batch, 1],
    ``probabilities`` [batch, 2], ``class_ids`` int64 [batch, 1] (1 when the
    logit > 0), ``classes`` string [batch, 1], ``all_class_ids`` int32 [batch, 2],
    ``all_classes`` string [batch, 2].

    Metrics (EVAL): ``accuracy``, ``accuracy_baseline``, ``auc`` and
    ``auc_precision_recall`` (200 thresholds), ``average_loss``, ``label/mean``,
    ``prediction/mean`` (of the logistic), ``precision``, ``recall``, per threshold
    ``accuracy/positive_threshold_<t>``, ``precision/...``, ``recall/...`` (positive
    when logistic > t), and ``regularization_loss`` when regularization losses are
    given; all weighted by the weight column.

    Exports: ``serving_default`` and ``classification`` (scores = probabilities,
    classes = class names), ``regression`` (the logistic), ``predict``.

    Args:
        weight_column: See ``Head``.
        thresholds: Floats in (0, 1) for the threshold metrics.
        label_vocabulary: The two class names (strings), for string labels; class 0
            first.
        loss_reduction: A ``LossReduction`` value.
        name: Suffixes the metric keys.

    Raises:
        EstimatorSpecError: An argument is invalid.

    Example:
        >>> head = BinaryClassHead(thresholds=[0.7])
        >>> spec = head.create_estimator_spec(
        ...     {}, ModeKeys.EVAL, tf.constant([[2.0], [-1.0]]), tf.constant([1, 1])
        ... )
        >>> float(spec.eval_metric_ops["recall"].result())
        0.5
        >>> sorted(spec.eval_metric_ops)[-3:]
        ['prediction/mean', 'recall', 'recall/positive_threshold_0.7']
    """

    def __init__(
        self,
        weight_column=None,
        thresholds=None,
        label_vocabulary=None,
        loss_reduction=LossReduction.SUM_OVER_BATCH_SIZE,
        name=None,
    ):
        super().__init__(weight_column, loss_reduction, name)
        self._n_classes = 2
        self._label_vocabulary = _check_vocabulary(self._where, label_vocabulary, 2)
        self._thresholds = _check_thresholds(self._where, thresholds)

    @property
    def logits_dimension(self) -> int:
        """1: one logit per example."""
        return 1

    @property
    def thresholds(self) -> tuple[float, ...]:
        """The thresholds of the threshold metrics."""
        return self._thresholds

    @property
    def label_vocabulary(self) -> tuple[str, ...] | None:
        """The class names, or None."""
        return self._label_vocabulary

    def _valid_ids_words(self) -> str:
        return "{0, 1} (or False/True)"

    def _predictions(self, logits):
        keys = PredictionKeys
        logistic = tf.sigmoid(logits)
        two_class_logits = tf.concat([tf.zeros_like(logits), logits], axis=-1)
        class_ids = tf.argmax(two_class_logits, axis=-1)[:, tf.newaxis]
        all_ids, all_names = self._all_classes(logits)
        return {
            keys.LOGITS: logits,
            keys.LOGISTIC: logistic,
            keys.PROBABILITIES: tf.nn.softmax(two_class_logits),
            keys.CLASS_IDS: class_ids,
            keys.CLASSES: self._class_names(class_ids),
            keys.ALL_CLASS_IDS: all_ids,
            keys.ALL_CLASSES: all_names,
        }

    def _processed_labels(self, labels, logits):
        labels = self._dense_labels(labels, logits, 1)
        return tf.cast(self._label_ids(labels), tf.float32)

    def _unweighted_loss(self, labels, logits):
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)

    def metrics(self, regularization_losses=None):
        """New binary metrics (see the class docstring), by key.

        Example:
            >>> sorted(BinaryClassHead(name="spam").metrics())[:2]
            ['accuracy/spam', 'accuracy_baseline/spam']
        """
        keys, key = MetricKeys, self._key
        metrics = {
            key(keys.LOSS_MEAN): self._mean_metric(keys.LOSS_MEAN),
            key(keys.ACCURACY): keras.metrics.Accuracy(name=key(keys.ACCURACY)),
            key(keys.PRECISION): keras.metrics.Precision(name=key(keys.PRECISION)),
            key(keys.RECALL): keras.metrics.Recall(name=key(keys.RECALL)),
            key(keys.PREDICTION_MEAN): self._mean_metric(keys.PREDICTION_MEAN),
            key(keys.LABEL_MEAN): self._mean_metric(keys.LABEL_MEAN),
            key(keys.ACCURACY_BASELINE): AccuracyBaseline(
                name=key(keys.ACCURACY_BASELINE)
            ),
            key(keys.AUC): keras.metrics.AUC(
                num_thresholds=_AUC_THRESHOLDS, curve="ROC", name=key(keys.AUC)
            ),
            key(keys.AUC_PR): keras.metrics.AUC(
                num_thresholds=_AUC_THRESHOLDS, curve="PR", name=key(keys.AUC_PR)
            ),
        }
        if _sum_losses(regularization_losses) is not None:
            metrics[key(keys.LOSS_REGULARIZATION)] = self._mean_metric(
                keys.LOSS_REGULARIZATION
            )
        for threshold in self._thresholds:
            accuracy = key(keys.ACCURACY_AT_THRESHOLD % threshold)
            precision = key(keys.PRECISION_AT_THRESHOLD % threshold)
            recall = key(keys.RECALL_AT_THRESHOLD % threshold)
            metrics[accuracy] = keras.metrics.BinaryAccuracy(
                name=accuracy, threshold=threshold
            )
            metrics[precision] = keras.metrics.Precision(
                name=precision, thresholds=threshold
            )
            metrics[recall] = keras.metrics.Recall(name=recall, thresholds=threshold)
        return metrics

    def _update_metrics(
        self, metrics, labels, predictions, unweighted, weights, regularization
    ):
        keys, key = MetricKeys, self._key
        labels = tf.reshape(labels, [-1])
        class_ids = tf.cast(
            tf.reshape(predictions[PredictionKeys.CLASS_IDS], [-1]), tf.float32
        )
        logistic = tf.reshape(predictions[PredictionKeys.LOGISTIC], [-1])
        w = None if weights is None else tf.reshape(weights, [-1])
        _update_mean(metrics[key(keys.LOSS_MEAN)], unweighted, weights)
        for name in (keys.ACCURACY, keys.PRECISION, keys.RECALL):
            metrics[key(name)].update_state(labels, class_ids, sample_weight=w)
        _update_mean(metrics[key(keys.PREDICTION_MEAN)], logistic, w)
        _update_mean(metrics[key(keys.LABEL_MEAN)], labels, w)
        _update_mean(metrics[key(keys.ACCURACY_BASELINE)], labels, w)
        for name in (keys.AUC, keys.AUC_PR):
            metrics[key(name)].update_state(labels, logistic, sample_weight=w)
        self._regularization_metric(metrics, regularization)
        for threshold in self._thresholds:
            for template in (
                keys.ACCURACY_AT_THRESHOLD,
                keys.PRECISION_AT_THRESHOLD,
                keys.RECALL_AT_THRESHOLD,
            ):
                metrics[key(template % threshold)].update_state(
                    labels, logistic, sample_weight=w
                )

    def _export_outputs(self, predictions):
        outputs = self._classification_exports(predictions)
        outputs[REGRESS_SERVING_KEY] = export.RegressionOutput(
            predictions[PredictionKeys.LOGISTIC]
        )
        return outputs


class MultiClassHead(_ClassHead):
    """A head for ``n_classes`` classes: softmax cross-entropy on n_classes logits.

    Labels are class ids ``[batch_size]`` or ``[batch_size, 1]`` in [0, n_classes)
    (ints, or floats with integer values), or strings when ``label_vocabulary`` is
    given; anything else fails at run time (``tf.errors.InvalidArgumentError``).

    Predictions: ``logits`` and ``probabilities`` [batch, n_classes], ``class_ids``
    int64 [batch, 1] (the argmax), ``classes`` string [batch, 1], ``all_class_ids``
    int32 and ``all_classes`` string [batch, n_classes].

    Metrics (EVAL): ``accuracy``, ``average_loss`` (and ``regularization_loss``).
    Exports: ``serving_default`` and ``classification`` (scores = probabilities,
    classes = class names), ``predict``.

    Args:
        n_classes: The number of classes, at least 2.
        weight_column: See ``Head``.
        label_vocabulary: The n_classes class names (strings), in class-id order.
        loss_reduction: A ``LossReduction`` value.
        name: Suffixes the metric keys.

    Raises:
        EstimatorSpecError: An argument is invalid.

    Example:
        >>> head = MultiClassHead(3, label_vocabulary=["a", "b", "c"])
        >>> logits = tf.constant([[0.0, 0.0, 9.0], [9.0, 0.0, 0.0]])
        >>> spec = head.create_estimator_spec(
        ...     {}, ModeKeys.EVAL, logits, tf.constant(["c", "b"])
        ... )
        >>> float(spec.eval_metric_ops["accuracy"].result())
        0.5
    """

    def __init__(
        self,
        n_classes,
        weight_column=None,
        label_vocabulary=None,
        loss_reduction=LossReduction.SUM_OVER_BATCH_SIZE,
        name=None,
    ):
        super().__init__(weight_column, loss_reduction, name)
        if isinstance(n_classes, bool) or not isinstance(n_classes, int):
            raise EstimatorSpecError(
                f"{self._where}: n_classes must be an int; got {n_classes!r}."
            )
        if n_classes < 2:
            raise EstimatorSpecError(
                f"{self._where}: n_classes must be at least 2; got {n_classes}. For "
                "one output per example use RegressionHead; for two classes "
                "BinaryClassHead is the usual choice."
            )
        self._n_classes = n_classes
        self._label_vocabulary = _check_vocabulary(
            self._where, label_vocabulary, n_classes
        )

    @property
    def logits_dimension(self) -> int:
        """n_classes: one logit per class."""
        return self._n_classes

    @property
    def n_classes(self) -> int:
        """The number of classes."""
        return self._n_classes

    @property
    def label_vocabulary(self) -> tuple[str, ...] | None:
        """The class names, or None."""
        return self._label_vocabulary

    def _label_shape_hint(self, shape) -> str:
        if shape.rank == 2 and shape[1] == self._n_classes:
            return (
                " MultiClassHead takes class ids, not one-hot vectors: pass "
                "tf.argmax(labels, axis=-1)."
            )
        return ""

    def _predictions(self, logits):
        keys = PredictionKeys
        class_ids = tf.argmax(logits, axis=-1)[:, tf.newaxis]
        all_ids, all_names = self._all_classes(logits)
        return {
            keys.LOGITS: logits,
            keys.PROBABILITIES: tf.nn.softmax(logits),
            keys.CLASS_IDS: class_ids,
            keys.CLASSES: self._class_names(class_ids),
            keys.ALL_CLASS_IDS: all_ids,
            keys.ALL_CLASSES: all_names,
        }

    def _processed_labels(self, labels, logits):
        return self._label_ids(self._dense_labels(labels, logits, 1))

    def _unweighted_loss(self, labels, logits):
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels[:, 0], logits=logits
        )
        return loss[:, tf.newaxis]

    def metrics(self, regularization_losses=None):
        """New multi-class metrics: accuracy, average_loss (, regularization_loss).

        Example:
            >>> sorted(MultiClassHead(4).metrics())
            ['accuracy', 'average_loss']
        """
        keys, key = MetricKeys, self._key
        metrics = {
            key(keys.ACCURACY): keras.metrics.Accuracy(name=key(keys.ACCURACY)),
            key(keys.LOSS_MEAN): self._mean_metric(keys.LOSS_MEAN),
        }
        if _sum_losses(regularization_losses) is not None:
            metrics[key(keys.LOSS_REGULARIZATION)] = self._mean_metric(
                keys.LOSS_REGULARIZATION
            )
        return metrics

    def _update_metrics(
        self, metrics, labels, predictions, unweighted, weights, regularization
    ):
        keys, key = MetricKeys, self._key
        w = None if weights is None else tf.reshape(weights, [-1])
        metrics[key(keys.ACCURACY)].update_state(
            tf.cast(tf.reshape(labels, [-1]), tf.float32),
            tf.cast(
                tf.reshape(predictions[PredictionKeys.CLASS_IDS], [-1]), tf.float32
            ),
            sample_weight=w,
        )
        _update_mean(metrics[key(keys.LOSS_MEAN)], unweighted, weights)
        self._regularization_metric(metrics, regularization)

    def _export_outputs(self, predictions):
        return self._classification_exports(predictions)


class RegressionHead(Head):
    """A head for real values: mean squared error on ``label_dimension`` outputs.

    Labels are numbers ``[batch_size, label_dimension]`` (``[batch_size]`` when
    label_dimension is 1), cast to float32. The loss is the squared error per
    label element; weights are ``[batch_size]``, ``[batch_size, 1]`` or
    ``[batch_size, label_dimension]``.

    Predictions: ``predictions`` [batch, label_dimension] (the logits).
    Metrics (EVAL): ``average_loss``, ``label/mean``, ``prediction/mean`` (means over
    every element, weighted), and ``regularization_loss`` when given.
    Exports: ``serving_default`` and ``regression`` (the prediction) and ``predict``
    when label_dimension is 1; otherwise ``serving_default`` and ``predict`` are
    the predictions dict (TF Serving's Regress API takes one value per example).

    Args:
        label_dimension: The number of values per example, at least 1.
        weight_column: See ``Head``.
        loss_reduction: A ``LossReduction`` value.
        name: Suffixes the metric keys.

    Raises:
        EstimatorSpecError: An argument is invalid.

    Example:
        >>> head = RegressionHead(label_dimension=2, loss_reduction=LossReduction.SUM)
        >>> float(head.loss(tf.constant([[1.0, 2.0]]), tf.constant([[0.0, 0.0]])))
        5.0
    """

    def __init__(
        self,
        label_dimension=1,
        weight_column=None,
        loss_reduction=LossReduction.SUM_OVER_BATCH_SIZE,
        name=None,
    ):
        super().__init__(weight_column, loss_reduction, name)
        if (
            isinstance(label_dimension, bool)
            or not isinstance(label_dimension, int)
            or label_dimension < 1
        ):
            raise EstimatorSpecError(
                f"{self._where}: label_dimension must be an int >= 1 (the number of "
                f"values per example); got {label_dimension!r}."
            )
        self._label_dimension = label_dimension
        self._weight_dimensions = (1, label_dimension)

    @property
    def logits_dimension(self) -> int:
        """label_dimension: one output per label value."""
        return self._label_dimension

    @property
    def label_dimension(self) -> int:
        """The number of values per example."""
        return self._label_dimension

    def _predictions(self, logits):
        return {PredictionKeys.PREDICTIONS: logits}

    def _processed_labels(self, labels, logits):
        labels = self._dense_labels(labels, logits, self._label_dimension)
        if not (
            labels.dtype.is_floating
            or labels.dtype.is_integer
            or labels.dtype == tf.bool
        ):
            raise EstimatorSpecError(
                f"{self._where}: labels must be numbers; got dtype "
                f"{labels.dtype.name}. Convert them in the input_fn "
                "(e.g. tf.strings.to_number)."
            )
        return tf.cast(labels, tf.float32)

    def _unweighted_loss(self, labels, logits):
        return tf.math.squared_difference(logits, labels)

    def metrics(self, regularization_losses=None):
        """New regression metrics: average_loss, label/mean, prediction/mean.

        Example:
            >>> sorted(RegressionHead(name="price").metrics([tf.constant(0.1)]))[:3]
            ['average_loss/price', 'label/mean/price', 'prediction/mean/price']
        """
        keys, key = MetricKeys, self._key
        metrics = {
            key(keys.LOSS_MEAN): self._mean_metric(keys.LOSS_MEAN),
            key(keys.PREDICTION_MEAN): self._mean_metric(keys.PREDICTION_MEAN),
            key(keys.LABEL_MEAN): self._mean_metric(keys.LABEL_MEAN),
        }
        if _sum_losses(regularization_losses) is not None:
            metrics[key(keys.LOSS_REGULARIZATION)] = self._mean_metric(
                keys.LOSS_REGULARIZATION
            )
        return metrics

    def _update_metrics(
        self, metrics, labels, predictions, unweighted, weights, regularization
    ):
        keys, key = MetricKeys, self._key
        _update_mean(metrics[key(keys.LOSS_MEAN)], unweighted, weights)
        _update_mean(
            metrics[key(keys.PREDICTION_MEAN)],
            predictions[PredictionKeys.PREDICTIONS],
            weights,
        )
        _update_mean(metrics[key(keys.LABEL_MEAN)], labels, weights)
        self._regularization_metric(metrics, regularization)

    def _export_outputs(self, predictions):
        values = predictions[PredictionKeys.PREDICTIONS]
        everything = export.PredictOutput(predictions)
        if self._label_dimension != 1:
            return {DEFAULT_SERVING_KEY: everything, PREDICT_SERVING_KEY: everything}
        regression = export.RegressionOutput(values)
        return {
            DEFAULT_SERVING_KEY: regression,
            REGRESS_SERVING_KEY: regression,
            PREDICT_SERVING_KEY: everything,
        }


# ---------------------------------------------------------------- helpers


def _update_mean(metric, values, weights) -> None:
    """Weighted mean over every element; weights broadcast to the values' shape."""
    values = tf.cast(values, tf.float32)
    if weights is None:
        metric.update_state(tf.reshape(values, [-1]))
        return
    weights = tf.broadcast_to(weights, tf.shape(values))
    metric.update_state(
        tf.reshape(values, [-1]), sample_weight=tf.reshape(weights, [-1])
    )


def _sum_losses(losses) -> tf.Tensor | None:
    if losses is None:
        return None
    if tf.is_tensor(losses):
        losses = [losses]
    losses = [tf.cast(tf.reshape(loss, []), tf.float32) for loss in losses]
    return tf.add_n(losses) if losses else None


def _shape_words(dimension: int) -> str:
    if dimension == 1:
        return "[batch_size] or [batch_size, 1]"
    return f"[batch_size, {dimension}]"


def _check_name(where: str, name) -> str | None:
    if name is not None and (not isinstance(name, str) or not name):
        raise EstimatorSpecError(
            f"{where}(name={name!r}): name must be a non-empty string or None."
        )
    return name


def _check_weight_column(where: str, weight_column):
    if weight_column is None or isinstance(weight_column, str):
        return weight_column
    if isinstance(getattr(weight_column, "key", None), str):
        return weight_column
    raise EstimatorSpecError(
        f"{where}: weight_column must be a feature key (a string) or a column with a "
        f"string .key (e.g. a numeric column); got {weight_column!r}."
    )


def _check_loss_reduction(where: str, loss_reduction) -> str:
    if loss_reduction is None:
        return LossReduction.SUM_OVER_BATCH_SIZE
    if loss_reduction in LossReduction.all():
        return loss_reduction
    close = difflib.get_close_matches(str(loss_reduction), LossReduction.all(), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise EstimatorSpecError(
        f"{where}: loss_reduction={loss_reduction!r} is not one of "
        f"{list(LossReduction.all())} (LossReduction.SUM_OVER_BATCH_SIZE, "
        f"LossReduction.SUM).{hint}"
    )


def _check_vocabulary(where: str, vocabulary, n_classes: int):
    if vocabulary is None:
        return None
    if isinstance(vocabulary, str | bytes) or not isinstance(vocabulary, Sequence):
        raise EstimatorSpecError(
            f"{where}: label_vocabulary must be a list or tuple of {n_classes} "
            f"strings; got {vocabulary!r}."
        )
    vocabulary = tuple(vocabulary)
    not_strings = [v for v in vocabulary if not isinstance(v, str)]
    if not_strings:
        raise EstimatorSpecError(
            f"{where}: label_vocabulary must hold strings; got {not_strings!r}. "
            "Integer labels need no vocabulary."
        )
    if len(vocabulary) != n_classes:
        raise EstimatorSpecError(
            f"{where}: label_vocabulary must have n_classes={n_classes} entries, one "
            f"per class; got {len(vocabulary)}: {list(vocabulary)}."
        )
    duplicates = sorted({v for v in vocabulary if vocabulary.count(v) > 1})
    if duplicates:
        raise EstimatorSpecError(
            f"{where}: label_vocabulary has duplicates {duplicates}; each class needs "
            "its own name."
        )
    return vocabulary


def _check_thresholds(where: str, thresholds) -> tuple[float, ...]:
    if thresholds is None:
        return ()
    if isinstance(thresholds, int | float):
        thresholds = [thresholds]
    checked = []
    for threshold in thresholds:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise EstimatorSpecError(
                f"{where}: thresholds must be numbers in (0, 1); got {threshold!r}."
            )
        if not 0.0 < threshold < 1.0:
            raise EstimatorSpecError(
                f"{where}: thresholds must be in (0, 1), exclusive; got {threshold}."
            )
        checked.append(float(threshold))
    return tuple(checked)


def _assert_all(valid, message: str, offending: Callable[[], tf.Tensor]):
    """An op failing with ``message`` and the offending values unless all valid.

    The offending values are gathered only in the failing branch: a training step
    pays for one reduction, not for a mask over the batch.
    """

    def fail():
        return tf.debugging.Assert(False, [message, offending()], summarize=10)

    return tf.cond(tf.reduce_all(valid), tf.no_op, fail)
