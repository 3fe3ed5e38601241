"""The transform graph travels with the model: Transform → input_fn → Estimator → export.

An Estimator trained on Transform's output exports a SavedModel whose serving signature
takes raw serialized tf.Examples, applies the transform graph and answers like the
Estimator's own predictions on the transformed rows.
"""

import json
import subprocess
import sys

import pytest

from tests.components.conftest import decode_example, raw_records

pytestmark = pytest.mark.slow

FEATURES = ["fare_xf", "trip_miles_xf", "trip_seconds_xf"]


def _model_fn(features, labels, mode):
    import keras
    import tensorflow as tf

    from components.trainer import estimator as tf_estimator

    inputs = tf.stack(
        [tf.cast(features[name], tf.float32) for name in FEATURES], axis=1
    )
    logits = tf.squeeze(keras.layers.Dense(1, name="logit")(inputs), axis=1)
    probability = tf.sigmoid(logits)
    predictions = {"probability": probability, "row_id": features["row_id"]}
    if mode == tf_estimator.ModeKeys.PREDICT:
        return tf_estimator.EstimatorSpec(
            mode,
            predictions=predictions,
            export_outputs={"predict": tf_estimator.export.PredictOutput(predictions)},
        )
    loss = tf.reduce_mean(
        tf.nn.sigmoid_cross_entropy_with_logits(tf.cast(labels, tf.float32), logits)
    )
    return tf_estimator.EstimatorSpec(
        mode, loss=loss, train_op=keras.optimizers.Adam(0.05), predictions=predictions
    )


def test_exported_model_answers_raw_examples_like_predict(
    taxi_transform, taxi_examples, tmp_path
):
    from components.input_fn import (
        build_parsing_serving_input_receiver_fn,
        make_eval_input_fn,
        make_input_fn,
    )
    from components.trainer import estimator as tf_estimator

    graph, transformed = (
        taxi_transform.transform_graph,
        taxi_transform.transformed_examples,
    )
    estimator = tf_estimator.Estimator(_model_fn, model_dir=str(tmp_path / "model"))
    estimator.train(
        make_input_fn(
            transformed,
            split="train",
            transform_graph=graph,
            label_key="big_tipper",
            batch_size=64,
            shuffle_seed=1,
        ),
        steps=30,
    )
    expected = {}
    for prediction in estimator.predict(
        make_eval_input_fn(
            transformed,
            split="eval",
            transform_graph=graph,
            label_key="big_tipper",
            batch_size=256,
        )
    ):
        expected[int(prediction["row_id"])] = float(prediction["probability"])

    receiver_fn = build_parsing_serving_input_receiver_fn(
        transform_graph=graph, label_keys=["tips"]
    )
    export_dir = estimator.export_saved_model(
        str(tmp_path / "export"), receiver_fn
    ).decode()
    records = raw_records(taxi_examples, "eval")[:50]
    request = tmp_path / "request.json"
    request.write_text(json.dumps([r.hex() for r in records]))
    script = (
        "import json, sys\n"
        "import tensorflow as tf\n"
        "model = tf.saved_model.load(sys.argv[1])\n"
        "records = [bytes.fromhex(h) for h in json.load(open(sys.argv[2]))]\n"
        "serve = model.signatures['serving_default']\n"
        "(name,) = serve.structured_input_signature[1]\n"
        "out = serve(**{name: tf.constant(records)})\n"
        "print(json.dumps({k: v.numpy().tolist() for k, v in out.items()}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, export_dir, str(request)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    served = json.loads(done.stdout.strip().splitlines()[-1])
    row_ids = [decode_example(r)["row_id"][0] for r in records]
    assert [int(i) for i in served["row_id"]] == row_ids
    for row_id, probability in zip(row_ids, served["probability"]):
        assert probability == pytest.approx(expected[row_id], abs=1e-5)
