"""Keras 3 layers over feature columns: DenseFeatures and LinearModel.

Both are called inside a model_fn on the features dict. Their variables are
created when the layer is first called (``build``), one Keras sublayer per column
holding that column's variables, so that the variable paths — the Estimator's
variable and checkpoint names — are ``<layer name>/<column name>/<variable>``:

* ``DenseFeatures``: ``<layer>/<column>/embedding_weights`` per embedding column;
* ``LinearModel``: ``<layer>/<column>/weights`` per column (and
  ``<layer>/<column>/embedding_weights`` for an embedding column),
  ``<layer>/bias_weights``. The numeric columns' weights are rows of one
  variable, ``<layer>/numeric_weights``, checkpointed as a slice per column under
  the per-column name (``variables.declare_checkpoint_slices``).

Columns are used in sorted order of their names, as TensorFlow did.

Example:
    >>> from components.trainer.estimator.feature_column import (
    ...     categorical_column_with_vocabulary_list, indicator_column, numeric_column)
    >>> sex = categorical_column_with_vocabulary_list("sex", ["male", "female"])
    >>> layer = DenseFeatures([numeric_column("age"), indicator_column(sex)])
    >>> layer({"age": tf.constant([30.0, 4.0]), "sex": tf.constant(["female", ""])})
    <tf.Tensor: shape=(2, 3), dtype=float32, numpy=
    array([[30.,  0.,  1.],
           [ 4.,  0.,  0.]], dtype=float32)>
"""

from __future__ import annotations

import keras
import tensorflow as tf

from components.trainer.estimator.errors import EstimatorSpecError
from components.trainer.estimator.feature_column.columns import (
    COMBINERS,
    CategoricalColumn,
    DenseColumn,
    EmbeddingColumn,
    FeatureColumn,
    NumericColumn,
    check_int,
)
from components.trainer.estimator.feature_column.convert import as_feature_columns
from components.trainer.estimator.feature_column.transform import (
    categorical_ids,
    combine,
    dense_tensor,
)
from components.trainer.estimator.variables import declare_checkpoint_slices


class _ColumnVariables(keras.layers.Layer):
    """One column's variables; as a sublayer named after the column it puts the
    column's name in their paths."""

    def variable(self, name: str):
        for variable in self.weights:
            if variable.name == name:
                return variable.value
        raise KeyError(name)


def _sorted_columns(feature_columns, layer: str) -> list[FeatureColumn]:
    try:
        columns = as_feature_columns(feature_columns)
    except EstimatorSpecError as error:
        raise EstimatorSpecError(f"{layer}: {error}") from None
    if not columns:
        raise EstimatorSpecError(
            f"{layer}: feature_columns is empty; pass at least one feature column."
        )
    seen: dict[str, FeatureColumn] = {}
    for column in columns:
        other = seen.get(column.scope_name)
        if other is not None:
            raise EstimatorSpecError(
                f"{layer}: two feature columns are named {column.name!r} "
                f"({other!r} and {column!r}); their variables would share a name. "
                "Give each column once."
            )
        seen[column.scope_name] = column
    return sorted(columns, key=lambda c: c.name)


def _initializers(columns) -> dict:
    # Made when the layer is constructed, as Keras layers make theirs: a seedless
    # Keras initializer draws its seed then, in the model_fn's order of layers.
    return {
        column.scope_name: column.make_initializer()
        for column in columns
        if isinstance(column, EmbeddingColumn)
    }


def _embedding_weights(holder, column: EmbeddingColumn, initializer) -> None:
    holder.add_weight(
        name="embedding_weights",
        shape=(column.categorical_column.num_buckets, column.dimension),
        initializer=initializer,
        trainable=column.trainable,
        dtype="float32",
    )


