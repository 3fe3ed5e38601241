"""``tf.feature_column`` objects, taken as they are and rebuilt as this package's.

TensorFlow 2.21 still has ``tf.feature_column``; its columns are namedtuples whose
fields are the constructor's arguments, so each is rebuilt with the constructor of
the same name here (and checked by it). Sequence and shared-embedding columns
have no counterpart and are refused with what to use instead.

Example:
    >>> import tensorflow as tf
    >>> (age,) = as_feature_columns([tf.feature_column.numeric_column("age")])
    >>> type(age).__module__, age.key
    ('components.trainer.estimator.feature_column.columns', 'age')
"""

from __future__ import annotations

import math

from components.trainer.estimator.errors import EstimatorSpecError
from components.trainer.estimator.feature_column import categorical, columns
from components.trainer.estimator.feature_column.columns import FeatureColumn

_UNSUPPORTED = {
    "SequenceCategoricalColumn": (
        "sequence feature columns need SequenceFeatures and a recurrent model, "
        "which this package does not have. Use a categorical_column_with_* "
        "column (one set of ids per example), or read the sequence in a Keras "
        "model inside your own model_fn."
    ),
    "SequenceNumericColumn": (
        "sequence feature columns need SequenceFeatures and a recurrent model, "
        "which this package does not have. Use numeric_column(key, shape=(n,)) "
        "for a fixed-length sequence, or read it in your own model_fn."
    ),
    "SharedEmbeddingColumn": (
        "shared embeddings are not supported. Use one embedding_column per "
        "categorical column (each with its own table), or share a "
        "keras.layers.Embedding in your own model_fn."
    ),
}


def as_feature_columns(feature_columns) -> list[FeatureColumn]:
    """This package's columns for a list of columns, ``tf.feature_column`` ones too.

    Every layer and ``make_parse_example_spec`` calls it; call it to check columns
    early (e.g. when an estimator is constructed).

    Args:
        feature_columns: A feature column, or an iterable of them: this package's
            or ``tf.feature_column``'s.

    Returns:
        The columns, in the order given; ``tf.feature_column`` objects converted.

    Raises:
        EstimatorSpecError: An entry is not a feature column or has no
            counterpart here (sequence and shared-embedding columns).

    Example:
        >>> import tensorflow as tf
        >>> sex = tf.feature_column.categorical_column_with_vocabulary_list(
        ...     "sex", ["male", "female"])
        >>> [c.name for c in as_feature_columns(tf.feature_column.indicator_column(sex))]
        ['sex_indicator']
    """
    if isinstance(feature_columns, FeatureColumn) or _is_tf_column(feature_columns):
        feature_columns = [feature_columns]
    if isinstance(feature_columns, (str, bytes, dict)) or not hasattr(
        feature_columns, "__iter__"
    ):
        raise EstimatorSpecError(
            "feature_columns must be a list of feature columns (numeric_column(...), "
            f"...); got {type(feature_columns).__name__} {feature_columns!r}."
        )
    return [
        as_feature_column(column, f"feature_columns[{i}]")
        for i, column in enumerate(feature_columns)
    ]


def as_feature_column(column, where: str) -> FeatureColumn:
    """One column as this package's (see ``as_feature_columns``).

    Args:
        column: A feature column, this package's or ``tf.feature_column``'s.
        where: How error messages name it, e.g. ``"feature_columns[2]"``.

    Returns:
        The column, converted if it was ``tf.feature_column``'s.

    Raises:
        EstimatorSpecError: It is not a feature column or has no counterpart.

    Example:
        >>> import tensorflow as tf
        >>> as_feature_column(tf.feature_column.numeric_column("x"), "x").name
        'x'
    """
    try:
        return _convert(column, where)
    except EstimatorSpecError as error:
        if str(error).startswith(where):
            raise
        kind = type(column).__name__.lstrip("_")
        raise EstimatorSpecError(
            f"{where} (tf.feature_column's {kind}): {error}"
        ) from None


def _is_tf_column(value) -> bool:
    module = type(value).__module__
    return module.startswith("tensorflow.") and "feature_column" in module


