"""Categorical columns: a feature's values as ids in ``[0, num_buckets)``.

Vocabulary (list or file), identity and hash-bucket columns read one feature;
a crossed column hashes combinations of features; a weighted column pairs a
column's ids with weights from a second feature. Missing values give no id: an
absent entry of a SparseTensor, and in a dense feature ``''`` (strings) or
``-1`` (integers), as in tf.estimator.

Example:
    >>> sex = categorical_column_with_vocabulary_list("sex", ["male", "female"])
    >>> crossed_column(["age", sex], hash_bucket_size=100).name
    'age_X_sex'
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from components.trainer.estimator.errors import EstimatorSpecError
from components.trainer.estimator.feature_column.columns import (
    CategoricalColumn,
    as_dtype,
    check_dtype,
    check_int,
    check_key,
    from_tf_column,
    where_of,
)
from components.trainer.estimator.feature_column.lookup import (
    normalize_vocabulary,
    read_vocabulary_file,
)


def _check_oov(default_value, num_oov_buckets, vocabulary_size: int, where: str):
    num_oov_buckets = check_int(num_oov_buckets, "num_oov_buckets", where, 0)
    default_value = check_int(default_value, "default_value", where, -1)
    if num_oov_buckets and default_value != -1:
        raise EstimatorSpecError(
            f"{where}: default_value={default_value} and num_oov_buckets="
            f"{num_oov_buckets} are both set; an out-of-vocabulary value gets "
            "either one id (default_value) or a hash bucket (num_oov_buckets). "
            "Pass one of them."
        )
    if default_value >= vocabulary_size:
        raise EstimatorSpecError(
            f"{where}: default_value={default_value} is not an id of the "
            f"vocabulary (0 to {vocabulary_size - 1}); pass one of those, or -1 "
            "to drop out-of-vocabulary values."
        )
    return default_value, num_oov_buckets


# ---------------------------------------------------------------- vocabulary list


@dataclasses.dataclass(frozen=True)
class VocabularyListCategoricalColumn(CategoricalColumn):
    """See ``categorical_column_with_vocabulary_list``."""

    key: str
    vocabulary_list: tuple
    dtype: tf.DType
    default_value: int = -1
    num_oov_buckets: int = 0

    @property
    def name(self) -> str:
        return self.key

    @property
    def parse_example_spec(self) -> dict:
        return {self.key: tf.io.VarLenFeature(self.dtype)}

    @property
    def num_buckets(self) -> int:
        return len(self.vocabulary_list) + self.num_oov_buckets

    def entries(self) -> tuple:
        """The vocabulary (None for a missing-value entry, which matches nothing)."""
        return self.vocabulary_list


def categorical_column_with_vocabulary_list(
    key: str,
    vocabulary_list,
    dtype=None,
    default_value: int = -1,
    num_oov_buckets: int = 0,
) -> VocabularyListCategoricalColumn:
    """A string or integer feature whose id is its position in ``vocabulary_list``.

    An out-of-vocabulary value gets ``default_value`` (-1: no id) or, with
    ``num_oov_buckets``, the id ``len(vocabulary_list) + hash(value) %
    num_oov_buckets`` (tf.lookup's hash: ``tf.strings.to_hash_bucket_fast`` of the
    value, integers as strings). A pandas ``.unique()`` array works as is; its
    missing entries (NaN, None) keep their position and match no input.

    Args:
        key: The feature's name.
        vocabulary_list: The values, strings or integers, without repeats.
        dtype: The feature's type (tf.string or an integer type); None: taken
            from the vocabulary (tf.string or tf.int64).
        default_value: The id of an out-of-vocabulary value, or -1 for none.
        num_oov_buckets: The number of hash buckets for out-of-vocabulary values.

    Returns:
        A ``VocabularyListCategoricalColumn``.

    Raises:
        EstimatorSpecError: The vocabulary is empty, repeats a value, mixes types,
            or does not match dtype; or the out-of-vocabulary options conflict.

    Example:
        >>> column = categorical_column_with_vocabulary_list("pclass", [1, 2, 3])
        >>> column.dtype, column.num_buckets
        (tf.int64, 3)
    """
    key = check_key(key, "categorical_column_with_vocabulary_list")
    where = where_of("categorical_column_with_vocabulary_list", key)
    entries, is_string = normalize_vocabulary(vocabulary_list, where)
    inferred = tf.string if is_string else tf.int64
    if dtype is None:
        dtype = inferred
    dtype = check_dtype(dtype, where)
    if (dtype == tf.string) != is_string:
        raise EstimatorSpecError(
            f"{where}: dtype={dtype.name} but the vocabulary holds "
            f"{'strings' if is_string else 'integers'} ({entries[:4]!r}). Pass "
            f"dtype={inferred!r} or a vocabulary of the feature's type."
        )
    default_value, num_oov_buckets = _check_oov(
        default_value, num_oov_buckets, len(entries), where
    )
    return VocabularyListCategoricalColumn(
        key, entries, dtype, default_value, num_oov_buckets
    )


# ---------------------------------------------------------------- vocabulary file


@dataclasses.dataclass(frozen=True)
class VocabularyFileCategoricalColumn(CategoricalColumn):
    """See ``categorical_column_with_vocabulary_file``."""

    key: str
    vocabulary_file: str
    vocabulary_size: int
    num_oov_buckets: int
    dtype: tf.DType
    default_value: int

    @property
    def name(self) -> str:
        return self.key

    @property
    def parse_example_spec(self) -> dict:
        return {self.key: tf.io.VarLenFeature(self.dtype)}

    @property
    def num_buckets(self) -> int:
        return self.vocabulary_size + self.num_oov_buckets

    def entries(self) -> tuple:
        """The vocabulary: the file's first ``vocabulary_size`` lines."""
        return read_vocabulary_file(
            self.vocabulary_file,
            self.vocabulary_size,
            self.dtype == tf.string,
            where_of("categorical_column_with_vocabulary_file", self.key),
        )


