"""Feature columns: what a model reads from each feature, as immutable values.

The base classes, the dense columns (numeric, bucketized, indicator, embedding)
and the argument checks that every constructor shares. Constructors take
``tf.feature_column``'s arguments and defaults; columns are frozen dataclasses,
equal and hashable by value, named as TensorFlow named them. How a column turns
features into tensors is in ``transform.py``; the categorical columns are in
``categorical.py``.

Example:
    >>> age = numeric_column("age", default_value=-1.0)
    >>> bucketized_column(age, [18, 65]).name
    'age_bucketized'
"""

from __future__ import annotations

import abc
import dataclasses
import math
import numbers
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from components.trainer.estimator.errors import EstimatorSpecError

_INVALID_SCOPE_CHARACTERS = re.compile(r"[^A-Za-z0-9_.\-]")
COMBINERS = ("mean", "sqrtn", "sum")


class FeatureColumn(abc.ABC):
    """A feature column: a name and how the feature is parsed from a tf.Example.

    Example:
        >>> isinstance(numeric_column("age"), FeatureColumn)
        True
    """

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The column's name (variables and outputs are named after it)."""

    @property
    @abc.abstractmethod
    def parse_example_spec(self) -> dict:
        """``{feature key: tf.io.FixedLenFeature | VarLenFeature}`` to parse it."""

    @property
    def scope_name(self) -> str:
        """The name used in variable paths: characters outside ``[A-Za-z0-9_.-]``
        become ``_``, as TensorFlow did for variable scopes."""
        return _INVALID_SCOPE_CHARACTERS.sub("_", self.name)


class DenseColumn(FeatureColumn):
    """A column that is one dense float vector per example (DenseFeatures' input).

    Example:
        >>> numeric_column("xy", shape=2).variable_shape
        TensorShape([2])
    """

    @property
    @abc.abstractmethod
    def variable_shape(self) -> tf.TensorShape:
        """The shape of one example's value; DenseFeatures flattens it."""


class CategoricalColumn(FeatureColumn):
    """A column that is a set of ids in ``[0, num_buckets)`` per example.

    Example:
        >>> bucketized_column(numeric_column("age"), [18, 65]).num_buckets
        3
    """

    @property
    @abc.abstractmethod
    def num_buckets(self) -> int:
        """The number of distinct ids."""


# ---------------------------------------------------------------- checks


def from_tf_column(column, function: str):
    """``column``, a ``tf.feature_column`` object converted to this package's."""
    if isinstance(column, FeatureColumn) or not type(column).__module__.startswith(
        "tensorflow."
    ):
        return column
    from components.trainer.estimator.feature_column.convert import as_feature_column

    return as_feature_column(column, f"the column given to {function}")


def where_of(function: str, key: Any) -> str:
    """``function('key')``: how error messages name the column being built."""
    return f"{function}({key!r})"


def check_key(key, function: str, argument: str = "key") -> str:
    """A feature key: a non-empty string."""
    if not isinstance(key, str) or not key:
        raise EstimatorSpecError(
            f"{function}: {argument} must be a non-empty string naming a feature, "
            f"e.g. {function}('age'); got {key!r}."
        )
    return key


def check_int(value, argument: str, where: str, minimum: int) -> int:
    """An int (numpy ints too, not bools) of at least ``minimum``."""
    if (
        not isinstance(value, numbers.Integral)
        or isinstance(value, bool)
        or value < minimum
    ):
        raise EstimatorSpecError(
            f"{where}: {argument} must be an int >= {minimum}; got {value!r}."
        )
    return int(value)


def check_dtype(dtype, where: str, argument: str = "dtype") -> tf.DType:
    """A string or integer dtype."""
    dtype = as_dtype(dtype, where, argument)
    if dtype != tf.string and not dtype.is_integer:
        raise EstimatorSpecError(
            f"{where}: {argument}={dtype.name} is not supported; a categorical "
            "feature is tf.string or an integer type (tf.int64)."
        )
    return dtype


def as_dtype(dtype, where: str, argument: str = "dtype") -> tf.DType:
    """``tf.as_dtype`` with this package's error."""
    try:
        return tf.as_dtype(dtype)
    except TypeError:
        raise EstimatorSpecError(
            f"{where}: {argument}={dtype!r} is not a TensorFlow dtype; pass e.g. "
            "tf.float32, tf.int64 or tf.string."
        ) from None


# ---------------------------------------------------------------- numeric


