"""Premade estimators on the real data sets: the quality bars, options and errors.

The quality bars of the issue: a DNNClassifier on iris reaches >= 0.9 test accuracy;
a LinearClassifier on titanic (numeric age, a vocabulary column, a hash-bucket column)
>= 0.75 eval accuracy, written both the TensorFlow guide's way (tf.feature_column,
pandas) and with missing values parsed from tf.Examples; a wide & deep classifier on
the taxi data beats the majority class.
"""

from __future__ import annotations

import json
import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from components.trainer import estimator as tf_estimator
from components.trainer.estimator import feature_column as fc
from tests.components.trainer.models import IRIS, REPO

TITANIC = IRIS.parent / "titanic" / "train.csv"
IRIS_FEATURES = ["SepalLength", "SepalWidth", "PetalLength", "PetalWidth"]


# ---------------------------------------------------------------- data


def iris_frame(split: str) -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.read_csv(IRIS / f"iris_{split}.csv")
    frame.columns = IRIS_FEATURES + ["Species"]
    return frame, frame.pop("Species")


def frame_input_fn(features: pd.DataFrame, labels, epochs=1, shuffle=False, batch=32):
    """The TensorFlow guide's make_input_fn, as written there."""

    def input_function():
        ds = tf.data.Dataset.from_tensor_slices((dict(features), labels))
        if shuffle:
            ds = ds.shuffle(1000, seed=1)
        ds = ds.batch(batch).repeat(epochs)
        return ds

    return input_function


def titanic_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """train.csv split 80/20 in file order (test.csv has no labels)."""
    frame = pd.read_csv(TITANIC)
    cut = int(len(frame) * 0.8)
    return frame.iloc[:cut], frame.iloc[cut:]


def titanic_examples(frame: pd.DataFrame) -> list[bytes]:
    """Serialized tf.Examples; a missing CSV value is an absent feature."""
    out = []
    for row in frame.itertuples(index=False):
        feature = {}
        for name, value in row._asdict().items():
            if isinstance(value, float) and np.isnan(value):
                continue
            if isinstance(value, str):
                feature[name] = tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[value.encode()])
                )
            elif isinstance(value, float):
                feature[name] = tf.train.Feature(
                    float_list=tf.train.FloatList(value=[value])
                )
            else:
                feature[name] = tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[int(value)])
                )
        example = tf.train.Example(features=tf.train.Features(feature=feature))
        out.append(example.SerializeToString())
    return out


def examples_input_fn(records, feature_spec, label_key, epochs=1, batch=32):
    def input_fn():
        ds = tf.data.Dataset.from_tensor_slices(records)
        if epochs != 1:
            ds = ds.shuffle(len(records), seed=2).repeat(epochs)
        ds = ds.batch(batch).map(lambda s: tf.io.parse_example(s, feature_spec))
        return ds.map(lambda f: (f, f.pop(label_key)))

    return input_fn


def titanic_columns():
    return [
        fc.numeric_column("Age", default_value=-1.0),
        fc.numeric_column("Fare", default_value=0.0),
        fc.categorical_column_with_vocabulary_list("Sex", ["male", "female"]),
        fc.categorical_column_with_vocabulary_list("Pclass", [1, 2, 3]),
        fc.categorical_column_with_vocabulary_list("Embarked", ["S", "C", "Q"]),
        fc.categorical_column_with_hash_bucket("Cabin", 50),
        fc.bucketized_column(
            fc.numeric_column("Age", default_value=-1.0), [0.0, 10.0, 20.0, 40.0]
        ),
    ]


# ---------------------------------------------------------------- quality bars


def test_dnn_classifier_on_iris_reaches_0_9_test_accuracy(tmp_path):
    train_x, train_y = iris_frame("training")
    test_x, test_y = iris_frame("test")
    columns = [fc.numeric_column(name) for name in IRIS_FEATURES]
    classifier = tf_estimator.DNNClassifier(
        hidden_units=[30, 10],
        feature_columns=columns,
        n_classes=3,
        model_dir=str(tmp_path),
        config=tf_estimator.RunConfig(tf_random_seed=1),
    )
    classifier.train(
        frame_input_fn(train_x, train_y, epochs=None, shuffle=True), steps=1000
    )
    result = classifier.evaluate(frame_input_fn(test_x, test_y))
    assert result["accuracy"] >= 0.9, result
    assert result["global_step"] == 1000
    assert "dnn/hiddenlayer_1/kernel" in classifier.get_variable_names()
    predicted = [
        p["class_ids"][0] for p in classifier.predict(frame_input_fn(test_x, test_y))
    ]
    assert np.mean(np.array(predicted) == test_y.to_numpy()) == pytest.approx(
        result["accuracy"]
    )