def _convert(column, where: str):
    if isinstance(column, FeatureColumn):
        return column
    if not _is_tf_column(column):
        raise EstimatorSpecError(
            f"{where} is {column!r}, not a feature column. Build columns with "
            "numeric_column, categorical_column_with_*, bucketized_column, "
            "indicator_column, embedding_column, crossed_column, ... (or "
            "tf.feature_column's)."
        )
    kind = type(column).__name__.lstrip("_")
    if kind in _UNSUPPORTED:
        raise EstimatorSpecError(
            f"{where} is tf.feature_column's {kind} "
            f"{getattr(column, 'name', column)!r}: {_UNSUPPORTED[kind]}"
        )
    convert = _CONVERTERS.get(kind)
    if convert is None:
        raise EstimatorSpecError(
            f"{where} is tf.feature_column's {kind}, which has no counterpart here. "
            f"Supported: {sorted(_CONVERTERS)}."
        )
    return convert(column, where)


def _numeric(c, where):
    return columns.numeric_column(
        c.key, c.shape, c.default_value, c.dtype, c.normalizer_fn
    )


def _bucketized(c, where):
    return columns.bucketized_column(_convert(c.source_column, where), c.boundaries)


def _vocabulary_list(c, where):
    return categorical.categorical_column_with_vocabulary_list(
        c.key, c.vocabulary_list, c.dtype, c.default_value, c.num_oov_buckets
    )


def _vocabulary_file(c, where):
    file_format = getattr(c, "file_format", None)
    if file_format not in (None, "text"):
        raise EstimatorSpecError(
            f"{where}: vocabulary file format {file_format!r} is not supported; "
            "write the vocabulary as a text file, one entry per line."
        )
    return categorical.categorical_column_with_vocabulary_file(
        c.key,
        c.vocabulary_file,
        c.vocabulary_size,
        c.dtype,
        c.default_value,
        c.num_oov_buckets,
    )


def _identity(c, where):
    return categorical.categorical_column_with_identity(
        c.key, c.number_buckets, c.default_value
    )


def _hashed(c, where):
    return categorical.categorical_column_with_hash_bucket(
        c.key, c.hash_bucket_size, c.dtype
    )


def _indicator(c, where):
    return columns.indicator_column(_convert(c.categorical_column, where))


def _embedding(c, where):
    return columns.embedding_column(
        _convert(c.categorical_column, where),
        c.dimension,
        c.combiner,
        None if _is_default_initializer(c.initializer, c.dimension) else c.initializer,
        c.ckpt_to_load_from,
        c.tensor_name_in_ckpt,
        c.max_norm,
        c.trainable,
        getattr(c, "use_safe_embedding_lookup", True),
    )


def _is_default_initializer(initializer, dimension) -> bool:
    """tf's embedding_column fills in truncated_normal(0, 1/sqrt(dimension))."""
    return (
        type(initializer).__name__ == "TruncatedNormal"
        and type(initializer).__module__.startswith("tensorflow.")
        and getattr(initializer, "mean", None) == 0.0
        and math.isclose(getattr(initializer, "stddev", 0.0), 1 / math.sqrt(dimension))
        and getattr(initializer, "seed", None) is None
    )


def _crossed(c, where):
    keys = [k if isinstance(k, str) else _convert(k, where) for k in c.keys]
    return categorical.crossed_column(keys, c.hash_bucket_size, c.hash_key)


def _weighted(c, where):
    return categorical.weighted_categorical_column(
        _convert(c.categorical_column, where), c.weight_feature_key, c.dtype
    )


_CONVERTERS = {
    "NumericColumn": _numeric,
    "BucketizedColumn": _bucketized,
    "VocabularyListCategoricalColumn": _vocabulary_list,
    "VocabularyFileCategoricalColumn": _vocabulary_file,
    "IdentityCategoricalColumn": _identity,
    "HashedCategoricalColumn": _hashed,
    "IndicatorColumn": _indicator,
    "EmbeddingColumn": _embedding,
    "CrossedColumn": _crossed,
    "WeightedCategoricalColumn": _weighted,
}