@dataclasses.dataclass(frozen=True)
class NumericColumn(DenseColumn):
    """See ``numeric_column``."""

    key: str
    shape: tuple[int, ...]
    default_value: tuple | None
    dtype: tf.DType
    normalizer_fn: Callable | None

    @property
    def name(self) -> str:
        return self.key

    @property
    def parse_example_spec(self) -> dict:
        default = None if self.default_value is None else _as_list(self.default_value)
        return {self.key: tf.io.FixedLenFeature(self.shape, self.dtype, default)}

    @property
    def variable_shape(self) -> tf.TensorShape:
        return tf.TensorShape(self.shape)


def _as_list(value):
    return [_as_list(v) for v in value] if isinstance(value, tuple) else value


def numeric_column(
    key: str,
    shape=(1,),
    default_value=None,
    dtype=tf.float32,
    normalizer_fn: Callable | None = None,
) -> NumericColumn:
    """A real-valued feature (or a fixed-size vector of them).

    The feature may be a dense tensor of shape ``[batch] + shape`` (``[batch]``
    when ``shape`` is ``(1,)``), or a SparseTensor / RaggedTensor, which is made
    dense with ``default_value``. In a dense float feature a NaN is a missing
    value too: it becomes ``default_value`` when one is set (it stays NaN when
    not, as in TensorFlow).

    Args:
        key: The feature's name.
        shape: The shape of one example's value: an int or a tuple of ints.
        default_value: The value of a missing feature: a number, or an array of
            ``shape``; also the parse spec's default. None: a missing value is an
            error (in parsing; a sparse input without a default fails when the
            model is built).
        dtype: The feature's type, integer or floating; the column's output is
            always float32.
        normalizer_fn: A function applied to the ``[batch] + shape`` tensor
            after defaults are filled in, e.g. ``lambda x: (x - 3.0) / 4.2``.

    Returns:
        A ``NumericColumn``.

    Raises:
        EstimatorSpecError: An argument is not usable.

    Example:
        >>> numeric_column("age", default_value=-1.0).parse_example_spec
        {'age': FixedLenFeature(shape=(1,), dtype=tf.float32, default_value=[-1.0])}
    """
    key = check_key(key, "numeric_column")
    where = where_of("numeric_column", key)
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        shape = (shape,)
    # shape=() is tf.feature_column's scalar: one value per example, parsed as [batch].
    if not all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1
        for d in shape
    ):
        raise EstimatorSpecError(
            f"{where}: shape must be a positive int or a tuple of positive ints "
            f"(the shape of one example's value); got shape={shape!r}."
        )
    shape = tuple(int(d) for d in shape)
    dtype = as_dtype(dtype, where)
    if not (dtype.is_integer or dtype.is_floating):
        raise EstimatorSpecError(
            f"{where}: dtype={dtype.name} is not numeric; a numeric_column is an "
            "integer or floating type. Use a categorical_column_with_* for strings."
        )
    if normalizer_fn is not None and not callable(normalizer_fn):
        raise EstimatorSpecError(
            f"{where}: normalizer_fn must be a function of a tensor; got "
            f"{normalizer_fn!r}."
        )
    default_value = _default_value(default_value, shape, dtype, where)
    return NumericColumn(key, shape, default_value, dtype, normalizer_fn)


def _default_value(value, shape: tuple, dtype: tf.DType, where: str):
    if value is None:
        return None
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        array = None
    if array is None or (array.ndim and array.shape != shape):
        raise EstimatorSpecError(
            f"{where}: default_value must be a number or an array of shape {shape}; "
            f"got {value!r}."
        )
    array = np.broadcast_to(array, shape)
    if dtype.is_integer:
        if not np.all(np.mod(array, 1) == 0):
            raise EstimatorSpecError(
                f"{where}: default_value {value!r} is not an integer, but dtype is "
                f"{dtype.name}. Pass an integer or a floating dtype."
            )
        array = array.astype(np.int64)
    return _as_tuple(array.tolist())


def _as_tuple(value):
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list) else value


# ---------------------------------------------------------------- bucketized


@dataclasses.dataclass(frozen=True)
class BucketizedColumn(DenseColumn, CategoricalColumn):
    """See ``bucketized_column``."""

    source_column: NumericColumn
    boundaries: tuple[float, ...]

    @property
    def name(self) -> str:
        return f"{self.source_column.name}_bucketized"

    @property
    def parse_example_spec(self) -> dict:
        return self.source_column.parse_example_spec

    @property
    def variable_shape(self) -> tf.TensorShape:
        return tf.TensorShape(self.source_column.shape + (len(self.boundaries) + 1,))

    @property
    def num_buckets(self) -> int:
        return (len(self.boundaries) + 1) * self.source_column.shape[0]


