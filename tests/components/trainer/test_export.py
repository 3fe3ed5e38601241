"""export_saved_model: a timestamped SavedModel that serves tf.Examples with TF alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from components.trainer import estimator as tf_estimator
from tests.components.trainer.models import (
    FEATURES,
    dnn_model_fn,
    iris_input_fn,
    iris_model_fn,
    linear_input_fn,
)

FEATURE_SPEC = {"x": tf.io.FixedLenFeature([4], tf.float32)}
FLOWERS = [[5.1, 3.3, 1.7, 0.5], [6.9, 3.1, 5.4, 2.1]]


def serialized_examples(rows) -> list[bytes]:
    return [
        tf.train.Example(
            features=tf.train.Features(
                feature={
                    "x": tf.train.Feature(float_list=tf.train.FloatList(value=row))
                }
            )
        ).SerializeToString()
        for row in rows
    ]


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("iris")
    estimator = tf_estimator.Estimator(
        iris_model_fn, str(model_dir), tf_estimator.RunConfig(tf_random_seed=2)
    )
    estimator.train(iris_input_fn("training", repeat=True), steps=60)
    return estimator


@pytest.mark.slow
def test_export_answers_serialized_examples_in_a_new_process(iris, tmp_path):
    receiver = tf_estimator.export.build_parsing_serving_input_receiver_fn(FEATURE_SPEC)
    export_dir = iris.export_saved_model(str(tmp_path / "export"), receiver)
    assert isinstance(export_dir, bytes)
    export_dir = export_dir.decode()
    assert os.path.dirname(export_dir) == str(tmp_path / "export")
    assert os.path.basename(export_dir).isdigit()
    script = textwrap.dedent(
        """
        import json, sys
        import tensorflow as tf
        model = tf.saved_model.load(sys.argv[1])
        examples = tf.constant([bytes.fromhex(h) for h in sys.argv[2:]])
        default = model.signatures["serving_default"](inputs=examples)
        predict = model.signatures["predict"](examples=examples)
        print(json.dumps({
            "signatures": sorted(model.signatures),
            "classes": default["classes"].numpy().astype(str).tolist(),
            "scores": default["scores"].numpy().tolist(),
            "class_ids": predict["class_ids"].numpy().tolist(),
            "modules": sorted(m for m in sys.modules if m.startswith("components")),
        }))
        """
    )
    hexes = [e.hex() for e in serialized_examples(FLOWERS)]
    result = subprocess.run(
        [sys.executable, "-c", script, export_dir, *hexes],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    assert served["signatures"] == ["classification", "predict", "serving_default"]
    assert served["modules"] == []
    assert served["classes"][0] == ["setosa", "versicolor", "virginica"]
    local = list(
        iris.predict(
            lambda: tf.data.Dataset.from_tensor_slices({"x": FLOWERS}).batch(2)
        )
    )
    assert served["class_ids"] == [int(p["class_ids"]) for p in local] == [0, 2]
    np.testing.assert_allclose(
        served["scores"], [p["probabilities"] for p in local], rtol=1e-5
    )


def test_raw_receiver_and_regression_output(tmp_path):
    estimator = tf_estimator.Estimator(
        dnn_model_fn, str(tmp_path), params={"hidden_units": [4]}
    )
    estimator.train(linear_input_fn(repeat=True), steps=3)
    receiver = tf_estimator.export.build_raw_serving_input_receiver_fn(
        {name: tf.TensorSpec([None, 1], tf.float32) for name in FEATURES}
    )
    first = estimator.export_saved_model(str(tmp_path / "export"), receiver).decode()
    second = estimator.export_saved_model(str(tmp_path / "export"), receiver).decode()
    assert first != second
    model = tf.saved_model.load(second)
    inputs = {name: tf.constant([[1.0], [2.0]]) for name in FEATURES}
    out = model.signatures["serving_default"](**inputs)["outputs"].numpy()
    expected = [
        p["y"]
        for p in estimator.predict(
            lambda: tf.data.Dataset.from_tensor_slices(
                {name: [[1.0], [2.0]] for name in FEATURES}
            ).batch(2)
        )
    ]
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_export_needs_a_checkpoint(tmp_path):
    estimator = tf_estimator.Estimator(
        dnn_model_fn, str(tmp_path), params={"hidden_units": [4]}
    )
    receiver = tf_estimator.export.build_parsing_serving_input_receiver_fn({})
    with pytest.raises(tf_estimator.NoCheckpointError):
        estimator.export_saved_model(str(tmp_path / "export"), receiver)