def test_titanic_guide_example_runs_with_only_the_import_changed(tmp_path):
    """The TensorFlow guide's Titanic code, on ../shared/data (missing values filled
    the way a pandas user does: '' is tf.estimator's missing string)."""
    dftrain, dfeval = (f.copy() for f in titanic_frames())
    for frame in (dftrain, dfeval):
        frame["Age"] = frame["Age"].fillna(-1.0)
        frame["Embarked"] = frame["Embarked"].fillna("")
        frame["Cabin"] = frame["Cabin"].fillna("")
        del frame["PassengerId"], frame["Name"], frame["Ticket"]
    y_train = dftrain.pop("Survived")
    y_eval = dfeval.pop("Survived")

    CATEGORICAL_COLUMNS = ["Sex", "Pclass", "Embarked", "SibSp", "Parch"]
    NUMERIC_COLUMNS = ["Age", "Fare"]
    feature_columns = []
    for feature_name in CATEGORICAL_COLUMNS:
        vocabulary = dftrain[feature_name].unique()
        feature_columns.append(
            tf.feature_column.categorical_column_with_vocabulary_list(
                feature_name, vocabulary
            )
        )
    for feature_name in NUMERIC_COLUMNS:
        feature_columns.append(
            tf.feature_column.numeric_column(feature_name, dtype=tf.float32)
        )
    feature_columns.append(
        tf.feature_column.categorical_column_with_hash_bucket("Cabin", 50)
    )
    age_x_gender = tf.feature_column.crossed_column(
        ["Age", "Sex"], hash_bucket_size=100
    )

    train_input_fn = frame_input_fn(dftrain, y_train, epochs=10, shuffle=True)
    eval_input_fn = frame_input_fn(dfeval, y_eval)
    linear_est = tf_estimator.LinearClassifier(
        feature_columns=feature_columns + [age_x_gender], model_dir=str(tmp_path)
    )
    linear_est.train(train_input_fn)
    result = linear_est.evaluate(eval_input_fn)
    assert result["accuracy"] >= 0.75, result
    # ten epochs of 712 rows in batches of 32
    assert result["global_step"] == 10 * int(np.ceil(len(dftrain) / 32))
    probabilities = [p["probabilities"][1] for p in linear_est.predict(eval_input_fn)]
    assert len(probabilities) == len(dfeval)
    assert all(0.0 <= p <= 1.0 for p in probabilities)


def test_linear_classifier_on_titanic_examples_with_missing_values(tmp_path):
    train, evaluation = titanic_frames()
    columns = titanic_columns()
    spec = fc.make_parse_example_spec(columns)
    spec["Survived"] = tf.io.FixedLenFeature([1], tf.int64)
    assert spec["Age"].default_value == [-1.0]  # missing numeric -> default
    assert isinstance(spec["Cabin"], tf.io.VarLenFeature)  # missing -> no category
    classifier = tf_estimator.LinearClassifier(
        columns,
        model_dir=str(tmp_path / "model"),
        config=tf_estimator.RunConfig(tf_random_seed=2),
    )
    train_records = titanic_examples(train)
    eval_records = titanic_examples(evaluation)
    classifier.train(
        examples_input_fn(train_records, spec, "Survived", epochs=10), steps=300
    )
    result = classifier.evaluate(examples_input_fn(eval_records, spec, "Survived"))
    assert result["accuracy"] >= 0.75, result
    assert result["accuracy"] > result["accuracy_baseline"]
    names = classifier.get_variable_names()
    assert "linear/linear_model/Cabin/weights" in names
    assert "linear/linear_model/bias_weights" in names

    # Export with the columns' parse spec; a fresh process serves the examples.
    receiver = tf_estimator.export.build_parsing_serving_input_receiver_fn(
        fc.make_parse_example_spec(columns)
    )
    export_dir = classifier.export_saved_model(str(tmp_path / "export"), receiver)
    expected = [
        p["probabilities"].tolist()
        for p in classifier.predict(
            examples_input_fn(eval_records[:20], spec, "Survived")
        )
    ]
    served = serve_in_fresh_process(export_dir.decode(), eval_records[:20])
    assert sorted(served["signatures"]) == [
        "classification",
        "predict",
        "regression",
        "serving_default",
    ]
    np.testing.assert_allclose(served["scores"], expected, rtol=1e-5, atol=1e-6)
    assert served["classes"][0] == ["0", "1"]