def categorical_column_with_vocabulary_file(
    key: str,
    vocabulary_file: str,
    vocabulary_size: int | None = None,
    dtype=tf.string,
    default_value: int | None = None,
    num_oov_buckets: int = 0,
) -> VocabularyFileCategoricalColumn:
    """Like ``categorical_column_with_vocabulary_list``, the vocabulary in a file.

    The file (any ``tf.io.gfile`` path) holds one entry per line; the id of an
    entry is its line number from 0. It is read here, to check it, and again
    when a model is built; its entries become constants of the model (no lookup
    table, no asset in the SavedModel).

    Args:
        key: The feature's name.
        vocabulary_file: The file's path.
        vocabulary_size: How many lines, from the top, are the vocabulary; None:
            all of them.
        dtype: The feature's type: tf.string, or an integer type (lines are
            parsed as integers).
        default_value: The id of an out-of-vocabulary value; None (-1): no id.
        num_oov_buckets: The number of hash buckets for out-of-vocabulary values.

    Returns:
        A ``VocabularyFileCategoricalColumn``.

    Raises:
        EstimatorSpecError: The file is missing, shorter than vocabulary_size,
            repeats an entry; or another argument is not usable.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "states.txt"
        >>> _ = path.write_text("CA\\nNY\\nTX\\n")
        >>> categorical_column_with_vocabulary_file("state", str(path)).num_buckets
        3
    """
    key = check_key(key, "categorical_column_with_vocabulary_file")
    where = where_of("categorical_column_with_vocabulary_file", key)
    if not isinstance(vocabulary_file, str) or not vocabulary_file:
        raise EstimatorSpecError(
            f"{where}: vocabulary_file must be the path of a text file with one "
            f"entry per line; got {vocabulary_file!r}."
        )
    dtype = check_dtype(dtype, where)
    if vocabulary_size is not None:
        vocabulary_size = check_int(vocabulary_size, "vocabulary_size", where, 1)
    entries = read_vocabulary_file(
        vocabulary_file, vocabulary_size, dtype == tf.string, where
    )
    default_value, num_oov_buckets = _check_oov(
        -1 if default_value is None else default_value,
        num_oov_buckets,
        len(entries),
        where,
    )
    return VocabularyFileCategoricalColumn(
        key, vocabulary_file, len(entries), num_oov_buckets, dtype, default_value
    )


# ---------------------------------------------------------------- identity


@dataclasses.dataclass(frozen=True)
class IdentityCategoricalColumn(CategoricalColumn):
    """See ``categorical_column_with_identity``."""

    key: str
    number_buckets: int
    default_value: int | None = None

    @property
    def name(self) -> str:
        return self.key

    @property
    def parse_example_spec(self) -> dict:
        return {self.key: tf.io.VarLenFeature(tf.int64)}

    @property
    def num_buckets(self) -> int:
        return self.number_buckets


