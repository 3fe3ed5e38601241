"""Vocabulary lookup without tables: positions equal a Python dict's, and traced
layers hold no lookup tables or other resources besides their variables."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from components.trainer.estimator.feature_column import (
    DenseFeatures,
    LinearModel,
    categorical_column_with_vocabulary_list,
    crossed_column,
    embedding_column,
)
from components.trainer.estimator.feature_column.lookup import (
    lookup_ids,
    vocabulary_index,
)


def test_string_lookup_equals_a_dict_on_a_large_vocabulary():
    rng = np.random.default_rng(0)
    words = [f"w{n}" for n in rng.choice(100_000, 5_000, replace=False)]
    index = vocabulary_index(tuple(words), True, "test")
    queries = words[::7] + ["nope", "", "w-1"] + [f"x{i}" for i in range(50)]
    position = {w: i for i, w in enumerate(words)}
    got = lookup_ids(tf.constant(queries), index).numpy().tolist()
    assert got == [position.get(q, -1) for q in queries]


def test_integer_lookup_with_extreme_values():
    vocabulary = (2**62, -(2**62), 0, 7)
    index = vocabulary_index(vocabulary, False, "test")
    queries = tf.constant([7, 0, 2**62, -(2**62), 8, -1], tf.int64)
    assert lookup_ids(queries, index).numpy().tolist() == [3, 2, 0, 1, -1, -1]
    assert lookup_ids(tf.zeros([0], tf.int64), index).shape == (0,)


def test_traced_layers_create_no_tables_or_other_resources():
    color = categorical_column_with_vocabulary_list(
        "color", ["r", "g"], num_oov_buckets=2
    )
    dense = DenseFeatures([embedding_column(color, 2)])
    linear = LinearModel([color, crossed_column([color, "shape"], 10)])
    spec = {
        "color": tf.SparseTensorSpec([None, None], tf.string),
        "shape": tf.TensorSpec([None, 1], tf.string),
    }

    @tf.function(input_signature=[spec])
    def model(features):
        return dense(features), linear(features)

    graph = model.get_concrete_function().graph
    op_types = {op.type for op in graph.get_operations()}
    assert not {t for t in op_types if "Table" in t or "Lookup" in t}, op_types
    variable_handles = {id(v.value.handle) for v in dense.weights + linear.weights}
    resources = [t for t in graph.external_captures if t.dtype == tf.resource]
    assert {id(t) for t in resources} <= variable_handles
    assert len(resources) == len(dense.weights) + len(linear.weights)