SERVE = """
import json, sys
import numpy as np
import tensorflow as tf
export_dir, records = sys.argv[1], [bytes.fromhex(r) for r in json.loads(sys.argv[2])]
model = tf.saved_model.load(export_dir)
out = model.signatures["serving_default"](inputs=tf.constant(records))
print(json.dumps({
    "signatures": sorted(model.signatures),
    "scores": out["scores"].numpy().tolist(),
    "classes": [[c.decode() for c in row] for row in out["classes"].numpy()],
}))
"""


def serve_in_fresh_process(export_dir: str, records: list[bytes]) -> dict:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            SERVE,
            export_dir,
            json.dumps([r.hex() for r in records]),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_wide_and_deep_on_taxi_beats_the_majority_class(taxi_transform, tmp_path):
    """The TFX taxi example's model: Transform's output, big_tipper label."""
    from components.input_fn import make_eval_input_fn, make_input_fn

    graph = taxi_transform.transform_graph
    examples = taxi_transform.transformed_examples
    dense = ["trip_miles_xf", "fare_xf", "trip_seconds_xf"]
    identity = {
        "payment_type_xf": 1010,
        "company_xf": 1010,
        "pickup_latitude_xf": 11,
        "dropoff_longitude_xf": 11,
        "trip_start_hour_xf": 24,
        "trip_start_day_xf": 8,
    }
    categorical = {
        key: fc.categorical_column_with_identity(key, size, default_value=0)
        for key, size in identity.items()
    }
    classifier = tf_estimator.DNNLinearCombinedClassifier(
        model_dir=str(tmp_path),
        linear_feature_columns=list(categorical.values()),
        dnn_feature_columns=[fc.numeric_column(key) for key in dense]
        + [fc.embedding_column(categorical["company_xf"], 8)],
        dnn_hidden_units=[32, 16],
        config=tf_estimator.RunConfig(tf_random_seed=3),
    )
    classifier.train(
        make_input_fn(
            examples,
            split="train",
            transform_graph=graph,
            label_key="big_tipper",
            batch_size=64,
            shuffle_seed=1,
        ),
        steps=300,
    )
    result = classifier.evaluate(
        make_eval_input_fn(
            examples, split="eval", transform_graph=graph, label_key="big_tipper"
        )
    )
    majority = max(result["label/mean"], 1 - result["label/mean"])
    assert result["accuracy_baseline"] == pytest.approx(majority, abs=1e-6)
    assert result["accuracy"] > majority + 0.02, result
    assert result["auc"] > 0.7, result


# ---------------------------------------------------------------- regressors


def linear_frame(rows=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 2)).astype(np.float32)
    y = (3.0 * x[:, 0] - 2.0 * x[:, 1] + 1.0).astype(np.float32)
    return {"a": x[:, 0], "b": x[:, 1]}, y


def array_input_fn(features, labels, epochs=1, batch=32):
    def input_fn():
        ds = tf.data.Dataset.from_tensor_slices((features, labels)).batch(batch)
        return ds.repeat(epochs)

    return input_fn


def test_linear_regressor_recovers_the_weights(tmp_path):
    features, y = linear_frame()
    regressor = tf_estimator.LinearRegressor(
        [fc.numeric_column("a"), tf.feature_column.numeric_column("b")],
        model_dir=str(tmp_path),
        optimizer="SGD",
        learning_rate=0.1,
    )
    regressor.train(array_input_fn(features, y, epochs=None), steps=300)
    weights = {
        name: regressor.get_variable_value(f"linear/linear_model/{name}/weights")
        for name in "ab"
    }
    assert weights["a"][0, 0] == pytest.approx(3.0, abs=0.01)
    assert weights["b"][0, 0] == pytest.approx(-2.0, abs=0.01)
    bias = regressor.get_variable_value("linear/linear_model/bias_weights")
    assert bias[0] == pytest.approx(1.0, abs=0.01)
    result = regressor.evaluate(array_input_fn(features, y))
    assert result["average_loss"] < 1e-3
    prediction = next(regressor.predict(array_input_fn(features, y)))["predictions"]
    assert prediction[0] == pytest.approx(float(y[0]), abs=0.05)


def test_dnn_regressor_with_two_label_dimensions(tmp_path):
    features, y = linear_frame()
    labels = np.stack([y, -y], 1)
    regressor = tf_estimator.DNNRegressor(
        [16],
        [fc.numeric_column("a"), fc.numeric_column("b")],
        model_dir=str(tmp_path),
        label_dimension=2,
        optimizer=keras.optimizers.Adam(0.05),
        config=tf_estimator.RunConfig(tf_random_seed=4),
    )
    before = regressor.evaluate(array_input_fn(features, labels))["average_loss"]
    regressor.train(array_input_fn(features, labels, epochs=None), steps=200)
    after = regressor.evaluate(array_input_fn(features, labels))["average_loss"]
    assert after < before / 20
    prediction = next(regressor.predict(array_input_fn(features, labels)))
    assert prediction["predictions"].shape == (2,)
    assert any(n.startswith("adam/") for n in regressor.get_variable_names())