def bucketized_column(source_column: NumericColumn, boundaries) -> BucketizedColumn:
    """A numeric feature cut into ranges: bucket ``i`` is ``[b[i-1], b[i])``.

    Boundaries ``[0, 10]`` make 3 buckets: below 0, ``[0, 10)`` and 10 or more.
    As a dense column it is one-hot (``[batch, k * (len(boundaries) + 1)]`` for a
    source of shape ``(k,)``); as a categorical column (in ``LinearModel``,
    ``crossed_column``) the id of element ``j`` is ``bucket + j * (len + 1)``.

    Args:
        source_column: A ``numeric_column`` of shape ``(k,)``.
        boundaries: Increasing numbers.

    Returns:
        A ``BucketizedColumn``.

    Raises:
        EstimatorSpecError: The source is not a 1-D numeric column, or the
            boundaries are empty or not increasing.

    Example:
        >>> age = numeric_column("age")
        >>> bucketized_column(age, [0, 10]).num_buckets
        3
    """
    where = "bucketized_column"
    source_column = from_tf_column(source_column, where)
    if not isinstance(source_column, NumericColumn):
        raise EstimatorSpecError(
            f"{where}: source_column must be a numeric_column; got "
            f"{source_column!r}. Write bucketized_column(numeric_column('age'), "
            "boundaries=[18, 65])."
        )
    where = f"bucketized_column({source_column.name!r})"
    if len(source_column.shape) != 1:
        raise EstimatorSpecError(
            f"{where}: the source column has shape {source_column.shape}; bucketize "
            "a column of shape (k,)"
            + (
                ": give its numeric_column shape=1 (the default) instead of shape=()."
                if source_column.shape == ()
                else "."
            )
        )
    if isinstance(boundaries, (str, bytes)) or not hasattr(boundaries, "__len__"):
        raise EstimatorSpecError(
            f"{where}: boundaries must be a list of increasing numbers; got "
            f"{boundaries!r}."
        )
    values = []
    for value in list(boundaries):
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise EstimatorSpecError(
                f"{where}: boundaries must be numbers; got {value!r} in {boundaries!r}."
            )
        values.append(float(value))
    if not values:
        raise EstimatorSpecError(
            f"{where}: boundaries is empty; pass at least one, e.g. [0.0]."
        )
    if any(math.isnan(v) for v in values):
        raise EstimatorSpecError(f"{where}: boundaries must not hold NaN.")
    for i in range(1, len(values)):
        if not values[i] > values[i - 1]:
            raise EstimatorSpecError(
                f"{where}: boundaries must increase, but boundaries[{i}]={values[i]} "
                f"is not greater than boundaries[{i - 1}]={values[i - 1]}. Pass "
                f"sorted(set(boundaries)) = {sorted(set(values))}."
            )
    return BucketizedColumn(source_column, tuple(values))


# ---------------------------------------------------------------- indicator


@dataclasses.dataclass(frozen=True)
class IndicatorColumn(DenseColumn):
    """See ``indicator_column``."""

    categorical_column: CategoricalColumn

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_indicator"

    @property
    def parse_example_spec(self) -> dict:
        return self.categorical_column.parse_example_spec

    @property
    def variable_shape(self) -> tf.TensorShape:
        return tf.TensorShape([self.categorical_column.num_buckets])

    @property
    def num_buckets(self) -> int:
        return self.categorical_column.num_buckets


def indicator_column(categorical_column: CategoricalColumn) -> IndicatorColumn:
    """A categorical column as a multi-hot vector of ``num_buckets`` counts.

    An id seen twice in an example counts 2; a weighted categorical column puts
    the sum of its weights; an example without ids is all zeros.

    Args:
        categorical_column: Any categorical column.

    Returns:
        An ``IndicatorColumn``.

    Raises:
        EstimatorSpecError: The argument is not a categorical column.

    Example:
        >>> from components.trainer.estimator.feature_column.categorical import (
        ...     categorical_column_with_vocabulary_list,
        ... )
        >>> sex = categorical_column_with_vocabulary_list("sex", ["male", "female"])
        >>> indicator_column(sex).name
        'sex_indicator'
    """
    categorical_column = from_tf_column(categorical_column, "indicator_column")
    _check_categorical(categorical_column, "indicator_column")
    return IndicatorColumn(categorical_column)


def _check_categorical(column, function: str) -> None:
    if not isinstance(column, CategoricalColumn):
        raise EstimatorSpecError(
            f"{function}: categorical_column must be a categorical column "
            "(categorical_column_with_*, bucketized_column, crossed_column, "
            f"weighted_categorical_column); got {column!r}."
        )


# ---------------------------------------------------------------- embedding