def categorical_column_with_identity(
    key: str, num_buckets: int, default_value: int | None = None
) -> IdentityCategoricalColumn:
    """An integer feature that is its own id, in ``[0, num_buckets)``.

    A value outside the range gets ``default_value``, or no id when it is None
    (tf.estimator failed at run time on values >= num_buckets).

    Args:
        key: The feature's name.
        num_buckets: The number of ids.
        default_value: The id of an out-of-range value, or None.

    Returns:
        An ``IdentityCategoricalColumn``.

    Raises:
        EstimatorSpecError: num_buckets < 1 or default_value out of range.

    Example:
        >>> categorical_column_with_identity("hour", 24).num_buckets
        24
    """
    key = check_key(key, "categorical_column_with_identity")
    where = where_of("categorical_column_with_identity", key)
    num_buckets = check_int(num_buckets, "num_buckets", where, 1)
    if default_value is not None:
        default_value = check_int(default_value, "default_value", where, 0)
        if default_value >= num_buckets:
            raise EstimatorSpecError(
                f"{where}: default_value={default_value} is not in [0, "
                f"{num_buckets}); pass an id in that range, or None to drop "
                "out-of-range values."
            )
    return IdentityCategoricalColumn(key, num_buckets, default_value)


# ---------------------------------------------------------------- hash bucket


@dataclasses.dataclass(frozen=True)
class HashedCategoricalColumn(CategoricalColumn):
    """See ``categorical_column_with_hash_bucket``."""

    key: str
    hash_bucket_size: int
    dtype: tf.DType = tf.string

    @property
    def name(self) -> str:
        return self.key

    @property
    def parse_example_spec(self) -> dict:
        return {self.key: tf.io.VarLenFeature(self.dtype)}

    @property
    def num_buckets(self) -> int:
        return self.hash_bucket_size


def categorical_column_with_hash_bucket(
    key: str, hash_bucket_size: int, dtype=tf.string
) -> HashedCategoricalColumn:
    """A string or integer feature hashed into ``hash_bucket_size`` ids.

    The id is ``tf.strings.to_hash_bucket_fast(value, hash_bucket_size)``;
    integers are hashed as their decimal strings, as in TensorFlow.

    Args:
        key: The feature's name.
        hash_bucket_size: The number of ids, >= 1.
        dtype: The feature's type: tf.string or an integer type.

    Returns:
        A ``HashedCategoricalColumn``.

    Raises:
        EstimatorSpecError: An argument is not usable.

    Example:
        >>> categorical_column_with_hash_bucket("city", 100).parse_example_spec
        {'city': VarLenFeature(dtype=tf.string)}
    """
    key = check_key(key, "categorical_column_with_hash_bucket")
    where = where_of("categorical_column_with_hash_bucket", key)
    hash_bucket_size = check_int(hash_bucket_size, "hash_bucket_size", where, 1)
    return HashedCategoricalColumn(key, hash_bucket_size, check_dtype(dtype, where))


# ---------------------------------------------------------------- crossed


@dataclasses.dataclass(frozen=True)
class CrossedColumn(CategoricalColumn):
    """See ``crossed_column``."""

    keys: tuple
    hash_bucket_size: int
    hash_key: int | None = None

    @property
    def name(self) -> str:
        return "_X_".join(
            sorted(k if isinstance(k, str) else k.name for k in self.leaves())
        )

    @property
    def parse_example_spec(self) -> dict:
        spec = {}
        for leaf in self.leaves():
            if isinstance(leaf, str):
                spec[leaf] = tf.io.VarLenFeature(tf.string)
            else:
                spec.update(leaf.parse_example_spec)
        return spec

    @property
    def num_buckets(self) -> int:
        return self.hash_bucket_size

    def leaves(self) -> list:
        """The keys, with nested crossed columns replaced by their keys."""
        out = []
        for key in self.keys:
            out.extend(key.leaves() if isinstance(key, CrossedColumn) else [key])
        return out