def test_wide_and_deep_regressor_trains_both_parts(tmp_path):
    features, y = linear_frame()
    features = dict(features, c=np.where(features["a"] > 0, "pos", "neg"))
    regressor = tf_estimator.DNNLinearCombinedRegressor(
        model_dir=str(tmp_path),
        linear_feature_columns=[
            fc.categorical_column_with_vocabulary_list("c", ["pos", "neg"])
        ],
        dnn_feature_columns=[fc.numeric_column("a"), fc.numeric_column("b")],
        dnn_hidden_units=[8],
        linear_optimizer="SGD",
        linear_learning_rate=0.05,
        dnn_optimizer=lambda: keras.optimizers.Adam(0.02),
        config=tf_estimator.RunConfig(tf_random_seed=5),
    )
    regressor.train(array_input_fn(features, y, epochs=None), steps=5)
    first = {n: regressor.get_variable_value(n) for n in regressor.get_variable_names()}
    regressor.train(array_input_fn(features, y, epochs=None), steps=5)
    for name in (
        "linear/linear_model/c/weights",
        "dnn/hiddenlayer_0/kernel",
        "dnn/logits/bias",
    ):
        assert not np.array_equal(first[name], regressor.get_variable_value(name)), name
    names = regressor.get_variable_names()
    assert any(n.startswith("linear_optimizer/") for n in names)
    assert any(n.startswith("adam/") for n in names)  # a callable's keeps its name


# ---------------------------------------------------------------- options


def test_weight_column_weights_the_loss(tmp_path):
    features, y = linear_frame(rows=64)
    labels = (y > 1.0).astype(np.int64)
    weights = np.where(labels == 1, 3.0, 1.0).astype(np.float32)
    features = dict(features, w=weights)
    columns = [fc.numeric_column("a"), fc.numeric_column("b")]
    results = {}
    for weight_column in (None, "w"):
        classifier = tf_estimator.LinearClassifier(
            columns,
            model_dir=str(tmp_path / str(weight_column)),
            weight_column=weight_column,
        )
        classifier.train(array_input_fn(features, labels), steps=1)
        results[weight_column] = classifier.evaluate(array_input_fn(features, labels))
    # The weighted label mean counts positives three times.
    positives = labels.mean()
    weighted = 3 * positives / (3 * positives + (1 - positives))
    assert results[None]["label/mean"] == pytest.approx(positives, rel=1e-5)
    assert results["w"]["label/mean"] == pytest.approx(weighted, rel=1e-5)


def test_dnn_options_dropout_batch_norm_activation_and_label_vocabulary(tmp_path):
    train_x, train_y = iris_frame("training")
    names = np.array(["setosa", "versicolor", "virginica"])
    labels = names[train_y.to_numpy()]
    classifier = tf_estimator.DNNClassifier(
        [16, 8],
        [fc.numeric_column(name) for name in IRIS_FEATURES],
        model_dir=str(tmp_path),
        n_classes=3,
        label_vocabulary=list(names),
        dropout=0.1,
        batch_norm=True,
        activation_fn=tf.nn.tanh,
        optimizer="Adam",
        learning_rate=0.01,
        config=tf_estimator.RunConfig(tf_random_seed=6),
    )
    # Batch norm's moving averages (momentum 0.999, as tf.estimator) need a few
    # thousand steps before evaluation, which uses them, catches up with training.
    classifier.train(
        frame_input_fn(train_x, labels, epochs=None, shuffle=True), steps=3000
    )
    result = classifier.evaluate(frame_input_fn(train_x, labels))
    assert result["accuracy"] > 0.8
    moving_mean = classifier.get_variable_value("dnn/batchnorm_0/moving_mean")
    assert not np.allclose(moving_mean, 0.0)  # batch norm statistics were updated
    prediction = next(classifier.predict(frame_input_fn(train_x, labels)))
    assert prediction["classes"][0].decode() in names
    assert [c.decode() for c in prediction["all_classes"]] == list(names)