class DenseFeatures(keras.layers.Layer):
    """A layer that turns a dict of features into one dense float32 tensor.

    As ``tf.keras.layers.DenseFeatures`` (Keras 2): each column's dense value —
    numeric values, a bucketized column's one-hot vector, an indicator column's
    multi-hot counts, an embedding column's combined vector — flattened and
    concatenated in sorted order of the column names.

    Args:
        feature_columns: Dense columns (numeric, bucketized, indicator,
            embedding), this package's or ``tf.feature_column``'s.
        trainable: Whether the embedding tables are trained.
        name: The layer's name (default ``dense_features``), the first part of
            its variables' names.
        **kwargs: Passed to ``keras.layers.Layer``.

    Raises:
        EstimatorSpecError: A column is not dense (a bare categorical column),
            two columns share a name, or the list is empty.

    Example:
        >>> from components.trainer.estimator.feature_column import (
        ...     categorical_column_with_hash_bucket, embedding_column)
        >>> city = embedding_column(categorical_column_with_hash_bucket("city", 10), 4)
        >>> layer = DenseFeatures([city], name="inputs")
        >>> layer({"city": tf.constant([["Oslo"], ["Rome"]])}).shape
        TensorShape([2, 4])
        >>> [v.path for v in layer.weights]
        ['inputs/city_embedding/embedding_weights']
    """

    def __init__(self, feature_columns, trainable=True, name=None, **kwargs):
        super().__init__(trainable=trainable, name=name, **kwargs)
        columns = _sorted_columns(feature_columns, "DenseFeatures")
        for column in columns:
            if not isinstance(column, DenseColumn):
                raise EstimatorSpecError(
                    f"DenseFeatures: column {column.name!r} is categorical; a "
                    "DNN reads dense columns. Wrap it in indicator_column(...) "
                    f"(a multi-hot vector of {column.num_buckets}) or "
                    "embedding_column(..., dimension=n) (a learned vector)."
                )
        self._feature_columns = tuple(columns)
        self._initializers = _initializers(columns)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True

    @property
    def feature_columns(self) -> tuple:
        """The columns, sorted by name."""
        return self._feature_columns

    def build(self, input_shape=None):
        """Creates each embedding column's ``embedding_weights``."""
        self._holders = {}
        for column in self._feature_columns:
            if isinstance(column, EmbeddingColumn):
                holder = _ColumnVariables(
                    name=column.scope_name, trainable=self.trainable
                )
                _embedding_weights(
                    holder, column, self._initializers[column.scope_name]
                )
                holder.built = True
                self._holders[column.scope_name] = holder
        self.built = True

    def call(self, features, cols_to_output_tensors=None, training=None):
        """The ``[batch, total width]`` float32 tensor of the columns' values.

        Args:
            features: A dict of feature tensors (dense, sparse or ragged).
            cols_to_output_tensors: If a dict, filled with each column's tensor.
            training: Unused (the columns behave the same in training).

        Returns:
            A float32 tensor.
        """
        outputs = []
        for column in self._feature_columns:
            holder = self._holders.get(column.scope_name)
            variables = None
            if holder is not None:
                variables = {"embedding_weights": holder.variable("embedding_weights")}
            where = f"DenseFeatures {self.name!r}, column {column.name!r}"
            output = dense_tensor(column, features, where, variables)
            if cols_to_output_tensors is not None:
                cols_to_output_tensors[column] = output
            outputs.append(output)
        return tf.concat(outputs, axis=1)


