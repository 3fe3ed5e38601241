"""Premade optimizers: Ftrl by name is Keras' Ftrl with fused updates: Keras'
variables, Keras' values for dense gradients, tf.estimator's sparse update."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from components.trainer.estimator.canned.optimizers import Ftrl, optimizer_factory

SETTINGS = [
    {},
    {"l1_regularization_strength": 0.02, "l2_regularization_strength": 0.03},
    {"l2_shrinkage_regularization_strength": 0.05, "beta": 0.2},
    {"learning_rate_power": -0.3, "initial_accumulator_value": 0.5},
    {"learning_rate_power": 0.0},
]


def train_both(settings, sparse: bool, strategy=None, unique=False, dedupe=False):
    """Thirty steps of Keras' Ftrl and ours on the same gradients; returns both
    variables, both optimizers and the ops of one traced step.

    ``unique`` draws each step's rows without repeats; ``dedupe`` gives Keras the
    sparse gradient's duplicate rows summed (dense), ours the sparse gradient.
    """
    rng = np.random.default_rng(0)
    init = rng.normal(size=(6, 2)).astype(np.float32)
    if sparse:
        # Keras' update rewrites every row from its slots, the rows without
        # gradient included: only a start consistent with the slots (a linear
        # model's zeros) leaves those rows where they were, as a sparse update does.
        init = np.zeros_like(init)
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        theirs, ours = tf.Variable(init), tf.Variable(init)
        keras_ftrl, fused = (
            keras.optimizers.Ftrl(0.3, **settings),
            Ftrl(0.3, **settings),
        )

    def apply(values, indices):
        dense = tf.scatter_nd(indices[:, None], values, [6, 2])
        sliced = tf.IndexedSlices(values, indices, tf.constant([6, 2], tf.int64))
        keras_ftrl.apply_gradients(
            [(dense if dedupe or not sparse else sliced, theirs)]
        )
        fused.apply_gradients([(sliced if sparse else dense, ours)])

    @tf.function
    def step(values, indices):
        strategy.run(apply, args=(values, indices))

    for _ in range(30):
        values = rng.normal(size=(3, 2)).astype(np.float32)
        rows = rng.choice(6, 3, replace=False) if unique else rng.integers(0, 6, 3)
        step(tf.constant(values), tf.constant(rows, tf.int64))
    graph = step.get_concrete_function(
        tf.TensorSpec([3, 2]), tf.TensorSpec([3], tf.int64)
    ).graph.as_graph_def()
    nodes = list(graph.node)
    for function in graph.library.function:
        nodes.extend(function.node_def)
    ops = {node.op for node in nodes}
    return theirs, ours, keras_ftrl, fused, ops


@pytest.mark.parametrize("settings", SETTINGS)
def test_dense_gradients_take_one_fused_op_and_keras_values(settings):
    theirs, ours, keras_ftrl, fused, ops = train_both(settings, sparse=False)
    assert "ResourceApplyFtrlV2" in ops
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7)
    for mine, keras_slot in zip(fused.variables, keras_ftrl.variables):
        np.testing.assert_allclose(mine.numpy(), keras_slot.numpy(), rtol=1e-6)


@pytest.mark.parametrize("settings", SETTINGS[:2] + SETTINGS[3:])
def test_sparse_gradients_take_one_fused_op_and_keras_values_on_unique_rows(settings):
    theirs, ours, _, _, ops = train_both(settings, sparse=True, unique=True)
    assert "ResourceSparseApplyFtrlV2" in ops
    assert "ResourceApplyFtrlV2" not in ops
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("settings", SETTINGS[:2])
def test_sparse_duplicate_rows_are_summed_first_as_tf_estimator_did(settings):
    # tf.estimator's Ftrl summed a batch's duplicate rows before the update (the
    # accumulator grows by the square of the sum): Keras' update of the dense sum.
    theirs, ours, *_ = train_both(settings, sparse=True, dedupe=True)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)
    # Keras 3 itself adds the squares of the duplicates: a different model.
    keras_own, *_ = train_both(settings, sparse=True)
    assert not np.allclose(keras_own.numpy(), ours.numpy(), rtol=1e-5, atol=1e-6)


def test_sparse_shrinkage_touches_only_the_rows_in_the_batch():
    variable = tf.Variable(np.ones((4, 1), np.float32))
    optimizer = Ftrl(0.3, l2_shrinkage_regularization_strength=0.5)
    gradient = tf.IndexedSlices(
        tf.constant([[0.5], [0.25]]), tf.constant([1, 1]), tf.constant([4, 1])
    )
    optimizer.apply_gradients([(gradient, variable)])
    values = variable.numpy()[:, 0]
    assert values[0] == values[2] == values[3] == 1.0
    assert values[1] != 1.0


def test_under_a_strategy_it_updates_as_keras_does():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    theirs, ours, _, _, ops = train_both(SETTINGS[1], False, strategy)
    assert "ResourceApplyFtrlV2" not in ops
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_ftrl_by_name_is_the_fused_one_with_keras_names():
    made = optimizer_factory("ftrl", 0.1, "LinearClassifier")()
    assert isinstance(made, Ftrl) and isinstance(made, keras.optimizers.Ftrl)
    # Named as Keras names its Ftrl ("ftrl", then "ftrl_1" ... in one process).
    assert re.fullmatch(r"ftrl(_\d+)?", made.name)
    named = optimizer_factory("Ftrl", 0.1, "W&D", name="linear_optimizer")()
    assert named.name == "linear_optimizer"
    variable = tf.Variable(tf.zeros([2]), name="w")
    reference = keras.optimizers.Ftrl(0.1, name=made.name)
    made.build([variable])
    reference.build([variable])
    assert [v.path for v in made.variables] == [v.path for v in reference.variables]


def test_large_tables_sum_duplicate_rows_with_unique_to_the_same_values(monkeypatch):
    from components.trainer.estimator.canned import optimizers

    _, small_table, _, _, small_ops = train_both(SETTINGS[1], sparse=True)
    monkeypatch.setattr(optimizers, "_DENSE_DEDUPE_ROWS", 0)
    _, large_table, _, _, ops = train_both(SETTINGS[1], sparse=True)
    assert "Unique" in ops and "Unique" not in small_ops
    np.testing.assert_allclose(large_table.numpy(), small_table.numpy(), rtol=1e-6)


def test_under_a_strategy_sparse_rows_are_summed_first_too():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    _, mirrored, _, _, ops = train_both(SETTINGS[1], True, strategy)
    _, alone, *_ = train_both(SETTINGS[1], sparse=True)
    assert "ResourceSparseApplyFtrlV2" not in ops
    np.testing.assert_allclose(mirrored.numpy(), alone.numpy(), rtol=1e-5, atol=1e-6)