def test_warm_start_from_another_premade_estimator(tmp_path):
    features, y = linear_frame()
    columns = [fc.numeric_column("a"), fc.numeric_column("b")]
    first = tf_estimator.LinearRegressor(columns, model_dir=str(tmp_path / "first"))
    first.train(array_input_fn(features, y, epochs=None), steps=20)
    second = tf_estimator.LinearRegressor(
        columns,
        model_dir=str(tmp_path / "second"),
        warm_start_from=first.model_dir,
        optimizer="SGD",
        learning_rate=0.0,
    )
    second.train(array_input_fn(features, y), steps=1)
    np.testing.assert_array_equal(
        second.get_variable_value("linear/linear_model/a/weights"),
        first.get_variable_value("linear/linear_model/a/weights"),
    )


def test_numeric_columns_checkpoint_a_slice_each_under_tf_estimator_names(tmp_path):
    features, y = linear_frame()
    features = {"a": np.stack([features["a"], -features["a"]], 1), "b": features["b"]}
    columns = [fc.numeric_column("a", shape=2), fc.numeric_column("b")]
    first = tf_estimator.LinearRegressor(columns, model_dir=str(tmp_path / "first"))
    first.train(array_input_fn(features, y, epochs=None), steps=30)
    names = first.get_variable_names()
    assert "linear/linear_model/numeric_weights" not in names
    a = first.get_variable_value("linear/linear_model/a/weights")
    b = first.get_variable_value("linear/linear_model/b/weights")
    bias = first.get_variable_value("linear/linear_model/bias_weights")
    assert a.shape == (2, 1) and b.shape == (1, 1) and np.all(a != 0)
    # The per-column values are the model: predictions computed from them.
    predicted = [
        p["predictions"][0] for p in first.predict(array_input_fn(features, y))
    ]
    by_hand = features["a"] @ a[:, 0] + features["b"] * b[0, 0] + bias[0]
    np.testing.assert_allclose(predicted, by_hand, rtol=1e-5, atol=1e-5)
    # A new Estimator restores the slices from the checkpoint.
    again = tf_estimator.LinearRegressor(columns, model_dir=first.model_dir)
    restored = [p["predictions"][0] for p in again.predict(array_input_fn(features, y))]
    np.testing.assert_allclose(restored, predicted, rtol=1e-6)
    # Warm-starting one column's slice leaves the other column's rows at zero.
    second = tf_estimator.LinearRegressor(
        columns,
        model_dir=str(tmp_path / "second"),
        warm_start_from=tf_estimator.WarmStartSettings(
            first.model_dir, vars_to_warm_start=".*/a/weights"
        ),
        optimizer="SGD",
        learning_rate=0.0,
    )
    second.train(array_input_fn(features, y), steps=1)
    np.testing.assert_array_equal(
        second.get_variable_value("linear/linear_model/a/weights"), a
    )
    assert second.get_variable_value("linear/linear_model/b/weights")[0, 0] == 0.0


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda c: tf_estimator.DNNClassifier([], c), "hidden_units"),
        (lambda c: tf_estimator.DNNClassifier([8, 0], c), "positive ints"),
        (lambda c: tf_estimator.DNNClassifier([8], c, n_classes=1), "n_classes"),
        (lambda c: tf_estimator.DNNClassifier([8], c, dropout=1.5), "dropout"),
        (lambda c: tf_estimator.LinearClassifier([]), "at least one feature column"),
        (lambda c: tf_estimator.LinearClassifier(c, optimizer="adamm"), "'Adam'"),
        (lambda c: tf_estimator.LinearClassifier(c, optimizer=3), "optimizer must be"),
        (
            lambda c: tf_estimator.LinearRegressor(c, sparse_combiner="max"),
            "sparse_combiner",
        ),
        (lambda c: tf_estimator.DNNLinearCombinedClassifier(), "both are empty"),
        (
            lambda c: tf_estimator.DNNLinearCombinedClassifier(dnn_feature_columns=c),
            "dnn_hidden_units",
        ),
    ],
)
def test_bad_arguments_are_refused_at_construction(make, message):
    with pytest.raises(tf_estimator.EstimatorSpecError, match=message):
        make([fc.numeric_column("a")])


def test_a_bare_categorical_column_in_a_dnn_is_refused():
    with pytest.raises(tf_estimator.EstimatorSpecError, match="indicator_column"):
        tf_estimator.DNNClassifier(
            [8], [fc.categorical_column_with_hash_bucket("city", 10)]
        )


def test_features_that_are_not_a_dict_are_refused(tmp_path):
    classifier = tf_estimator.LinearClassifier(
        [fc.numeric_column("a")], model_dir=str(tmp_path)
    )

    def input_fn():
        return tf.data.Dataset.from_tensor_slices(([[1.0]], [[1]])).batch(1)

    with pytest.raises(tf_estimator.EstimatorSpecError, match="dict of features"):
        classifier.train(input_fn, steps=1)
