"""Parse specs: the ``tf.io.parse_example`` spec that feeds a list of columns.

Example:
    >>> from components.trainer.estimator.feature_column.columns import numeric_column
    >>> make_parse_example_spec([numeric_column("age", default_value=-1.0)])
    {'age': FixedLenFeature(shape=(1,), dtype=tf.float32, default_value=[-1.0])}
"""

from __future__ import annotations

import tensorflow as tf

from components.trainer.estimator.errors import EstimatorSpecError
from components.trainer.estimator.feature_column.categorical import (
    CrossedColumn,
    WeightedCategoricalColumn,
)
from components.trainer.estimator.feature_column.columns import (
    BucketizedColumn,
    EmbeddingColumn,
    IndicatorColumn,
    NumericColumn,
    numeric_column,
)
from components.trainer.estimator.feature_column.convert import as_feature_columns


def make_parse_example_spec(feature_columns) -> dict:
    """The ``tf.io.parse_example`` spec for the features that ``feature_columns`` read.

    Numeric columns give ``FixedLenFeature(shape, dtype, default_value)``;
    categorical columns ``VarLenFeature(dtype)`` (a missing value is an empty
    list, hence no id). A feature named as a string key of a ``crossed_column``
    is ``VarLenFeature(tf.string)`` unless another column declares it (e.g.
    ``numeric_column('age')`` beside ``crossed_column(['age', 'sex'], ...)``),
    whose spec is then used. ``tf.feature_column`` objects are accepted.

    Args:
        feature_columns: An iterable of feature columns.

    Returns:
        ``{feature key: FixedLenFeature | VarLenFeature}``.

    Raises:
        EstimatorSpecError: Two columns parse the same feature differently, or an
            entry is not a feature column.

    Example:
        >>> from components.trainer.estimator.feature_column.categorical import (
        ...     categorical_column_with_vocabulary_list,
        ... )
        >>> sex = categorical_column_with_vocabulary_list("sex", ["male", "female"])
        >>> make_parse_example_spec([sex])
        {'sex': VarLenFeature(dtype=tf.string)}
    """
    spec: dict = {}
    owner: dict = {}
    weak: dict = {}
    for column in as_feature_columns(feature_columns):
        for key, feature, is_weak in _specs(column):
            if is_weak:
                weak.setdefault(key, (feature, column))
                continue
            if key in spec and spec[key] != feature:
                raise EstimatorSpecError(
                    f"make_parse_example_spec: columns {owner[key].name!r} and "
                    f"{column.name!r} parse feature {key!r} differently: "
                    f"{spec[key]} and {feature}. Declare the feature the same way "
                    "in both (same dtype, shape and default_value)."
                )
            spec[key] = feature
            owner[key] = column
    for key, (feature, _) in weak.items():
        spec.setdefault(key, feature)
    return dict(sorted(spec.items()))


def _specs(column):
    """(key, spec, weak) triples; a crossed column's string keys are weak."""
    if isinstance(column, CrossedColumn):
        for leaf in column.leaves():
            if isinstance(leaf, str):
                yield leaf, tf.io.VarLenFeature(tf.string), True
            else:
                yield from _specs(leaf)
    elif isinstance(column, (IndicatorColumn, EmbeddingColumn)):
        yield from _specs(column.categorical_column)
    elif isinstance(column, WeightedCategoricalColumn):
        yield from _specs(column.categorical_column)
        key = column.weight_feature_key
        yield key, tf.io.VarLenFeature(column.dtype), False
    elif isinstance(column, BucketizedColumn):
        yield from _specs(column.source_column)
    else:
        for key, feature in column.parse_example_spec.items():
            yield key, feature, False


def classifier_parse_example_spec(
    feature_columns,
    label_key: str,
    label_dtype=tf.int64,
    label_default=None,
    weight_column=None,
) -> dict:
    """The parse spec of the features, a classifier's label and its weight column.

    As tf.estimator's: the label is ``FixedLenFeature([1], label_dtype,
    label_default)`` (use ``tf.string`` with a label_vocabulary).

    Args:
        feature_columns: An iterable of feature columns.
        label_key: The label's feature name.
        label_dtype: The label's type.
        label_default: The label of an example without one; None: an error.
        weight_column: None, a feature name or a ``numeric_column`` of the
            example weights.

    Returns:
        The spec for ``tf.io.parse_example``.

    Raises:
        EstimatorSpecError: The label or weight is also a feature, or the spec
            cannot be made.

    Example:
        >>> spec = classifier_parse_example_spec([], "survived")
        >>> spec["survived"]
        FixedLenFeature(shape=(1,), dtype=tf.int64, default_value=None)
    """
    label = tf.io.FixedLenFeature((1,), tf.as_dtype(label_dtype), label_default)
    return _with_label(feature_columns, label_key, label, weight_column)


def regressor_parse_example_spec(
    feature_columns,
    label_key: str,
    label_dtype=tf.float32,
    label_default=None,
    label_dimension: int = 1,
    weight_column=None,
) -> dict:
    """The parse spec of the features, a regressor's label and its weight column.

    As tf.estimator's: the label is ``FixedLenFeature([label_dimension],
    label_dtype, label_default)``.

    Args:
        feature_columns: An iterable of feature columns.
        label_key: The label's feature name.
        label_dtype: The label's type.
        label_default: The label of an example without one; None: an error.
        label_dimension: The number of values in a label.
        weight_column: None, a feature name or a ``numeric_column`` of the
            example weights.

    Returns:
        The spec for ``tf.io.parse_example``.

    Raises:
        EstimatorSpecError: The label or weight is also a feature, or the spec
            cannot be made.

    Example:
        >>> regressor_parse_example_spec([], "tip", label_dimension=2)["tip"].shape
        (2,)
    """
    label = tf.io.FixedLenFeature(
        (label_dimension,), tf.as_dtype(label_dtype), label_default
    )
    return _with_label(feature_columns, label_key, label, weight_column)


def _with_label(feature_columns, label_key, label_spec, weight_column) -> dict:
    spec = make_parse_example_spec(feature_columns)
    if not isinstance(label_key, str) or not label_key:
        raise EstimatorSpecError(
            f"parse_example_spec: label_key must be the label's feature name; got "
            f"{label_key!r}."
        )
    if label_key in spec:
        raise EstimatorSpecError(
            f"parse_example_spec: label_key {label_key!r} is also read by a feature "
            "column; a label must not be a feature. Drop that column or rename "
            "the label."
        )
    spec[label_key] = label_spec
    if weight_column is None:
        return spec
    if isinstance(weight_column, str):
        weight_column = numeric_column(weight_column)
    (weight_column,) = as_feature_columns([weight_column])
    if not isinstance(weight_column, NumericColumn):
        raise EstimatorSpecError(
            "parse_example_spec: weight_column must be a feature name or a "
            f"numeric_column; got {weight_column!r}."
        )
    if weight_column.key in spec:
        raise EstimatorSpecError(
            f"parse_example_spec: weight_column {weight_column.key!r} is also a "
            "feature or the label; weights are a feature of their own."
        )
    spec.update(weight_column.parse_example_spec)
    return spec
