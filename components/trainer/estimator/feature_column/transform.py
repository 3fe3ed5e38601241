"""What a column makes of a dict of features: ids per example, or a dense tensor.

Features come from an input_fn or ``tf.io.parse_example``: dense tensors of shape
``[batch]`` or ``[batch, ...]``, SparseTensors (VarLenFeature) or RaggedTensors.
Every column reduces its feature to flat ``Ids``: the example (row) and id of
each value kept, with optional weights. Missing values are dropped: an absent
entry of a sparse or ragged feature; in a dense feature ``''``, ``-1`` and NaN.
Everything here is plain TensorFlow ops on constants — no lookup tables, no
resources — so it traces into any ``tf.function``, under any strategy.

Example:
    >>> from components.trainer.estimator.feature_column.categorical import (
    ...     categorical_column_with_vocabulary_list,
    ... )
    >>> sex = categorical_column_with_vocabulary_list("sex", ["male", "female"])
    >>> ids = categorical_ids(sex, {"sex": tf.constant(["female", "", "male"])}, "")
    >>> ids.rows.numpy().tolist(), ids.ids.numpy().tolist()
    ([0, 2], [1, 0])
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from components.trainer.estimator.errors import EstimatorSpecError
from components.trainer.estimator.feature_column.categorical import (
    CrossedColumn,
    HashedCategoricalColumn,
    IdentityCategoricalColumn,
    VocabularyFileCategoricalColumn,
    VocabularyListCategoricalColumn,
    WeightedCategoricalColumn,
)
from components.trainer.estimator.feature_column.columns import (
    BucketizedColumn,
    EmbeddingColumn,
    IndicatorColumn,
    NumericColumn,
)
from components.trainer.estimator.feature_column.lookup import (
    lookup_ids,
    oov_bucket_ids,
    vocabulary_index,
)


class Ids(NamedTuple):
    """A categorical column's ids for one batch, flat: id ``i`` is in row ``rows[i]``."""

    rows: tf.Tensor
    ids: tf.Tensor
    weights: tf.Tensor | None
    batch_size: tf.Tensor
    # Each row holds at most one id (a dense feature of one value per example).
    one_per_row: bool = False


class _Flat(NamedTuple):
    """A feature's values, flat, and the example (row) each value belongs to."""

    values: tf.Tensor
    batch_size: tf.Tensor
    dense: bool
    # Sparse: each value's row. Dense: None, rows follow from ``width``.
    value_rows: tf.Tensor | None = None
    # Dense: the values per example (a Python int when the shape says so).
    width: int | tf.Tensor = 1

    def rows(self, positions: tf.Tensor | None = None) -> tf.Tensor:
        """The row of every value, or of the values at ``positions``."""
        if not self.dense:
            if positions is None:
                return self.value_rows
            return tf.gather(self.value_rows, positions)
        if positions is None:
            positions = tf.range(tf.size(self.values, out_type=tf.int64))
        # A dense [batch, width] feature flattened: value i is in row i // width.
        # Cheaper per step than materializing every value's row and gathering.
        if isinstance(self.width, int) and self.width == 1:
            return positions
        return positions // self.width


# ---------------------------------------------------------------- reading features


def read_feature(features: Mapping, key: str, where: str):
    """``features[key]`` as a Tensor, SparseTensor or RaggedTensor.

    Raises:
        EstimatorSpecError: The key is missing, or its value is not a tensor.
    """
    if not isinstance(features, Mapping):
        raise EstimatorSpecError(
            f"{where}: features must be a dict of tensors keyed by feature name; "
            f"got {type(features).__name__}."
        )
    if key not in features:
        names = sorted(str(k) for k in features)
        lowered = {name.lower(): name for name in names}
        close = difflib.get_close_matches(key.lower(), list(lowered), n=1)
        hint = f" Did you mean {lowered[close[0]]!r}?" if close else ""
        raise EstimatorSpecError(
            f"{where} reads feature {key!r}, which is not among the features "
            f"{names}.{hint} Give it from the input_fn (or the parse spec), or "
            "drop the column."
        )
    value = features[key]
    if isinstance(value, tf.compat.v1.SparseTensorValue):
        value = tf.SparseTensor(value.indices, value.values, value.dense_shape)
    if isinstance(value, (tf.SparseTensor, tf.RaggedTensor)):
        return value
    try:
        return tf.convert_to_tensor(value)
    except (TypeError, ValueError) as error:
        raise EstimatorSpecError(
            f"{where}: feature {key!r} cannot be made a tensor ({error})."
        ) from None