class LinearModel(keras.layers.Layer):
    """A layer computing linear logits ``[batch, units]`` from feature columns.

    As tf.estimator's ``LinearModel``: the sum over columns of each column's
    contribution, plus ``bias_weights``. A categorical column (and a bucketized
    one) contributes its ids' rows of ``weights [num_buckets, units]``,
    combined per example by ``sparse_combiner`` (a weighted categorical
    column's weights included); a dense column (numeric, indicator, embedding)
    contributes ``value @ weights [width, units]``. All weights start at zero.

    Args:
        feature_columns: Any columns, this package's or ``tf.feature_column``'s;
            categorical columns are used directly.
        units: The number of logits.
        sparse_combiner: ``"sum"``, ``"mean"`` or ``"sqrtn"`` over an example's
            ids of one categorical column.
        trainable: Whether the weights are trained.
        name: The layer's name (default ``linear_model``).
        **kwargs: Passed to ``keras.layers.Layer``.

    Raises:
        EstimatorSpecError: An argument is not usable, or two columns share a
            name.

    Example:
        >>> from components.trainer.estimator.feature_column import numeric_column
        >>> layer = LinearModel([numeric_column("x")], units=2, name="linear")
        >>> layer({"x": tf.constant([1.0, 2.0])}).numpy().tolist()
        [[0.0, 0.0], [0.0, 0.0]]
        >>> [v.path for v in layer.weights]
        ['linear/bias_weights', 'linear/numeric_weights']
    """

    def __init__(
        self,
        feature_columns,
        units=1,
        sparse_combiner="sum",
        trainable=True,
        name=None,
        **kwargs,
    ):
        super().__init__(trainable=trainable, name=name, **kwargs)
        self.units = check_int(units, "units", "LinearModel", 1)
        if sparse_combiner not in COMBINERS:
            raise EstimatorSpecError(
                f"LinearModel: sparse_combiner={sparse_combiner!r} is not one of "
                f"{list(COMBINERS)}."
            )
        self.sparse_combiner = sparse_combiner
        self._feature_columns = tuple(_sorted_columns(feature_columns, "LinearModel"))
        self._initializers = _initializers(self._feature_columns)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True

    @property
    def feature_columns(self) -> tuple:
        """The columns, sorted by name."""
        return self._feature_columns

    @property
    def bias(self):
        """The ``bias_weights`` variable (after the first call)."""
        return self.bias_weights

    def build(self, input_shape=None):
        """Creates ``bias_weights``, ``numeric_weights`` and the other columns'
        ``weights``."""
        self.bias_weights = self.add_weight(
            name="bias_weights", shape=(self.units,), initializer="zeros"
        )
        self._holders = {}
        self._numeric = [
            c for c in self._feature_columns if isinstance(c, NumericColumn)
        ]
        self.numeric_weights = None
        if self._numeric:
            # One variable for every numeric column: a variable per column cost
            # about 3 us per column and step to update (10 columns: 41 us against
            # 13 us for one [10, units] variable). Checkpoints still hold a slice
            # per column under tf.estimator's ``<column>/weights``.
            widths = [c.variable_shape.num_elements() for c in self._numeric]
            self.numeric_weights = self.add_weight(
                name="numeric_weights",
                shape=(sum(widths), self.units),
                initializer="zeros",
                dtype="float32",
            )
            self._numeric_rows, start = {}, 0
            for column, width in zip(self._numeric, widths):
                self._numeric_rows[column.name] = (start, start + width)
                start += width
            declare_checkpoint_slices(
                self.numeric_weights,
                [
                    (f"{c.scope_name}/weights", *self._numeric_rows[c.name])
                    for c in self._numeric
                ],
            )
        for column in self._feature_columns:
            if isinstance(column, NumericColumn):
                continue
            holder = _ColumnVariables(name=column.scope_name, trainable=self.trainable)
            if isinstance(column, EmbeddingColumn):
                _embedding_weights(
                    holder, column, self._initializers[column.scope_name]
                )
            if isinstance(column, CategoricalColumn):
                rows = column.num_buckets
            else:
                rows = column.variable_shape.num_elements()
            holder.add_weight(
                name="weights",
                shape=(rows, self.units),
                initializer="zeros",
                dtype="float32",
            )
            holder.built = True
            self._holders[column.scope_name] = holder
        self.built = True

    def column_weights(self, column_name: str) -> tf.Tensor:
        """A column's ``[width or num_buckets, units]`` weights (after the first call).

        A numeric column's are its slice of ``numeric_weights``.
        """
        for column in self._feature_columns:
            if column.name != column_name:
                continue
            if isinstance(column, NumericColumn):
                start, end = self._numeric_rows[column.name]
                return self.numeric_weights.value[start:end]
            return self._holders[column.scope_name].variable("weights")
        raise KeyError(
            f"LinearModel {self.name!r} has no column {column_name!r}; its columns: "
            f"{[c.name for c in self._feature_columns]}"
        )

    def call(self, features):
        """The logits: ``[batch, units]`` float32.

        Args:
            features: A dict of feature tensors (dense, sparse or ragged).

        Returns:
            A float32 tensor.
        """
        total = None
        if self._numeric:
            values = [
                dense_tensor(
                    c, features, f"LinearModel {self.name!r}, column {c.name!r}"
                )
                for c in self._numeric
            ]
            value = values[0] if len(values) == 1 else tf.concat(values, axis=1)
            weights = self.numeric_weights.value
            if value.shape[-1] == 1:
                # [batch, 1] x [1, units]: a broadcast product computes the same
                # as MatMul at less cost per step (forward and gradient).
                total = tf.multiply(value, weights)
            else:
                total = tf.matmul(value, weights)
        for column in self._feature_columns:
            if isinstance(column, NumericColumn):
                continue
            holder = self._holders[column.scope_name]
            weights = holder.variable("weights")
            where = f"LinearModel {self.name!r}, column {column.name!r}"
            if isinstance(column, CategoricalColumn):
                ids = categorical_ids(column, features, where)
                part = combine(ids, weights, self.sparse_combiner)
            else:
                variables = None
                if isinstance(column, EmbeddingColumn):
                    variables = {
                        "embedding_weights": holder.variable("embedding_weights")
                    }
                value = dense_tensor(column, features, where, variables)
                part = tf.matmul(value, weights)
            total = part if total is None else total + part
        return total + self.bias_weights.value
