"""model_to_estimator: a compiled Keras 3 model trained, evaluated and served."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from components.trainer import estimator as tf_estimator
from components.trainer.estimator.estimator import Estimator
from components.trainer.estimator.keras import model_to_estimator
from tests.components.trainer.models import IRIS, REPO, iris_input_fn

EstimatorSpecError = tf_estimator.EstimatorSpecError


def iris_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    with open(IRIS / f"iris_{split}.csv", newline="") as f:
        rows = list(csv.reader(f))[1:]
    x = np.array([[float(v) for v in row[:4]] for row in rows], np.float32)
    return x, np.array([int(row[4]) for row in rows], np.int64)


def iris_model(batch_norm: bool = True, seed: int = 1) -> keras.Model:
    """A compiled classifier: L2, batch norm and dropout, two compiled metrics."""
    keras.utils.set_random_seed(seed)
    layers = [
        keras.Input((4,), name="x"),
        keras.layers.Dense(
            16, "relu", kernel_regularizer=keras.regularizers.L2(1e-3), name="hidden"
        ),
    ]
    if batch_norm:
        layers += [
            keras.layers.BatchNormalization(name="norm"),
            keras.layers.Dropout(0.2, name="dropout"),
        ]
    model = keras.Sequential(
        [*layers, keras.layers.Dense(3, name="logits")], name="iris"
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.02),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[
            "accuracy",
            keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2"),
        ],
    )
    return model


def logits(estimator, split: str = "test") -> np.ndarray:
    return np.stack([p["logits"] for p in estimator.predict(iris_input_fn(split))])


def load_into(model: keras.Model, estimator) -> None:
    """Sets each Keras weight from the Estimator variable of the same name."""
    for weight in model.weights:
        weight.assign(estimator.get_variable_value(weight.path))


def assert_same_results(estimator_results: dict, keras_results: dict) -> None:
    assert set(estimator_results) - {"global_step"} == set(keras_results)
    for name, value in keras_results.items():
        np.testing.assert_allclose(
            estimator_results[name], value, rtol=2e-5, atol=1e-6, err_msg=name
        )


@pytest.fixture
def fitted():
    """The iris model after one Keras epoch: weights and optimizer state moved."""
    model = iris_model()
    x, y = iris_arrays("training")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    return model


# ------------------------------------------------------------- initial weights


def test_predict_and_evaluate_before_training_equal_keras(fitted, tmp_path):
    estimator = model_to_estimator(fitted, model_dir=str(tmp_path))
    x, y = iris_arrays("test")
    np.testing.assert_allclose(
        logits(estimator), fitted.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
    results = estimator.evaluate(iris_input_fn("test"))
    assert results["global_step"] == 0
    assert_same_results(results, fitted.evaluate(x, y, verbose=0, return_dict=True))


def test_training_continues_from_the_keras_weights_and_matches_keras(fitted, tmp_path):
    estimator = model_to_estimator(fitted, model_dir=str(tmp_path))
    start = estimator.evaluate(iris_input_fn("test"))["loss"]
    estimator.train(iris_input_fn("training", repeat=True), steps=60)
    results = estimator.evaluate(iris_input_fn("test"))
    assert results["loss"] < 0.8 * start
    assert set(results) == {"loss", "accuracy", "top2", "global_step"}

    names = estimator.get_variable_names()
    assert {w.path for w in fitted.weights} <= set(names)
    # A fresh Adam with the compiled config: its own step count, same rate.
    assert fitted.optimizer.iterations.numpy() == 4
    assert estimator.get_variable_value("adam/iteration") == 60
    np.testing.assert_allclose(estimator.get_variable_value("adam/learning_rate"), 0.02)
    # Batch norm ran in training mode while training (its statistics moved).
    moving_mean = "iris/norm/moving_mean"
    assert not np.allclose(
        estimator.get_variable_value(moving_mean),
        fitted.get_layer("norm").moving_mean.numpy(),
    )

    x, y = iris_arrays("test")
    before = fitted.get_weights()
    trained = iris_model()
    load_into(trained, estimator)
    assert_same_results(results, trained.evaluate(x, y, verbose=0, return_dict=True))
    # The Keras model itself is untouched.
    for old, new in zip(before, fitted.get_weights()):
        np.testing.assert_array_equal(old, new)


# ------------------------------------------------------------- metrics


def test_metric_names_map_renames_metrics(fitted, tmp_path):
    estimator = model_to_estimator(
        fitted, model_dir=str(tmp_path), metric_names_map={"accuracy": "acc"}
    )
    results = estimator.evaluate(iris_input_fn("test"))
    assert set(results) == {"loss", "acc", "top2", "global_step"}


def test_metric_names_map_with_an_unknown_name_says_which_exist(fitted, tmp_path):
    estimator = model_to_estimator(
        fitted, model_dir=str(tmp_path), metric_names_map={"acuracy": "acc"}
    )
    with pytest.raises(
        EstimatorSpecError,
        match=re.escape(
            "renames ['acuracy'], which are not metrics of Keras model 'iris'; its "
            "metrics are ['accuracy', 'top2']. Did you mean 'acuracy' -> 'accuracy'?"
        ),
    ):
        estimator.evaluate(iris_input_fn("test"))


# ------------------------------------------------------------- several inputs, outputs


def two_by_two():
    """Inputs a, b; outputs reg (MSE, weight 0.5) and cls (cross-entropy, weight 2)."""
    keras.utils.set_random_seed(3)
    a = keras.Input((2,), name="a")
    b = keras.Input((3,), name="b")
    hidden = keras.layers.Dense(8, "relu", name="hidden")(
        keras.layers.Concatenate()([a, b])
    )
    model = keras.Model(
        [a, b],
        [
            keras.layers.Dense(1, name="reg")(hidden),
            keras.layers.Dense(2, name="cls")(hidden),
        ],
        name="two_by_two",
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss={
            "reg": "mse",
            "cls": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        },
        loss_weights={"reg": 0.5, "cls": 2.0},
        metrics={"reg": ["mae"], "cls": ["accuracy"]},
    )
    rng = np.random.default_rng(0)
    a_values = rng.normal(size=(72, 2)).astype(np.float32)
    b_values = rng.normal(size=(72, 3)).astype(np.float32)
    features = {"a": a_values, "b": b_values}
    labels = {
        "reg": a_values.sum(1, keepdims=True) - b_values[:, :1],
        "cls": (a_values[:, 0] > b_values[:, 1]).astype(np.int64),
    }
    return model, features, labels


def test_multi_input_multi_output_model_with_dict_labels_and_loss_weights(tmp_path):
    model, features, labels = two_by_two()

    # Equal batches: Keras averages each output's loss over batches unweighted
    # (the Estimator weights by batch size, as for the total loss).
    def input_fn():
        extra = {"unused": features["a"]}
        return tf.data.Dataset.from_tensor_slices(
            ({**features, **extra}, labels)
        ).batch(24)

    estimator = model_to_estimator(model, model_dir=str(tmp_path))
    keras_inputs = [features["a"], features["b"]]
    before = model.evaluate(
        keras_inputs, labels, batch_size=24, verbose=0, return_dict=True
    )
    assert sorted(before) == ["cls_accuracy", "cls_loss", "loss", "reg_loss", "reg_mae"]
    assert_same_results(estimator.evaluate(input_fn), before)

    estimator.train(lambda: input_fn().repeat(), steps=20)
    results = estimator.evaluate(input_fn)
    assert results["loss"] < before["loss"]
    load_into(model, estimator)
    after = model.evaluate(
        keras_inputs, labels, batch_size=24, verbose=0, return_dict=True
    )
    assert_same_results(results, after)
    np.testing.assert_allclose(
        results["loss"],
        0.5 * results["reg_loss"] + 2.0 * results["cls_loss"],
        rtol=1e-5,
    )
    prediction = next(estimator.predict(input_fn))
    assert {k: v.shape for k, v in prediction.items()} == {"reg": (1,), "cls": (2,)}


def test_subclassed_model_with_get_config(tmp_path):
    @keras.saving.register_keras_serializable("test_keras_estimator")
    class Regressor(keras.Model):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.hidden = keras.layers.Dense(units, "relu", name="hidden")
            self.out = keras.layers.Dense(1, name="out")

        def call(self, x):
            return self.out(self.hidden(x))

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    keras.utils.set_random_seed(5)
    x, _ = iris_arrays("test")
    model = Regressor(name="regressor")
    model(x[:1])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])

    def input_fn():
        return tf.data.Dataset.from_tensor_slices(({"x": x}, x[:, :1])).batch(10)

    estimator = model_to_estimator(model, model_dir=str(tmp_path))
    served = np.stack([p["output_1"] for p in estimator.predict(input_fn)])
    np.testing.assert_allclose(served, model.predict(x, verbose=0), rtol=1e-5)
    assert_same_results(
        estimator.evaluate(input_fn),
        model.evaluate(x, x[:, :1], verbose=0, return_dict=True),
    )
    estimator.train(lambda: input_fn().repeat(), steps=2)
    assert "regressor/hidden/kernel" in estimator.get_variable_names()


# ------------------------------------------------------------- export


@pytest.mark.slow
def test_exported_model_serves_the_predictions_in_a_new_process(fitted, tmp_path):
    estimator = model_to_estimator(fitted, model_dir=str(tmp_path / "model"))
    estimator.train(iris_input_fn("training", repeat=True), steps=5)
    receiver = tf_estimator.export.build_parsing_serving_input_receiver_fn(
        {"x": tf.io.FixedLenFeature([4], tf.float32)}
    )
    export_dir = estimator.export_saved_model(str(tmp_path / "export"), receiver)
    x, _ = iris_arrays("test")
    examples = [
        tf.train.Example(
            features=tf.train.Features(
                feature={"x": tf.train.Feature(float_list=tf.train.FloatList(value=r))}
            )
        ).SerializeToString()
        for r in x[:6]
    ]
    script = textwrap.dedent(
        """
        import json, sys
        import tensorflow as tf
        model = tf.saved_model.load(sys.argv[1])
        serve = model.signatures["serving_default"]
        out = serve(examples=tf.constant([bytes.fromhex(h) for h in sys.argv[2:]]))
        print(json.dumps({k: v.numpy().tolist() for k, v in out.items()}))
        """
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            export_dir.decode(),
            *(e.hex() for e in examples),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(served) == ["logits"]
    np.testing.assert_allclose(served["logits"], logits(estimator)[:6], rtol=1e-5)


def test_export_outputs_make_one_signature_per_entry(tmp_path):
    model, features, labels = two_by_two()
    estimator = model_to_estimator(
        model,
        model_dir=str(tmp_path / "model"),
        export_outputs={
            "reg": tf_estimator.export.RegressionOutput,
            "serving_default": tf_estimator.export.PredictOutput,
        },
    )
    estimator.train(
        lambda: tf.data.Dataset.from_tensor_slices((features, labels)).batch(8),
        steps=2,
    )
    receiver = tf_estimator.export.build_raw_serving_input_receiver_fn(
        {"a": tf.TensorSpec([None, 2]), "b": tf.TensorSpec([None, 3])}
    )
    export_dir = estimator.export_saved_model(str(tmp_path / "export"), receiver)
    loaded = tf.saved_model.load(export_dir.decode())
    assert sorted(loaded.signatures) == ["predict", "reg", "serving_default"]
    inputs = {"a": tf.constant(features["a"][:3]), "b": tf.constant(features["b"][:3])}
    regression = loaded.signatures["reg"](**inputs)
    everything = loaded.signatures["serving_default"](**inputs)
    assert list(regression) == ["outputs"]
    assert sorted(everything) == ["cls", "reg"]
    local = list(
        estimator.predict(
            lambda: tf.data.Dataset.from_tensor_slices(
                {k: v[:3] for k, v in features.items()}
            ).batch(3)
        )
    )
    expected = [p["reg"] for p in local]
    np.testing.assert_allclose(regression["outputs"].numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(everything["reg"].numpy(), expected, rtol=1e-5)


# ------------------------------------------------------------- from_keras_model


def test_from_keras_model_takes_a_model_or_a_keras_file(fitted, tmp_path):
    class MyEstimator(Estimator):
        pass

    path = tmp_path / "iris.keras"
    fitted.save(path)
    x, _ = iris_arrays("test")
    expected = fitted.predict(x, verbose=0)
    for n, source in enumerate((fitted, str(path))):
        estimator = MyEstimator.from_keras_model(
            source,
            model_dir=str(tmp_path / f"model{n}"),
            metric_names_map={"top2": "top_2"},
        )
        assert type(estimator) is MyEstimator
        np.testing.assert_allclose(logits(estimator), expected, rtol=1e-5, atol=1e-6)
    assert "top_2" in estimator.evaluate(iris_input_fn("test"))
    from_path = model_to_estimator(keras_model_path=path, model_dir=str(tmp_path / "p"))
    np.testing.assert_allclose(logits(from_path), expected, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------- errors


def test_an_uncompiled_model_is_refused():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)], name="raw")
    with pytest.raises(
        EstimatorSpecError,
        match=re.escape(
            "Keras model 'raw' is not compiled; model_to_estimator trains with its "
            "compiled loss, metrics and optimizer. Call model.compile(optimizer=..., "
            "loss=..., metrics=[...]) first."
        ),
    ):
        model_to_estimator(model)


@pytest.mark.parametrize("both", [True, False])
def test_exactly_one_of_keras_model_and_keras_model_path(both, tmp_path):
    given = "both" if both else "neither"
    arguments = {"keras_model": iris_model(), "keras_model_path": "m.keras"}
    with pytest.raises(
        EstimatorSpecError,
        match=re.escape(
            f"model_to_estimator got {given} of keras_model and keras_model_path; "
            "pass exactly one"
        ),
    ):
        model_to_estimator(**(arguments if both else {}))


def test_other_arguments_are_checked(tmp_path):
    with pytest.raises(EstimatorSpecError, match="checkpoint_format='checkpoint'"):
        model_to_estimator(iris_model(), checkpoint_format="saver")
    with pytest.raises(EstimatorSpecError, match="must be a Keras 3 keras.Model"):
        model_to_estimator(object())
    with pytest.raises(EstimatorSpecError, match="could not load keras_model_path"):
        model_to_estimator(keras_model_path=tmp_path / "missing.keras")


def test_missing_feature_names_are_listed_with_a_hint(tmp_path):
    model, features, labels = two_by_two()
    estimator = model_to_estimator(model, model_dir=str(tmp_path))

    def input_fn():
        wrong = {"a": features["a"], "bb": features["b"]}
        return tf.data.Dataset.from_tensor_slices((wrong, labels)).batch(16)

    with pytest.raises(
        EstimatorSpecError,
        match=re.escape(
            "Keras model 'two_by_two' takes inputs ['a', 'b'], but the input_fn's "
            "features have no ['b'] (their keys: ['a', 'bb']). Did you mean 'bb' "
            "for 'b'?"
        ),
    ):
        estimator.evaluate(input_fn)


def test_missing_labels_of_an_output_are_named(tmp_path):
    model, features, labels = two_by_two()
    estimator = model_to_estimator(model, model_dir=str(tmp_path))

    def input_fn():
        return tf.data.Dataset.from_tensor_slices(
            (features, {"reg": labels["reg"]})
        ).batch(16)

    with pytest.raises(
        EstimatorSpecError,
        match=re.escape("has outputs ['reg', 'cls']; the labels have no ['cls']"),
    ):
        estimator.train(lambda: input_fn().repeat(), steps=1)


# ------------------------------------------------------------- MirroredStrategy


@pytest.mark.slow
def test_mirrored_two_replicas_match_one_replica(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tests.components.trainer.test_keras_estimator"]
        + [str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = json.loads(result.stdout.strip().splitlines()[-1])
    single, mirrored = runs["single"], runs["mirrored"]
    assert mirrored["replicas"] == 2
    assert sorted(single["variables"]) == sorted(mirrored["variables"])
    for name, value in single["variables"].items():
        np.testing.assert_allclose(
            value, mirrored["variables"][name], rtol=1e-4, atol=1e-6, err_msg=name
        )
    for name in ("loss", "accuracy", "top2"):
        np.testing.assert_allclose(
            single["eval"][name], mirrored["eval"][name], rtol=1e-5, err_msg=name
        )


def _train_under(model_dir: str, strategy) -> dict:
    """Trains the iris model (no batch norm, no dropout) 12 steps of 32 examples."""

    def input_fn(input_context, split="training", repeat=True):
        # Repeated before batching: every step takes 32 whole examples, 16 per
        # replica (a partial batch would weigh its examples differently).
        x, y = iris_arrays(split)
        dataset = tf.data.Dataset.from_tensor_slices(({"x": x}, y))
        dataset = dataset.repeat() if repeat else dataset
        return dataset.batch(input_context.get_per_replica_batch_size(32))

    estimator = model_to_estimator(
        iris_model(batch_norm=False),
        model_dir=model_dir,
        config=tf_estimator.RunConfig(train_distribute=strategy),
    )
    estimator.train(input_fn, steps=12)
    evaluation = estimator.evaluate(
        lambda input_context: input_fn(input_context, "test", repeat=False)
    )
    return {
        "variables": {
            name: estimator.get_variable_value(name).tolist()
            for name in estimator.get_variable_names()
        },
        "eval": {k: float(v) for k, v in evaluation.items()},
        "replicas": strategy.num_replicas_in_sync if strategy else 1,
    }


if __name__ == "__main__":
    # Run by test_mirrored_two_replicas_match_one_replica in a new process: the CPU
    # is split into two logical devices before TensorFlow starts.
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0],
        [tf.config.LogicalDeviceConfiguration()] * 2,
    )
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    print(
        json.dumps(
            {
                "single": _train_under(sys.argv[1] + "/single", None),
                "mirrored": _train_under(sys.argv[1] + "/mirrored", mirrored),
            }
        )
    )