@dataclasses.dataclass(frozen=True)
class EmbeddingColumn(DenseColumn):
    """See ``embedding_column``."""

    categorical_column: CategoricalColumn
    dimension: int
    combiner: str = "mean"
    initializer: Callable | None = None
    ckpt_to_load_from: str | None = None
    tensor_name_in_ckpt: str | None = None
    max_norm: float | None = None
    trainable: bool = True
    use_safe_embedding_lookup: bool = True

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_embedding"

    @property
    def parse_example_spec(self) -> dict:
        return self.categorical_column.parse_example_spec

    @property
    def variable_shape(self) -> tf.TensorShape:
        return tf.TensorShape([self.dimension])

    def make_initializer(self) -> Callable:
        """The initializer of the ``[num_buckets, dimension]`` table: the one given,
        or TensorFlow's default, a truncated normal of stddev 1/sqrt(dimension)."""
        if self.initializer is not None:
            return self.initializer
        import keras

        return keras.initializers.TruncatedNormal(
            mean=0.0, stddev=1 / math.sqrt(self.dimension)
        )


def embedding_column(
    categorical_column: CategoricalColumn,
    dimension: int,
    combiner: str = "mean",
    initializer: Callable | None = None,
    ckpt_to_load_from: str | None = None,
    tensor_name_in_ckpt: str | None = None,
    max_norm: float | None = None,
    trainable: bool = True,
    use_safe_embedding_lookup: bool = True,
) -> EmbeddingColumn:
    """A categorical column as a learned vector: the example's ids' rows, combined.

    The layer that reads it creates the variable
    ``<layer name>/<column name>/embedding_weights`` of shape
    ``[num_buckets, dimension]``. An example's ids (weighted, for a weighted
    categorical column) are combined by ``combiner``; an example without ids
    gives zeros.

    Args:
        categorical_column: Any categorical column.
        dimension: The vector's size, >= 1.
        combiner: ``"mean"``, ``"sqrtn"`` or ``"sum"``: the weighted sum of the
            rows divided by the sum of the weights, by the square root of the sum
            of squared weights, or not divided.
        initializer: A callable ``(shape, dtype) -> tensor`` (a Keras or
            ``tf.compat.v1`` initializer); None: truncated normal with stddev
            ``1 / sqrt(dimension)``.
        ckpt_to_load_from: Not supported: warm-start the variable with
            ``Estimator(warm_start_from=WarmStartSettings(...))`` instead.
        tensor_name_in_ckpt: Not supported (see ``ckpt_to_load_from``).
        max_norm: If set, each row is clipped to this L2 norm before combining.
        trainable: Whether the table is trained.
        use_safe_embedding_lookup: As TensorFlow's: when True, ids whose weight
            is not positive are left out (a weighted column's zero weights).

    Returns:
        An ``EmbeddingColumn``.

    Raises:
        EstimatorSpecError: An argument is not usable.

    Example:
        >>> from components.trainer.estimator.feature_column.categorical import (
        ...     categorical_column_with_hash_bucket,
        ... )
        >>> city = categorical_column_with_hash_bucket("city", 100)
        >>> embedding_column(city, 8).variable_shape
        TensorShape([8])
    """
    categorical_column = from_tf_column(categorical_column, "embedding_column")
    _check_categorical(categorical_column, "embedding_column")
    where = f"embedding_column({categorical_column.name!r})"
    dimension = check_int(dimension, "dimension", where, 1)
    if combiner not in COMBINERS:
        raise EstimatorSpecError(
            f"{where}: combiner={combiner!r} is not one of {list(COMBINERS)}."
        )
    if initializer is not None and not callable(initializer):
        raise EstimatorSpecError(
            f"{where}: initializer must be callable (shape, dtype) -> tensor, e.g. "
            f"keras.initializers.TruncatedNormal(stddev=0.1); got {initializer!r}."
        )
    if ckpt_to_load_from is not None or tensor_name_in_ckpt is not None:
        raise EstimatorSpecError(
            f"{where}: ckpt_to_load_from / tensor_name_in_ckpt are not supported. "
            "Warm-start the table instead: Estimator(..., warm_start_from="
            "WarmStartSettings(ckpt_to_initialize_from=<checkpoint>, "
            "vars_to_warm_start='.*embedding_weights', var_name_to_prev_var_name="
            "{'<layer name>/" + f"{categorical_column.name}_embedding/"
            "embedding_weights': '<tensor_name_in_ckpt>'}))."
        )
    if max_norm is not None and (
        not isinstance(max_norm, numbers.Real)
        or isinstance(max_norm, bool)
        or not max_norm > 0
    ):
        raise EstimatorSpecError(
            f"{where}: max_norm must be None or a positive number; got {max_norm!r}."
        )
    return EmbeddingColumn(
        categorical_column,
        dimension,
        combiner,
        initializer,
        None,
        None,
        None if max_norm is None else float(max_norm),
        bool(trainable),
        bool(use_safe_embedding_lookup),
    )
