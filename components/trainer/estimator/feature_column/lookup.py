"""Vocabularies without lookup tables: values to ids with constants and searchsorted.

A ``tf.lookup`` table is a resource: it would have to be created under the
strategy, shipped to ParameterServerStrategy's workers and saved with the
SavedModel, which tracks only the model's variables. A vocabulary is small and
fixed, so it becomes constants instead: each entry's 63-bit fingerprint (strings,
``tf.strings.to_hash_bucket_fast(v, 2**63 - 1)``) or value (integers), sorted
once in Python; at run time an input is fingerprinted the same way, found with
``tf.searchsorted`` and kept where the found key equals it.

Example:
    >>> index = vocabulary_index(("red", "green", None), True, "color")
    >>> lookup_ids(tf.constant(["green", "blue", "red"]), index).numpy().tolist()
    [1, -1, 0]
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from collections.abc import Iterable

import numpy as np
import tensorflow as tf

from components.trainer.estimator.errors import EstimatorSpecError

FINGERPRINT_BUCKETS = 2**63 - 1


def is_missing(value) -> bool:
    """Whether a vocabulary entry is a missing value (None or NaN), as pandas writes."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def normalize_vocabulary(values: Iterable, where: str) -> tuple[tuple, bool]:
    """A vocabulary as a tuple of str or int entries (None for missing ones).

    Accepts lists, tuples and numpy arrays, pandas' ``.unique()`` object arrays
    included: their missing entries (None, NaN) keep their position but match no
    input.

    Args:
        values: The vocabulary.
        where: The column, for error messages.

    Returns:
        ``(entries, is_string)``.

    Raises:
        EstimatorSpecError: The vocabulary is empty, mixes strings and integers,
            holds floats or booleans, or repeats a value.
    """
    if values is None or isinstance(values, (str, bytes)):
        raise EstimatorSpecError(
            f"{where}: vocabulary_list must be a list of strings or integers; got "
            f"{values!r}. Pass e.g. vocabulary_list=['red', 'green']."
        )
    entries = []
    kinds = set()
    for value in np.asarray(list(values), dtype=object).ravel().tolist():
        if is_missing(value):
            entries.append(None)
        elif isinstance(value, bytes):
            entries.append(value.decode("utf-8"))
            kinds.add("string")
        elif isinstance(value, str):
            entries.append(value)
            kinds.add("string")
        elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
            entries.append(int(value))
            kinds.add("integer")
        else:
            kind = "boolean" if isinstance(value, bool) else type(value).__name__
            raise EstimatorSpecError(
                f"{where}: vocabulary_list holds {value!r}, a {kind}; a vocabulary "
                "holds strings or integers. Bucketize a real-valued feature with "
                "bucketized_column(numeric_column(key), boundaries), or convert "
                "the values to strings or integers."
            )
    if not kinds:
        raise EstimatorSpecError(
            f"{where}: vocabulary_list is empty (or holds only missing values). "
            "Pass the values the feature takes, e.g. vocabulary_list=['a', 'b']."
        )
    if len(kinds) > 1:
        raise EstimatorSpecError(
            f"{where}: vocabulary_list mixes strings and integers ({entries[:6]!r}). "
            "Use one type, the feature's."
        )
    _check_unique(entries, where)
    return tuple(entries), kinds == {"string"}


def _check_unique(entries, where: str) -> None:
    seen: dict = {}
    for position, value in enumerate(entries):
        if value is None:
            continue
        if value in seen:
            raise EstimatorSpecError(
                f"{where}: the vocabulary repeats {value!r} (at positions "
                f"{seen[value]} and {position}); each value needs one id. Remove "
                "the duplicates, e.g. vocabulary_list=sorted(set(values))."
            )
        seen[value] = position


def read_vocabulary_file(
    path: str, vocabulary_size: int | None, is_string: bool, where: str
) -> tuple:
    """The first ``vocabulary_size`` lines of a vocabulary file, one entry a line.

    Lines are split at ``\\n`` (a trailing ``\\r`` is dropped, as TensorFlow's text
    file initializer did); integer vocabularies are parsed with ``int``.

    Raises:
        EstimatorSpecError: The file is missing, too short, repeats a value, or
            holds a line that is not an integer in an integer vocabulary.
    """
    if not tf.io.gfile.exists(path):
        raise EstimatorSpecError(
            f"{where}: vocabulary_file {path!r} does not exist. Pass the path of a "
            "text file with one vocabulary entry per line."
        )
    stat = tf.io.gfile.stat(path)
    return _read_vocabulary_file(
        path, vocabulary_size, is_string, where, stat.mtime_nsec, stat.length
    )