def _flatten(value, key: str, where: str) -> _Flat:
    if isinstance(value, tf.RaggedTensor):
        value = value.to_sparse()
    if isinstance(value, tf.SparseTensor):
        return _Flat(
            value.values, value.dense_shape[0], False, value_rows=value.indices[:, 0]
        )
    if value.shape.rank == 0:
        raise EstimatorSpecError(
            f"{where}: feature {key!r} is a scalar; features are batches, of shape "
            "[batch] or [batch, ...]. Batch the dataset (dataset.batch(n))."
        )
    batch_size = tf.shape(value, out_type=tf.int64)[0]
    values = tf.reshape(value, [-1])
    element = value.shape[1:]
    if element.is_fully_defined():
        width = max(element.num_elements(), 1)
    else:
        size = tf.size(values, out_type=tf.int64)
        width = tf.maximum(size // tf.maximum(batch_size, 1), 1)
    return _Flat(values, batch_size, True, width=width)


def _present(values: tf.Tensor) -> tf.Tensor:
    """Where a dense feature's value is not missing ('' / -1 / NaN)."""
    if values.dtype == tf.string:
        return tf.not_equal(values, "")
    if values.dtype.is_integer:
        return tf.not_equal(values, tf.constant(-1, values.dtype))
    if values.dtype.is_floating:
        return tf.logical_not(tf.math.is_nan(values))
    return tf.ones_like(values, tf.bool)


def _check_kind(values: tf.Tensor, dtype: tf.DType, key: str, where: str) -> None:
    want_string = dtype == tf.string
    if values.dtype == tf.string and want_string:
        return
    if values.dtype.is_integer and not want_string:
        return
    want = "strings (tf.string)" if want_string else "integers"
    fix = (
        "dtype=tf.string and a vocabulary of strings"
        if values.dtype == tf.string
        else "an integer dtype (and vocabulary)"
        if values.dtype.is_integer
        else "a numeric_column or bucketized_column for a real-valued feature"
    )
    raise EstimatorSpecError(
        f"{where}: feature {key!r} is {values.dtype.name}, but the column reads "
        f"{want}. Give the feature as {want}, or use {fix}."
    )


# ---------------------------------------------------------------- categorical ids


def categorical_ids(column, features: Mapping, where: str) -> Ids:
    """A categorical column's ids (and weights) for a batch of features.

    Args:
        column: A categorical column of this package.
        features: The dict of features.
        where: The layer and column, for error messages.

    Returns:
        ``Ids``: every id is in ``[0, column.num_buckets)``.
    """
    return _ids(column, features, where)[0]


@functools.singledispatch
def _ids(column, features, where):
    """(Ids, positions in the feature's flat values or None, number of values)."""
    raise EstimatorSpecError(f"{where}: {column!r} is not a categorical column.")


def _keyed_ids(column, features, where, to_ids):
    """``to_ids(values)`` gives each value's id (a negative one is dropped, as is a
    missing value), or ``(ids, keep)`` when it tells which values to keep."""
    flat = _flatten(read_feature(features, column.key, where), column.key, where)
    ids = to_ids(flat.values)
    if isinstance(ids, tuple):
        ids, keep = ids
    else:
        keep = ids >= 0
        if flat.dense:
            keep = tf.logical_and(keep, _present(flat.values))
    positions = tf.where(keep)[:, 0]
    kept = Ids(
        flat.rows(positions),
        tf.gather(ids, positions),
        None,
        flat.batch_size,
        one_per_row=flat.dense and isinstance(flat.width, int) and flat.width == 1,
    )
    return kept, positions, tf.size(flat.values, out_type=tf.int64)


@_ids.register(VocabularyListCategoricalColumn)
@_ids.register(VocabularyFileCategoricalColumn)
def _vocabulary_ids(column, features, where):
    index = vocabulary_index(
        column.entries(), column.dtype == tf.string, f"{where} ({column.key})"
    )

    def to_ids(values):
        _check_kind(values, column.dtype, column.key, where)
        ids = lookup_ids(values, index)
        if column.num_oov_buckets:
            buckets = oov_bucket_ids(values, column.num_oov_buckets, index.size)
            return tf.where(ids >= 0, ids, buckets)
        if column.default_value != -1:
            return tf.where(ids >= 0, ids, tf.constant(column.default_value, tf.int64))
        return ids

    return _keyed_ids(column, features, where, to_ids)


@_ids.register(IdentityCategoricalColumn)
def _identity_ids(column, features, where):
    def to_ids(values):
        _check_kind(values, tf.int64, column.key, where)
        values = tf.cast(values, tf.int64)
        in_range = tf.logical_and(values >= 0, values < column.num_buckets)
        if column.default_value in (None, -1):
            # Every value out of range, the missing -1 included, is dropped.
            return values, in_range
        default = tf.constant(column.default_value, tf.int64)
        return tf.where(in_range, values, default)

    return _keyed_ids(column, features, where, to_ids)


@_ids.register(HashedCategoricalColumn)
def _hashed_ids(column, features, where):
    def to_ids(values):
        _check_kind(values, column.dtype, column.key, where)
        if values.dtype != tf.string:
            values = tf.strings.as_string(values)
        return tf.strings.to_hash_bucket_fast(values, column.hash_bucket_size)

    return _keyed_ids(column, features, where, to_ids)


@_ids.register(BucketizedColumn)
def _bucketized_ids(column, features, where):
    buckets = _buckets(column, features, where)
    width = column.source_column.shape[0]
    ids = buckets + (len(column.boundaries) + 1) * tf.range(width, dtype=tf.int64)
    batch_size = tf.shape(buckets, out_type=tf.int64)[0]
    rows = tf.repeat(tf.range(batch_size), width)
    return Ids(rows, tf.reshape(ids, [-1]), None, batch_size), None, None


def _buckets(column: BucketizedColumn, features, where) -> tf.Tensor:
    source = numeric_tensor(column.source_column, features, where)
    buckets = tf.raw_ops.Bucketize(input=source, boundaries=list(column.boundaries))
    return tf.cast(buckets, tf.int64)


@_ids.register(CrossedColumn)
def _crossed_ids(column, features, where):
    # tf.sparse.cross_hashed takes sparse inputs before dense ones; tf.estimator
    # passed dense raw features as dense inputs, so keeping that order keeps its ids.
    sparse, dense = [], []
    for leaf in column.leaves():
        if isinstance(leaf, str):
            value = read_feature(features, leaf, where)
            (dense if isinstance(value, tf.Tensor) else sparse).append(
                _raw_cross_input(value, leaf, where)
            )
        else:
            ids = categorical_ids(leaf, features, where)
            sparse.append(_as_sparse(ids.rows, ids.ids, ids.batch_size))
    crossed = tf.sparse.cross_hashed(
        sparse + dense, num_buckets=column.hash_bucket_size, hash_key=column.hash_key
    )
    ids = Ids(crossed.indices[:, 0], crossed.values, None, crossed.dense_shape[0])
    return ids, None, None


def _raw_cross_input(value, key: str, where: str) -> tf.SparseTensor:
    flat = _flatten(value, key, where)
    values = flat.values
    if values.dtype == tf.bool:
        raise EstimatorSpecError(
            f"{where}: feature {key!r} is bool; cross it as integers "
            "(tf.cast(x, tf.int64) in the input_fn)."
        )
    keep = _present(values) if flat.dense or values.dtype.is_floating else None
    if values.dtype != tf.string:
        values = tf.cast(values, tf.int64)
    rows = flat.rows()
    if keep is not None:
        rows, values = tf.boolean_mask(rows, keep), tf.boolean_mask(values, keep)
    return _as_sparse(rows, values, flat.batch_size)


def _as_sparse(rows, values, batch_size) -> tf.SparseTensor:
    """A [batch, n] SparseTensor of values, ordered by row as the cross op needs."""
    order = tf.argsort(rows, stable=True)
    count = tf.size(rows, out_type=tf.int64)
    indices = tf.stack([tf.gather(rows, order), tf.range(count)], axis=1)
    shape = tf.stack([batch_size, tf.maximum(count, 1)])
    return tf.SparseTensor(indices, tf.gather(values, order), shape)


@_ids.register(WeightedCategoricalColumn)
def _weighted_ids(column, features, where):
    ids, positions, count = _ids(column.categorical_column, features, where)
    key = column.weight_feature_key
    flat = _flatten(read_feature(features, key, where), key, where)
    if not (flat.values.dtype.is_floating or flat.values.dtype.is_integer):
        raise EstimatorSpecError(
            f"{where}: weight feature {key!r} is {flat.values.dtype.name}; weights "
            "are numbers."
        )
    check = tf.debugging.assert_equal(
        tf.size(flat.values, out_type=tf.int64),
        count,
        message=(
            f"{where}: weight feature {key!r} must have one value per value of "
            f"feature {column.categorical_column.key!r}"
        ),
    )
    with tf.control_dependencies([check] if check is not None else []):
        weights = tf.gather(tf.cast(flat.values, tf.float32), positions)
    return ids._replace(weights=weights), positions, count


# ---------------------------------------------------------------- dense tensors


def numeric_tensor(column: NumericColumn, features: Mapping, where: str) -> tf.Tensor:
    """A numeric column's ``[batch] + shape`` float32 tensor (defaults filled in,
    normalizer applied).

    Raises:
        EstimatorSpecError: The feature is not numeric, has the wrong shape, or is
            sparse without a default_value.
    """
    value = read_feature(features, column.key, where)
    dtype = value.dtype
    if not (dtype.is_integer or dtype.is_floating):
        raise EstimatorSpecError(
            f"{where}: feature {column.key!r} is {dtype.name}, but a numeric_column "
            "reads numbers. Use a categorical column (e.g. "
            f"categorical_column_with_vocabulary_list({column.key!r}, ...)) for it."
        )
    size = math.prod(column.shape)
    default = None
    if column.default_value is not None:
        default = np.reshape(np.asarray(column.default_value), [-1])
        default = tf.constant(default, dtype)
    if isinstance(value, (tf.SparseTensor, tf.RaggedTensor)):
        dense = _densify(value, column, size, default, where)
    else:
        dense = _dense_numeric(value, column, size, where)
        if default is not None and dtype.is_floating:
            dense = tf.where(tf.math.is_nan(dense), default[None, :], dense)
    # A few ops per column per step add up over many columns: reshape only when
    # the static shape is not already [batch] + shape, cast only when not float32.
    shape = dense.shape
    if shape.rank != 1 + len(column.shape) or shape[1:].as_list() != list(column.shape):
        dense = tf.reshape(dense, [-1, *column.shape])
    if column.normalizer_fn is not None:
        dense = column.normalizer_fn(dense)
    if dense.dtype != tf.float32:
        dense = tf.cast(dense, tf.float32)
    return dense


def _dense_numeric(value: tf.Tensor, column: NumericColumn, size: int, where):
    if value.shape.rank == 0:
        raise EstimatorSpecError(
            f"{where}: feature {column.key!r} is a scalar; features are batches of "
            "shape [batch] or [batch, ...]. Batch the dataset."
        )
    element = value.shape[1:]
    if element.is_fully_defined() and element.num_elements() != size:
        raise EstimatorSpecError(
            f"{where}: feature {column.key!r} has shape {value.shape} (batch first) "
            f"but numeric_column({column.key!r}) has shape={column.shape}. Pass "
            f"shape={tuple(element.as_list()) or (1,)} to numeric_column."
        )
    if value.shape.rank == 2 and value.shape[1] == size:
        return value
    return tf.reshape(value, [-1, size])


def _densify(value, column: NumericColumn, size: int, default, where: str):
    if default is None:
        raise EstimatorSpecError(
            f"{where}: feature {column.key!r} is a {type(value).__name__} (values may "
            f"be missing) but numeric_column({column.key!r}) has no default_value. "
            "Set default_value (e.g. numeric_column(key, default_value=0.0)), the "
            "value a missing entry takes."
        )
    if isinstance(value, tf.RaggedTensor):
        value = value.to_sparse()
    batch_size = value.dense_shape[0]
    if value.shape.rank != 2:
        value = tf.sparse.reshape(value, tf.stack([batch_size, -1]))
    columns = value.indices[:, 1]
    check = tf.debugging.assert_less(
        columns,
        tf.constant(size, tf.int64),
        message=(
            f"{where}: feature {column.key!r} has more than {size} values in an "
            f"example; numeric_column({column.key!r}) has shape={column.shape}"
        ),
    )
    with tf.control_dependencies([check] if check is not None else []):
        shape = tf.stack([batch_size, tf.constant(size, tf.int64)])
        values = tf.scatter_nd(value.indices, value.values, shape)
        present = tf.scatter_nd(value.indices, tf.ones_like(columns, tf.int32), shape)
    return tf.where(present > 0, values, default[None, :])


def dense_tensor(column, features: Mapping, where: str, variables=None) -> tf.Tensor:
    """A dense column's ``[batch, width]`` float32 tensor (DenseFeatures' part).

    Args:
        column: A numeric, bucketized, indicator or embedding column.
        features: The dict of features.
        where: The layer and column, for error messages.
        variables: The column's variables by name (``embedding_weights``).

    Returns:
        The tensor; ``width`` is ``column.variable_shape.num_elements()``.
    """
    width = column.variable_shape.num_elements()
    if isinstance(column, NumericColumn):
        out = numeric_tensor(column, features, where)
    elif isinstance(column, BucketizedColumn):
        out = tf.one_hot(_buckets(column, features, where), len(column.boundaries) + 1)
    elif isinstance(column, IndicatorColumn):
        ids = categorical_ids(column.categorical_column, features, where)
        weights = ids.weights
        if weights is None:
            weights = tf.ones_like(ids.ids, tf.float32)
        out = tf.scatter_nd(
            tf.stack([ids.rows, ids.ids], 1),
            weights,
            tf.stack([ids.batch_size, tf.constant(width, tf.int64)]),
        )
    elif isinstance(column, EmbeddingColumn):
        ids = categorical_ids(column.categorical_column, features, where)
        out = combine(
            ids,
            variables["embedding_weights"],
            column.combiner,
            column.max_norm,
            column.use_safe_embedding_lookup,
        )
    else:
        raise EstimatorSpecError(f"{where}: {column!r} is not a dense column.")
    if out.shape.rank == 2 and out.shape[1] == width:
        return out
    return tf.reshape(out, [-1, width])


def combine(
    ids: Ids, table, combiner: str, max_norm=None, drop_nonpositive_weights=True
) -> tf.Tensor:
    """Each row's ids' rows of ``table``, weighted and combined: ``[batch, dim]``.

    ``sum``: the weighted sum; ``mean``: divided by the sum of the weights;
    ``sqrtn``: divided by the square root of the sum of the squared weights. A row
    without ids gives zeros. As ``tf.nn.safe_embedding_lookup_sparse``: ids whose
    weight is not positive are dropped (``drop_nonpositive_weights``), and with
    ``max_norm`` each looked-up row is clipped to that L2 norm first.
    """
    rows, values, weights = ids.rows, ids.ids, ids.weights
    if weights is not None and drop_nonpositive_weights:
        keep = weights > 0
        rows = tf.boolean_mask(rows, keep)
        values = tf.boolean_mask(values, keep)
        weights = tf.boolean_mask(weights, keep)
    vectors = tf.gather(table, values)
    if max_norm is not None:
        vectors = tf.clip_by_norm(vectors, max_norm, axes=[1])
    if weights is not None:
        vectors = vectors * weights[:, None]
    total = _sum_by_row(vectors, rows, ids.batch_size)
    if combiner == "sum" or (ids.one_per_row and weights is None):
        # One id of weight 1 per row (or none): its mean and sqrtn are the sum.
        return total
    if weights is None:
        weights = tf.ones_like(rows, tf.float32)
    if combiner == "mean":
        norm = tf.math.unsorted_segment_sum(weights, rows, ids.batch_size)
    else:
        norm = tf.sqrt(tf.math.unsorted_segment_sum(weights**2, rows, ids.batch_size))
    return tf.math.divide_no_nan(total, norm[:, None])


@tf.custom_gradient
def _sum_by_row(values: tf.Tensor, rows: tf.Tensor, batch_size: tf.Tensor):
    """``[batch_size, ...]``: the sum of the ``values`` of each row.

    ``unsorted_segment_sum``, with the gradient it has for rows that are never
    negative, as ``Ids`` rows are: one gather. Its own gradient also masks out
    negative segment ids, about ten ops more in every training step.
    """

    def gradient(upstream):
        return tf.gather(upstream, rows), None, None

    return tf.math.unsorted_segment_sum(values, rows, batch_size), gradient