def crossed_column(keys, hash_bucket_size: int, hash_key: int | None = None):
    """Combinations of categorical features, hashed into ``hash_bucket_size`` ids.

    Each example's ids are the hashes of every combination of one value from each
    key (``tf.sparse.cross_hashed``, with ``hash_key`` defaulting to
    TensorFlow's ``0xDECAFCAFFE``), computed as tf.estimator did, so ids equal
    its ids. A key is a feature name (a string, or integer, feature used as is;
    a float feature is truncated to an integer, as tf.estimator's cross did, so
    bucketize it for other ranges) or a categorical column (its ids are
    crossed). A missing value in any key leaves the example without crossed ids.

    Args:
        keys: Two or more feature names, categorical columns (not hash-bucket or
            weighted columns) or crossed columns.
        hash_bucket_size: The number of ids, >= 1.
        hash_key: The key of the fingerprint that combines the crossed values.

    Returns:
        A ``CrossedColumn``.

    Raises:
        EstimatorSpecError: Fewer than two keys, or a key that cannot be crossed.

    Example:
        >>> crossed_column(["age", "sex"], hash_bucket_size=100).num_buckets
        100
    """
    where = "crossed_column"
    if isinstance(keys, (str, bytes)) or not hasattr(keys, "__iter__"):
        raise EstimatorSpecError(
            f"{where}: keys must be a list of two or more feature names or "
            f"categorical columns; got {keys!r}."
        )
    keys = tuple(k if isinstance(k, str) else from_tf_column(k, where) for k in keys)
    names = [k if isinstance(k, str) else getattr(k, "name", k) for k in keys]
    where = f"crossed_column({names!r})"
    if len(keys) < 2:
        raise EstimatorSpecError(
            f"{where}: keys needs two or more entries to cross; got {len(keys)}."
        )
    for key in keys:
        if isinstance(key, str):
            check_key(key, where, "each key")
        elif isinstance(key, HashedCategoricalColumn):
            raise EstimatorSpecError(
                f"{where}: categorical_column_with_hash_bucket({key.key!r}) cannot "
                "be crossed (hashing before crossing adds collisions); put its "
                f"feature name {key.key!r} in keys instead."
            )
        elif isinstance(key, WeightedCategoricalColumn):
            raise EstimatorSpecError(
                f"{where}: {key.name!r} is a weighted column; a cross has no "
                "weights. Cross its categorical_column instead."
            )
        elif not isinstance(key, CategoricalColumn):
            raise EstimatorSpecError(
                f"{where}: {key!r} cannot be crossed; a key is a feature name or a "
                "categorical column. For a numeric column, cross "
                "bucketized_column(numeric_column(...), boundaries)."
            )
    hash_bucket_size = check_int(hash_bucket_size, "hash_bucket_size", where, 1)
    if hash_key is not None:
        hash_key = check_int(hash_key, "hash_key", where, 0)
    return CrossedColumn(keys, hash_bucket_size, hash_key)


# ---------------------------------------------------------------- weighted


@dataclasses.dataclass(frozen=True)
class WeightedCategoricalColumn(CategoricalColumn):
    """See ``weighted_categorical_column``."""

    categorical_column: CategoricalColumn
    weight_feature_key: str
    dtype: tf.DType = tf.float32

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_weighted_by_{self.weight_feature_key}"

    @property
    def parse_example_spec(self) -> dict:
        spec = dict(self.categorical_column.parse_example_spec)
        spec[self.weight_feature_key] = tf.io.VarLenFeature(self.dtype)
        return spec

    @property
    def num_buckets(self) -> int:
        return self.categorical_column.num_buckets


_WEIGHTABLE = (
    VocabularyListCategoricalColumn,
    VocabularyFileCategoricalColumn,
    IdentityCategoricalColumn,
    HashedCategoricalColumn,
)


def weighted_categorical_column(
    categorical_column, weight_feature_key: str, dtype=tf.float32
) -> WeightedCategoricalColumn:
    """A categorical column whose ids carry weights from another feature.

    The weight feature has one value per value of the id feature, in the same
    positions (two VarLenFeatures of the same tf.Example, or dense tensors of
    the same shape). An id dropped as missing or out of vocabulary drops its
    weight. ``indicator_column`` sums the weights per id; ``embedding_column``
    and ``LinearModel`` use them in the combiner.

    Args:
        categorical_column: A vocabulary, identity or hash-bucket column.
        weight_feature_key: The weight feature's name.
        dtype: The weights' type, floating or integer.

    Returns:
        A ``WeightedCategoricalColumn``.

    Raises:
        EstimatorSpecError: An argument is not usable.

    Example:
        >>> terms = categorical_column_with_hash_bucket("terms", 1000)
        >>> weighted_categorical_column(terms, "frequencies").name
        'terms_weighted_by_frequencies'
    """
    where = "weighted_categorical_column"
    categorical_column = from_tf_column(categorical_column, where)
    if not isinstance(categorical_column, _WEIGHTABLE):
        raise EstimatorSpecError(
            f"{where}: categorical_column must be a categorical_column_with_* "
            f"column (vocabulary, identity or hash bucket); got {categorical_column!r}."
        )
    where = f"weighted_categorical_column({categorical_column.name!r})"
    check_key(weight_feature_key, where, "weight_feature_key")
    if weight_feature_key == categorical_column.key:
        raise EstimatorSpecError(
            f"{where}: weight_feature_key {weight_feature_key!r} is the ids' own "
            "feature; the weights are a second feature."
        )
    dtype = as_dtype(dtype, where)
    if not (dtype.is_floating or dtype.is_integer):
        raise EstimatorSpecError(
            f"{where}: dtype={dtype.name} is not numeric; weights are a floating "
            "or integer type."
        )
    return WeightedCategoricalColumn(categorical_column, weight_feature_key, dtype)