@functools.lru_cache(maxsize=64)
def _read_vocabulary_file(path, vocabulary_size, is_string, where, mtime, length):
    with tf.io.gfile.GFile(path, "rb") as f:
        lines = f.read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    if vocabulary_size is None:
        vocabulary_size = len(lines)
    if vocabulary_size < 1 or vocabulary_size > len(lines):
        raise EstimatorSpecError(
            f"{where}: vocabulary_size={vocabulary_size} but {path!r} has "
            f"{len(lines)} lines. Pass a vocabulary_size from 1 to {len(lines)}, "
            "or None to use every line."
        )
    entries = []
    for number, line in enumerate(lines[:vocabulary_size], start=1):
        if is_string:
            entries.append(line.decode("utf-8", errors="surrogateescape"))
            continue
        try:
            entries.append(int(line))
        except ValueError:
            raise EstimatorSpecError(
                f"{where}: line {number} of {path!r} is {line!r}, not an integer, "
                "but the column's dtype is an integer type. Pass dtype=tf.string "
                "for a vocabulary of strings."
            ) from None
    _check_unique(entries, f"{where} ({path})")
    return tuple(entries)


@dataclasses.dataclass(frozen=True)
class VocabularyIndex:
    """A vocabulary as sorted int64 keys and the position each key came from."""

    sorted_keys: np.ndarray
    positions: np.ndarray
    is_string: bool
    size: int


@functools.lru_cache(maxsize=256)
def vocabulary_index(entries: tuple, is_string: bool, where: str) -> VocabularyIndex:
    """Sorted keys for ``entries`` (computed eagerly, once per vocabulary).

    Raises:
        EstimatorSpecError: Two strings have the same 63-bit fingerprint.
    """
    present = [(i, v) for i, v in enumerate(entries) if v is not None]
    positions = np.array([i for i, _ in present], np.int64)
    if is_string:
        with tf.init_scope():
            keys = tf.strings.to_hash_bucket_fast(
                tf.constant([v.encode("utf-8", "surrogateescape") for _, v in present]),
                FINGERPRINT_BUCKETS,
            ).numpy()
    else:
        keys = np.array([v for _, v in present], np.int64)
    order = np.argsort(keys, kind="stable")
    keys, positions = keys[order], positions[order]
    same = np.nonzero(keys[1:] == keys[:-1])[0]
    if same.size:
        first, second = positions[same[0]], positions[same[0] + 1]
        raise EstimatorSpecError(
            f"{where}: vocabulary entries {entries[first]!r} and {entries[second]!r} "
            "have the same 63-bit fingerprint, so they cannot be told apart. "
            "Rename one of them."
        )
    return VocabularyIndex(keys, positions, is_string, len(entries))


def lookup_ids(values: tf.Tensor, index: VocabularyIndex) -> tf.Tensor:
    """The vocabulary position of each value (int64), or -1 where it is not there."""
    if index.is_string:
        keys = tf.strings.to_hash_bucket_fast(values, FINGERPRINT_BUCKETS)
    else:
        keys = tf.cast(values, tf.int64)
    if index.sorted_keys.size == 0:
        return tf.fill(tf.shape(keys), tf.constant(-1, tf.int64))
    sorted_keys = tf.constant(index.sorted_keys)
    found = tf.searchsorted(sorted_keys, keys, side="left", out_type=tf.int64)
    found = tf.minimum(found, index.sorted_keys.size - 1)
    hit = tf.equal(tf.gather(sorted_keys, found), keys)
    return tf.where(hit, tf.gather(tf.constant(index.positions), found), -1)


def oov_bucket_ids(values: tf.Tensor, num_oov_buckets: int, offset: int) -> tf.Tensor:
    """tf.lookup's out-of-vocabulary buckets: ``offset + hash(str(value)) % n``."""
    if values.dtype != tf.string:
        values = tf.strings.as_string(values)
    return offset + tf.strings.to_hash_bucket_fast(values, num_oov_buckets)
